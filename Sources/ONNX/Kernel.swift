import CheckpointFormat

/// A node's operator with its attributes read, typed and checked once, at load: evaluation
/// never parses attributes, and a bad attribute is refused before anything runs. Each case's
/// forward is a pure function of its input tensors (`Kernel.forward`).
enum Kernel: Sendable {
    case conv(WindowAttributes, group: Int)
    case pool(WindowAttributes, max: Bool, ceilMode: Bool, countIncludePad: Bool)
    case globalAveragePool
    case gemm(alpha: Float, beta: Float, transA: Bool, transB: Bool)
    case matMul
    case binary(BinaryOp)
    case unary(UnaryOp)
    /// `legacy`: opsets before 13 coerce the input to 2-D at `axis` and normalise the rows.
    case softmax(axis: Int, log: Bool, legacy: Bool)
    case batchNormalization(epsilon: Float)
    case layerNormalization(axis: Int, epsilon: Float)
    case flatten(axis: Int)
    case reshape(allowZero: Bool)
    case transpose(permutation: [Int]?)
    case concat(axis: Int)
    case pad(value: Float)
    /// `axes` from the attribute (opsets before 18) or nil (then from the second input).
    case reduceMean(axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool)
    case constant(ONNXValue)
    case shape(start: Int, end: Int?)
    case gather(axis: Int)
    case unsqueeze(axes: [Int]?)
    case squeeze(axes: [Int]?)
    case slice
    case cast(toFloat: Bool, toBool: Bool)
    case expand
    case constantOfShape(ONNXValue)

    /// `mod`: `fmod` false takes the divisor's sign (Python's %), true C's `fmod` (ONNX Mod).
    enum BinaryOp: Sendable, Equatable { case add, sub, mul, div, pow, mod(fmod: Bool) }
    enum UnaryOp: Sendable { case relu, leakyRelu(alpha: Float), sigmoid, tanh, erf, gelu(tanh: Bool), sqrt, neg, identity }

    /// Kernel shape, strides, pads and dilations of a 2-D convolution or pooling window.
    struct WindowAttributes: Sendable, Equatable {
        var kernelShape: [Int]?
        var strides: [Int]?
        /// `[top, left, bottom, right]` (ONNX order: all begins, then all ends).
        var pads: [Int]?
        var dilations: [Int]?
        /// NOTSET, VALID, SAME_UPPER or SAME_LOWER.
        var autoPad: String
    }

    /// The kernel for `node`, its attributes checked.
    /// - Throws: `ONNXError.invalidNode` naming the node for a missing, mistyped or unsupported attribute.
    static func prepare(_ node: ONNXNode, opset: Int, path: String) throws(ONNXError) -> Kernel {
        let a = Attributes(node: node, path: path)
        switch node.op {
        case .conv:
            let group = try a.int("group", default: 1)
            guard group >= 1 else { throw a.fail("group \(group) must be at least 1") }
            return .conv(try window(a, kernelRequired: false), group: group)
        case .maxPool, .averagePool:
            if node.op == .maxPool, try a.int("storage_order", default: 0) != 0 { throw a.fail("storage_order 1 (column-major indices) is not supported") }
            if node.op == .averagePool, a.has("dilations"), try a.ints("dilations")?.contains(where: { $0 != 1 }) == true {
                throw a.fail("AveragePool dilations other than 1 are not supported")
            }
            return .pool(try window(a, kernelRequired: true), max: node.op == .maxPool,
                         ceilMode: try a.int("ceil_mode", default: 0) != 0,
                         countIncludePad: try a.int("count_include_pad", default: 0) != 0)
        case .globalAveragePool: return .globalAveragePool
        case .gemm:
            return .gemm(alpha: try a.float("alpha", default: 1), beta: try a.float("beta", default: 1),
                         transA: try a.int("transA", default: 0) != 0, transB: try a.int("transB", default: 0) != 0)
        case .matMul: return .matMul
        case .add: return .binary(.add)
        case .sub: return .binary(.sub)
        case .mul: return .binary(.mul)
        case .div: return .binary(.div)
        case .pow: return .binary(.pow)
        case .mod: return .binary(.mod(fmod: try a.int("fmod", default: 0) != 0))
        case .relu: return .unary(.relu)
        case .leakyRelu: return .unary(.leakyRelu(alpha: try a.float("alpha", default: 0.01)))
        case .sigmoid: return .unary(.sigmoid)
        case .tanh: return .unary(.tanh)
        case .erf: return .unary(.erf)
        case .sqrt: return .unary(.sqrt)
        case .neg: return .unary(.neg)
        case .identity, .dropout:
            if node.op == .dropout, node.inputs.count >= 3, !node.inputs[2].isEmpty {
                throw a.fail("Dropout with a training_mode input is not supported (inference only)")
            }
            return .unary(.identity)
        case .gelu:
            switch try a.string("approximate", default: "none") {
            case "none": return .unary(.gelu(tanh: false))
            case "tanh": return .unary(.gelu(tanh: true))
            case let other: throw a.fail("approximate '\(other)' is neither 'none' nor 'tanh'")
            }
        case .softmax, .logSoftmax:
            return .softmax(axis: try a.int("axis", default: opset < 13 ? 1 : -1), log: node.op == .logSoftmax, legacy: opset < 13)
        case .batchNormalization:
            if try a.int("training_mode", default: 0) != 0 { throw a.fail("training_mode 1 is not supported (export the model in eval mode)") }
            return .batchNormalization(epsilon: try a.float("epsilon", default: 1e-5))
        case .layerNormalization:
            return .layerNormalization(axis: try a.int("axis", default: -1), epsilon: try a.float("epsilon", default: 1e-5))
        case .flatten: return .flatten(axis: try a.int("axis", default: 1))
        case .reshape: return .reshape(allowZero: try a.int("allowzero", default: 0) != 0)
        case .transpose: return .transpose(permutation: try a.ints("perm"))
        case .concat:
            guard a.has("axis") else { throw a.fail("attribute 'axis' is required") }
            return .concat(axis: try a.int("axis", default: 0))
        case .pad:
            let mode = try a.string("mode", default: "constant")
            guard mode == "constant" else { throw a.fail("pad mode '\(mode)' is not supported (only 'constant')") }
            if a.has("pads") { throw a.fail("pads as an attribute (opset < 11) is not supported") }
            return .pad(value: 0)
        case .reduceMean:
            return .reduceMean(axes: try a.ints("axes"), keepDims: try a.int("keepdims", default: 1) != 0,
                               noopWithEmptyAxes: try a.int("noop_with_empty_axes", default: 0) != 0)
        case .constant: return .constant(try constantValue(a))
        case .shape:
            let end: Int? = a.has("end") ? try a.int("end", default: 0) : nil
            return .shape(start: try a.int("start", default: 0), end: end)
        case .gather: return .gather(axis: try a.int("axis", default: 0))
        case .unsqueeze: return .unsqueeze(axes: try a.ints("axes"))
        case .squeeze: return .squeeze(axes: try a.ints("axes"))
        case .slice: return .slice
        case .cast:
            let to = try a.int("to", default: 0)
            switch to {
            case 1, 10, 11: return .cast(toFloat: true, toBool: false)
            case 9: return .cast(toFloat: false, toBool: true)
            case 2, 3, 4, 5, 6, 7, 12, 13: return .cast(toFloat: false, toBool: false)
            default: throw a.fail("Cast to element type \(to) is not supported")
            }
        case .expand: return .expand
        case .constantOfShape:
            guard let t = try a.tensor("value") else { return .constantOfShape(.float(.init(shape: [1], repeating: 0))) }
            guard t.count == 1 else { throw a.fail("ConstantOfShape value must hold one element, it holds \(t.count)") }
            return .constantOfShape(ONNXValue(t))
        }
    }

    private static func window(_ a: Attributes, kernelRequired: Bool) throws(ONNXError) -> WindowAttributes {
        let w = WindowAttributes(kernelShape: try a.ints("kernel_shape"), strides: try a.ints("strides"), pads: try a.ints("pads"),
                                 dilations: try a.ints("dilations"), autoPad: try a.string("auto_pad", default: "NOTSET"))
        if kernelRequired, w.kernelShape == nil { throw a.fail("attribute 'kernel_shape' is required") }
        guard ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"].contains(w.autoPad) else { throw a.fail("auto_pad '\(w.autoPad)' is not an ONNX value") }
        for (name, values, minimum) in [("kernel_shape", w.kernelShape, 1), ("strides", w.strides, 1), ("dilations", w.dilations, 1), ("pads", w.pads, 0)] {
            guard let values else { continue }
            guard values.count == (name == "pads" ? 4 : 2) else {
                throw a.fail("\(name) \(values) has \(values.count) values; Basin evaluates 2-D windows (\(name == "pads" ? 4 : 2) values)")
            }
            // Bounded so that window arithmetic (k·d, in + pads) cannot overflow.
            guard values.allSatisfy({ $0 >= minimum && $0 <= 1 << 20 }) else { throw a.fail("\(name) \(values) must lie in \(minimum)…\(1 << 20)") }
        }
        return w
    }

    private static func constantValue(_ a: Attributes) throws(ONNXError) -> ONNXValue {
        if let t = try a.tensor("value") { return ONNXValue(t) }
        if a.has("value_float") { return .float(.init(shape: [], repeating: try a.float("value_float", default: 0))) }
        if a.has("value_int") { return .int(IntTensor(shape: [], values: [Int64(try a.int("value_int", default: 0))])) }
        if let fs = try a.floats("value_floats") { return .float(.init(vector: fs)) }
        if let vs = try a.ints("value_ints") { return .int(IntTensor(shape: [vs.count], values: vs.map { Int64($0) })) }
        throw a.fail("Constant needs a value, value_float(s) or value_int(s) attribute (sparse and string constants are not read)")
    }
}

/// Typed access to a node's attributes; a wrong type is an `ONNXError.invalidNode`.
struct Attributes {
    let node: ONNXNode
    let path: String

    func fail(_ reason: String) -> ONNXError { .invalidNode(path: path, node: node.name, reason: reason) }
    func has(_ name: String) -> Bool { node.attributes[name] != nil }

    func int(_ name: String, default value: Int) throws(ONNXError) -> Int {
        switch node.attributes[name] {
        case nil: return value
        case let .int(v)?: return v
        default: throw fail("attribute '\(name)' must be an integer")
        }
    }
    func float(_ name: String, default value: Float) throws(ONNXError) -> Float {
        switch node.attributes[name] {
        case nil: return value
        case let .float(v)?: return v
        default: throw fail("attribute '\(name)' must be a float")
        }
    }
    func string(_ name: String, default value: String) throws(ONNXError) -> String {
        switch node.attributes[name] {
        case nil: return value
        case let .string(v)?: return v
        default: throw fail("attribute '\(name)' must be a string")
        }
    }
    func ints(_ name: String) throws(ONNXError) -> [Int]? {
        switch node.attributes[name] {
        case nil: return nil
        case let .ints(v)?: return v
        default: throw fail("attribute '\(name)' must be a list of integers")
        }
    }
    func floats(_ name: String) throws(ONNXError) -> [Float]? {
        switch node.attributes[name] {
        case nil: return nil
        case let .floats(v)?: return v
        default: throw fail("attribute '\(name)' must be a list of floats")
        }
    }
    func tensor(_ name: String) throws(ONNXError) -> NDArray? {
        switch node.attributes[name] {
        case nil: return nil
        case let .tensor(v)?: return v
        default: throw fail("attribute '\(name)' must be a tensor")
        }
    }
}
