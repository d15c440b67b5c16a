import CheckpointFormat
import Tensors

/// An integer tensor: the shape tensors, indices and axes an exported graph computes with
/// (ONNX int64; every integer and bool type is held as `Int64`).
public struct IntTensor: Sendable, Equatable {
    public let shape: [Int]
    public internal(set) var values: [Int64]
}

/// A value flowing along a graph edge: float32 activations and weights, or integer shape data.
/// Floating-point tensors are evaluated in float32, as ONNX Runtime does on CPU.
public enum ONNXValue: Sendable, Equatable {
    case float(Tensor<Float>)
    case int(IntTensor)

    public var shape: [Int] {
        switch self {
        case let .float(t): return t.shape
        case let .int(t): return t.shape
        }
    }

    var count: Int {
        switch self {
        case let .float(t): return t.count
        case let .int(t): return t.values.count
        }
    }

    /// The array's values as a graph value: floating point → float32, integers and bool → Int64.
    init(_ array: NDArray) {
        if array.dtype.isFloatingPoint {
            self = .float(array.floatTensor())
        } else {
            self = .int(IntTensor(shape: array.shape, values: Self.integers(array)))
        }
    }

    /// The integer elements exactly (a `Double` round trip would lose int64 values past 2⁵³).
    static func integers(_ array: NDArray) -> [Int64] {
        let n = array.count
        return array.bytes.withUnsafeBytes { raw -> [Int64] in
            func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> Int64 {
                Int64(truncatingIfNeeded: T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)))
            }
            switch array.dtype {
            case .int64: return (0..<n).map { load(Int64.self, $0) }
            case .uint64: return (0..<n).map { load(UInt64.self, $0) }
            case .int32: return (0..<n).map { load(Int32.self, $0) }
            case .uint32: return (0..<n).map { load(UInt32.self, $0) }
            case .int16: return (0..<n).map { load(Int16.self, $0) }
            case .uint16: return (0..<n).map { load(UInt16.self, $0) }
            case .int8: return (0..<n).map { Int64(Int8(bitPattern: raw[$0])) }
            case .uint8: return (0..<n).map { Int64(raw[$0]) }
            case .bool: return (0..<n).map { raw[$0] == 0 ? 0 : 1 }
            case .float16, .float32, .float64: return array.doubles().map { Int64(exactly: $0.rounded(.towardZero)) ?? 0 }
            }
        }
    }
}

/// A kernel's refusal of its operands; the evaluator names the node and the file.
struct KernelError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// The largest number of elements one intermediate tensor may hold (2²⁸ floats = 1 GiB):
/// graphs compute shapes (Reshape, Expand, Pad, ConstantOfShape), so a hostile file could
/// otherwise ask for any allocation.
let maxElementsPerValue = 1 << 28

/// The float32 elements all live values of one evaluation may hold together: half of the memory
/// this process may use (`MemoryLimit`). With `maxElementsPerValue` per value, an evaluation
/// stops at most one value past it, so a graph that expands a tiny input into many large live
/// values is refused naming the node instead of exhausting memory.
let liveElementBudget = Int(min(MemoryLimit.bytes / 8, UInt64(Int.max)))

/// The elements held by an evaluation's live values (constants not counted), checked against
/// `liveElementBudget` as values are added.
struct LiveValues {
    let limit: Int
    private(set) var elements = 0

    init(limit: Int) { self.limit = limit }

    /// Counts a new value; throws when the live values would exceed the budget.
    mutating func add(_ value: ONNXValue) throws(KernelError) {
        elements += value.count
        guard elements <= limit else {
            throw KernelError("the graph's live values would hold \(elements) elements (\(String(format: "%.1f GB", Double(elements) * 4 / 1e9))), "
                              + "more than the \(limit) (\(String(format: "%.1f GB", Double(limit) * 4 / 1e9))) Basin allows "
                              + "(half of this process's \(MemoryLimit.description))")
        }
    }

    mutating func remove(_ value: ONNXValue?) { if let value { elements -= value.count } }
}

/// The element count of `shape`, checked for negative dimensions, overflow and the limit.
func checkedCount(_ shape: [Int]) throws(KernelError) -> Int {
    // Dimensions are bounded too: an empty tensor of shape [0, 2⁶²] holds nothing, but window
    // and padding arithmetic on its second dimension would overflow.
    if let d = shape.first(where: { $0 > maxElementsPerValue }) {
        throw KernelError("shape \(shape) has a dimension of \(d), more than the \(maxElementsPerValue) Basin allows")
    }
    let n: Int
    do { n = try ElementCount.of(shape) } catch { throw KernelError("\(error)") }
    guard n <= maxElementsPerValue else {
        throw KernelError("a result of shape \(shape) would hold \(n) elements, more than the \(maxElementsPerValue) Basin allows one value")
    }
    return n
}

/// A float tensor of `shape` filled with `value`, after `checkedCount`.
func makeFloat(_ shape: [Int], repeating value: Float = 0) throws(KernelError) -> Tensor<Float> {
    _ = try checkedCount(shape)
    return Tensor(shape: shape, repeating: value)
}

/// An integer tensor of `shape` and `values` (whose count the caller computed from the shape).
func makeInt(_ shape: [Int], _ values: [Int64]) throws(KernelError) -> IntTensor {
    guard try checkedCount(shape) == values.count else { throw KernelError("internal: \(values.count) values for shape \(shape)") }
    return IntTensor(shape: shape, values: values)
}

extension ONNXValue {
    func floatTensor(_ what: String) throws(KernelError) -> Tensor<Float> {
        guard case let .float(t) = self else { throw KernelError("\(what) must be a floating-point tensor, got an integer tensor of shape \(shape)") }
        return t
    }

    func intTensor(_ what: String) throws(KernelError) -> IntTensor {
        guard case let .int(t) = self else { throw KernelError("\(what) must be an integer tensor, got a float tensor of shape \(shape)") }
        return t
    }

    /// The values of a rank-0 or rank-1 integer tensor as `Int`s (axes, shapes, pads, indices).
    func ints(_ what: String) throws(KernelError) -> [Int] {
        let t = try intTensor(what)
        guard t.shape.count <= 1 else { throw KernelError("\(what) must be a scalar or a vector, got shape \(t.shape)") }
        return t.values.map { Int($0) }
    }
}

/// `axis` in `-rank..<rank` as a non-negative index.
func normalizedAxis(_ axis: Int, rank: Int, _ what: String = "axis") throws(KernelError) -> Int {
    guard axis >= -rank, axis < rank else { throw KernelError("\(what) \(axis) is outside -\(rank)..<\(rank)") }
    return axis < 0 ? axis + rank : axis
}
