import Foundation
import Tensors

/// A float tensor from a shape and scalars computed for it.
func floatResult(_ shape: [Int], _ scalars: [Float]) throws(KernelError) -> Tensor<Float> {
    do { return try Tensor(shape: shape, scalars: scalars) } catch { throw KernelError("internal: \(error)") }
}

/// NumPy broadcasting of two shapes: right-aligned, each pair of dimensions equal or one of them 1.
func broadcastShape(_ a: [Int], _ b: [Int]) throws(KernelError) -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        guard da == db || da == 1 || db == 1 else { throw KernelError("shapes \(a) and \(b) do not broadcast") }
        out[i] = da == 1 ? db : da
    }
    _ = try checkedCount(out)
    return out
}

/// Row-major strides of `shape` read as if broadcast to `out` (0 along broadcast dimensions).
func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
    var strides = [Int](repeating: 0, count: out.count)
    var step = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let o = i + out.count - shape.count
        strides[o] = shape[i] == 1 ? 0 : step
        step *= shape[i]
    }
    return strides
}

/// `f(a, b)` elementwise with NumPy broadcasting; the result has the broadcast shape.
/// Same shapes and scalar operands take direct loops; otherwise an odometer walks the outer
/// dimensions and the innermost one runs with fixed strides.
func broadcasting<T>(_ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int], _ f: (T, T) -> T) throws(KernelError) -> (shape: [Int], values: [T]) {
    if aShape == bShape { return (aShape, zip(a, b).map(f)) }
    let out = try broadcastShape(aShape, bShape)
    if b.count == 1, out == aShape { let y = b[0]; return (out, a.map { f($0, y) }) }
    if a.count == 1, out == bShape { let x = a[0]; return (out, b.map { f(x, $0) }) }
    let n = try checkedCount(out)
    guard n > 0 else { return (out, []) }
    let sa = broadcastStrides(aShape, to: out), sb = broadcastStrides(bShape, to: out)
    let rank = out.count, inner = out[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1]
    var result: [T] = []
    result.reserveCapacity(n)
    var index = [Int](repeating: 0, count: rank - 1)
    var offA = 0, offB = 0
    while true {
        for k in 0..<inner { result.append(f(a[offA + k * ia], b[offB + k * ib])) }
        var d = rank - 2
        while d >= 0 {
            index[d] += 1; offA += sa[d]; offB += sb[d]
            if index[d] < out[d] { break }
            offA -= sa[d] * out[d]; offB -= sb[d] * out[d]; index[d] = 0
            d -= 1
        }
        if d < 0 { break }
    }
    return (out, result)
}

/// a + b for arrays of one shape (`VectorKernels.add`: vectorised, on the OpenMP team, the same
/// bits as `a[i] + b[i]`) — a residual network's skip connections.
func sameShapeSum(_ a: [Float], _ b: [Float]) -> [Float] {
    let n = min(a.count, b.count)
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            [Float](unsafeUninitializedCapacity: n) { out, initialized in
                guard let x = pa.baseAddress, let y = pb.baseAddress, let o = out.baseAddress else {
                    initialized = 0
                    return
                }
                VectorKernels.add(count: n, x, y, into: o)
                initialized = n
            }
        }
    }
}

/// sum[i] += g[i] (the same bits as the Swift loop: one rounded addition per element) through
/// `VectorKernels.add`: a value's gradient gathered from its consumers.
func addInPlace(_ sum: inout [Float], _ g: [Float]) {
    let n = min(sum.count, g.count)
    sum.withUnsafeMutableBufferPointer { ps in
        g.withUnsafeBufferPointer { pg in
            guard let s = ps.baseAddress, let x = pg.baseAddress else { return }
            VectorKernels.add(count: n, UnsafePointer(s), x, into: s)
        }
    }
}

extension Kernel {
    static func binary(_ op: BinaryOp, _ a: ONNXValue, _ b: ONNXValue) throws(KernelError) -> ONNXValue {
        switch (a, b) {
        case let (.float(x), .float(y)):
            let r: (shape: [Int], values: [Float])
            switch op {
            case .add where x.shape == y.shape: r = (x.shape, sameShapeSum(x.scalars, y.scalars))
            case .add: r = try broadcastFloats(x.scalars, x.shape, y.scalars, y.shape) { $0 + $1 }
            case .sub: r = try broadcastFloats(x.scalars, x.shape, y.scalars, y.shape) { $0 - $1 }
            case .mul: r = try broadcastFloats(x.scalars, x.shape, y.scalars, y.shape) { $0 * $1 }
            case .div: r = try broadcastFloats(x.scalars, x.shape, y.scalars, y.shape) { $0 / $1 }
            case .pow: r = try broadcastFloats(x.scalars, x.shape, y.scalars, y.shape) { Foundation.pow($0, $1) }
            case .mod(fmod: true): r = try broadcastFloats(x.scalars, x.shape, y.scalars, y.shape) { Foundation.fmod($0, $1) }
            case .mod(fmod: false): throw KernelError("Mod of floating-point tensors needs fmod=1")
            }
            return .float(try floatResult(r.shape, r.values))
        case let (.float(x), .int(y)) where op == .pow:
            let r = try broadcasting(x.scalars, x.shape, y.values.map { Float($0) }, y.shape) { Foundation.pow($0, $1) }
            return .float(try floatResult(r.shape, r.values))
        case let (.int(x), .int(y)):
            if op == .div || op == .mod(fmod: true) || op == .mod(fmod: false), y.values.contains(0) {
                throw KernelError("integer division by zero")
            }
            let f: (Int64, Int64) -> Int64
            switch op {
            case .add: f = { $0 &+ $1 }
            case .sub: f = { $0 &- $1 }
            case .mul: f = { $0 &* $1 }
            case .div: f = { $0 == .min && $1 == -1 ? .min : $0 / $1 }
            case .pow: throw KernelError("integer Pow is not supported")
            case .mod(fmod: true): f = { $1 == -1 ? 0 : $0 % $1 }
            case .mod(fmod: false): f = { a, b in let r = b == -1 ? 0 : a % b; return r != 0 && (r < 0) != (b < 0) ? r + b : r }
            }
            let r = try broadcasting(x.values, x.shape, y.values, y.shape, f)
            return .int(try makeInt(r.shape, r.values))
        default:
            throw KernelError("operands of different element types (float and integer)")
        }
    }

    static func unary(_ op: UnaryOp, _ x: ONNXValue) throws(KernelError) -> ONNXValue {
        if case .identity = op { return x }
        let t = try x.floatTensor("the input")
        let xs = t.scalars, y: [Float]
        switch op {
        case .relu: y = selectPositive(xs, xs)
        case let .leakyRelu(alpha): y = mapFloats(xs) { $0 >= 0 ? $0 : alpha * $0 }
        case .sigmoid: y = mapFloats(xs) { 1 / (1 + Foundation.exp(-$0)) }
        case .tanh: y = mapFloats(xs) { Foundation.tanh($0) }
        case .erf: y = mapFloats(xs) { Foundation.erf($0) }
        case .gelu(tanh: false): y = mapFloats(xs) { 0.5 * $0 * (1 + Foundation.erf($0 * 0.70710678118654752)) }
        case .gelu(tanh: true): y = mapFloats(xs) { 0.5 * $0 * (1 + Foundation.tanh(0.79788456080286536 * ($0 + 0.044715 * $0 * $0 * $0))) }
        case .sqrt: y = mapFloats(xs) { $0.squareRoot() }
        case .neg: y = mapFloats(xs) { -$0 }
        case .identity: y = xs
        }
        return .float(try floatResult(t.shape, y))
    }
}
