import Foundation
import Tensors

/// Vector-Jacobian products: each kernel's `backward` maps the gradient of the loss with
/// respect to its output onto gradients with respect to its float inputs, from the operands
/// and output the recorded forward kept. Float32 throughout, as the forward; reductions that
/// the forward does in double (normalisation statistics) are done in double here too.
extension Kernel {
    /// Gradients for the inputs flagged in `wanted` (nil: no gradient flows to that input).
    /// `batchStatistics`: BatchNormalization normalised with the batch's own statistics.
    /// - Throws: `KernelError` for an operator that has no gradient in Basin.
    func backward(_ x: [ONNXValue?], output y: ONNXValue, gradient dy: [Float], wanted: [Bool], opset: Int,
                  batchStatistics: Bool) throws(KernelError) -> [[Float]?] {
        func input(_ i: Int) throws(KernelError) -> ONNXValue {
            guard i < x.count, let v = x[i] else { throw KernelError("input \(i) is missing") }
            return v
        }
        func float(_ i: Int) throws(KernelError) -> Tensor<Float> { try input(i).floatTensor("input \(i)") }
        func want(_ i: Int) -> Bool { i < wanted.count && wanted[i] }
        var result = [[Float]?](repeating: nil, count: x.count)
        switch self {
        case let .conv(w, group):
            let g = try Kernel.convBackward(try float(0), try float(1), dy, w, group: group, wantInput: want(0), wantWeight: want(1),
                                            wantBias: x.count > 2 && want(2))
            result[0] = g.input
            result[1] = g.weight
            if x.count > 2, want(2) { result[2] = g.bias }
        case let .pool(w, max, ceilMode, countIncludePad):
            result[0] = try Kernel.poolBackward(try float(0), dy, w, max: max, ceilMode: ceilMode, countIncludePad: countIncludePad)
        case .globalAveragePool:
            let t = try float(0), size = Swift.max(t.shape[2...].reduce(1, *), 1)
            var dx = [Float](repeating: 0, count: t.count)
            for p in 0..<(t.count / size) { let v = dy[p] / Float(size); for i in 0..<size { dx[p * size + i] = v } }
            result[0] = dx
        case let .gemm(alpha, beta, transA, transB):
            let c = x.count > 2 ? try x[2]?.floatTensor("C") : nil
            let g = try Kernel.gemmBackward(try float(0), try float(1), c, dy, alpha: alpha, beta: beta, transA: transA, transB: transB,
                                            wantA: want(0), wantB: want(1))
            result[0] = g.a; result[1] = g.b
            if x.count > 2 { result[2] = g.c }
        case .matMul:
            let g = try Kernel.matMulBackward(try float(0), try float(1), dy, wantA: want(0), wantB: want(1))
            result[0] = g.a; result[1] = g.b
        case let .binary(op):
            let g = try Kernel.binaryBackward(op, try input(0), try input(1), y, dy)
            result[0] = g.a; result[1] = g.b
        case let .unary(op):
            result[0] = try Kernel.unaryBackward(op, try float(0), try y.floatTensor("the output"), dy)
        case let .softmax(axis, log, legacy):
            result[0] = try Kernel.softmaxBackward(try y.floatTensor("the output"), dy, axis: axis, log: log, legacy: legacy)
        case let .batchNormalization(epsilon):
            let g = try Kernel.batchNormalizationBackward(try float(0), scale: try float(1), mean: try float(3), variance: try float(4),
                                                          dy, epsilon: epsilon, batchStatistics: batchStatistics)
            result[0] = g.input; result[1] = g.scale; result[2] = g.bias
        case let .layerNormalization(axis, epsilon):
            let bias = x.count > 2 ? try x[2]?.floatTensor("B") : nil
            let g = try Kernel.layerNormalizationBackward(try float(0), scale: try float(1), bias: bias, dy, axis: axis, epsilon: epsilon)
            result[0] = g.input; result[1] = g.scale
            if x.count > 2 { result[2] = g.bias }
        case let .reduceMean(axes, _, noop):
            var list = axes ?? []
            if axes == nil, x.count > 1, let given = x[1] { list = try given.ints("axes") }
            result[0] = try Kernel.reduceMeanBackward(try float(0), dy, axes: list, noopWithEmptyAxes: noop)
        case .concat:
            // Each float input replaced by the positions it occupies in the joined index space.
            var iotas: [ONNXValue] = [], offset = 0
            for i in 0..<x.count {
                let t = try float(i)
                iotas.append(try iota(t.shape, from: offset))
                offset += t.count
            }
            let order = try forward(iotas.map { Optional($0) }, opset: opset).ints(ofCount: dy.count)
            let joined = scatter(order, dy, count: offset)
            offset = 0
            for i in 0..<x.count {
                let n = try float(i).count
                result[i] = Array(joined[offset..<(offset + n)])
                offset += n
            }
        case .pad:
            let t = try float(0)
            // Padding positions are filled with index −1: no source, no gradient.
            let order = try Kernel.pad(try iota(t.shape), pads: try input(1).ints("pads"), value: -1,
                                       axes: x.count > 3 ? try x[3]?.ints("axes") : nil).ints(ofCount: dy.count)
            result[0] = scatter(order, dy, count: t.count)
        case .flatten, .reshape, .unsqueeze, .squeeze:
            // The same elements in the same order under another shape.
            result[0] = dy
        case let .transpose(permutation):
            // The inverse permutation applied to the output's gradient.
            let t = try float(0), rank = t.rank, perm = permutation ?? Array((0..<rank).reversed())
            guard perm.sorted() == Array(0..<rank) else { throw KernelError("perm \(perm) is not a permutation of 0..<\(rank)") }
            var inverse = [Int](repeating: 0, count: rank)
            for (i, p) in perm.enumerated() where p >= 0 && p < rank { inverse[p] = i }
            let outShape = perm.map { t.shape[$0] }
            result[0] = try Kernel.transpose(.float(try floatResult(outShape, dy)), permutation: inverse).floatTensor("the gradient").scalars
        case .expand:
            result[0] = try unbroadcast(dy, from: y.shape, to: try float(0).shape)
        case let .gather(axis):
            result[0] = try Kernel.gatherBackward(try float(0).shape, try input(1).intTensor("the indices"), axis: axis, dy)
        case .slice, .cast:
            // Data movement: the forward run on the input's element indices says where each
            // output element came from; the gradient is scattered back (summed where repeated).
            let t = try float(0)
            var operands = x
            operands[0] = try iota(t.shape)
            let moved = try forward(operands, opset: opset)
            result[0] = scatter(try moved.ints(ofCount: dy.count), dy, count: t.count)
        case .constant, .shape, .constantOfShape:
            break
        }
        return result
    }
}

/// An integer tensor of `shape` holding `from, from + 1, …`: the element indices of a tensor.
func iota(_ shape: [Int], from start: Int = 0) throws(KernelError) -> ONNXValue {
    let n = try checkedCount(shape)
    return .int(try makeInt(shape, (0..<n).map { Int64(start + $0) }))
}

/// `out[order[i]] += g[i]` (negative positions: padding, no source).
func scatter(_ order: [Int], _ g: [Float], count: Int) -> [Float] {
    var out = [Float](repeating: 0, count: count)
    for (i, o) in order.enumerated() where o >= 0 && o < count { out[o] += g[i] }
    return out
}

extension ONNXValue {
    /// The element indices an index-moving kernel produced, checked against the gradient's count.
    func ints(ofCount n: Int) throws(KernelError) -> [Int] {
        let t = try intTensor("internal: moved indices")
        guard t.values.count == n else { throw KernelError("internal: \(t.values.count) moved indices for a gradient of \(n) elements") }
        return t.values.map { Int($0) }
    }
}

extension Kernel {
    static func binaryBackward(_ op: BinaryOp, _ a: ONNXValue, _ b: ONNXValue, _ y: ONNXValue,
                               _ dy: [Float]) throws(KernelError) -> (a: [Float]?, b: [Float]?) {
        guard case let .float(x) = a else { return (nil, nil) }
        let out = y.shape
        var bv: [Float], bShape: [Int], bIsFloat = true
        switch b {
        case let .float(t): bv = t.scalars; bShape = t.shape
        case let .int(t): bv = t.values.map { Float($0) }; bShape = t.shape; bIsFloat = false
        }
        let ga: [Float], gb: [Float]
        switch op {
        case .add: ga = dy; gb = dy
        case .sub: ga = dy; gb = mapFloats(dy) { -$0 }
        case .mul:
            let av = try expanded(x.scalars, x.shape, to: out), bx = try expanded(bv, bShape, to: out)
            ga = zipMap(dy, bx) { $0 * $1 }; gb = zipMap(dy, av) { $0 * $1 }
        case .div:
            let av = try expanded(x.scalars, x.shape, to: out), bx = try expanded(bv, bShape, to: out)
            ga = zipMap(dy, bx) { $0 / $1 }
            gb = dy.indices.map { -dy[$0] * av[$0] / (bx[$0] * bx[$0]) }
        case .pow:
            let av = try expanded(x.scalars, x.shape, to: out), bx = try expanded(bv, bShape, to: out)
            let yv = try y.floatTensor("the output").scalars
            ga = dy.indices.map { dy[$0] * bx[$0] * Foundation.pow(av[$0], bx[$0] - 1) }
            gb = dy.indices.map { av[$0] > 0 ? dy[$0] * yv[$0] * Foundation.log(av[$0]) : 0 }
        case .mod: throw KernelError("Mod has no gradient in Basin (it may only act on shape tensors and constants)")
        }
        return (try unbroadcast(ga, from: out, to: x.shape), bIsFloat ? try unbroadcast(gb, from: out, to: bShape) : nil)
    }

    static func unaryBackward(_ op: UnaryOp, _ x: Tensor<Float>, _ y: Tensor<Float>, _ dy: [Float]) throws(KernelError) -> [Float] {
        let xs = x.scalars, ys = y.scalars
        switch op {
        case .relu: return selectPositive(xs, dy)
        case let .leakyRelu(alpha): return zipMap(dy, xs) { $1 >= 0 ? $0 : alpha * $0 }
        case .sigmoid: return zipMap(dy, ys) { $0 * ($1 * (1 - $1)) }
        case .tanh: return zipMap(dy, ys) { $0 * (1 - $1 * $1) }
        case .erf: return zipMap(dy, xs) { $0 * (1.1283791670955126 * Foundation.exp(-$1 * $1)) }
        case .gelu(tanh: false):
            return zipMap(dy, xs) { g, v in g * (0.5 * (1 + Foundation.erf(v * 0.70710678118654752)) + v * Foundation.exp(-0.5 * v * v) * 0.3989422804014327) }
        case .gelu(tanh: true):
            return zipMap(dy, xs) { g, v in
                let c: Float = 0.79788456080286536
                let t = Foundation.tanh(c * (v + 0.044715 * v * v * v))
                return g * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v))
            }
        case .sqrt: return zipMap(dy, ys) { $0 * (0.5 / $1) }
        case .neg: return mapFloats(dy) { -$0 }
        case .identity: return dy
        }
    }

    /// y = softmax: dx = y ⊙ (dy − Σ dy·y); y = log-softmax: dx = dy − exp(y) · Σ dy (sums in double).
    static func softmaxBackward(_ y: Tensor<Float>, _ dy: [Float], axis: Int, log: Bool, legacy: Bool) throws(KernelError) -> [Float] {
        let a = try normalizedAxis(axis, rank: y.rank)
        let outer = y.shape[..<a].reduce(1, *)
        let (length, inner) = legacy ? (y.shape[a...].reduce(1, *), 1) : (y.shape[a], y.shape[(a + 1)...].reduce(1, *))
        guard dy.count == y.count else { throw KernelError("internal: a softmax gradient of \(dy.count) elements for output \(y.shape)") }
        var dx = dy
        y.withUnsafeBufferPointer { py in
            dy.withUnsafeBufferPointer { pdy in
                dx.withUnsafeMutableBufferPointer { pdx in
                    guard let Y = py.baseAddress, let DY = pdy.baseAddress, let DX = pdx.baseAddress else { return }
                    for o in 0..<outer {
                        for i in 0..<inner {
                            let base = o * length * inner + i
                            let ys = Y + base, g = DY + base, out = DX + base
                            var s: Double = 0
                            if log {
                                for k in 0..<length { s += Double(g[k * inner]) }
                            } else {
                                for k in 0..<length { s += Double(g[k * inner] * ys[k * inner]) }
                            }
                            let sf = Float(s)
                            if log {
                                for k in 0..<length { out[k * inner] = g[k * inner] - Foundation.exp(ys[k * inner]) * sf }
                            } else {
                                for k in 0..<length { out[k * inner] = ys[k * inner] * (g[k * inner] - sf) }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    static func reduceMeanBackward(_ x: Tensor<Float>, _ dy: [Float], axes: [Int], noopWithEmptyAxes: Bool) throws(KernelError) -> [Float] {
        if axes.isEmpty && noopWithEmptyAxes { return dy }
        var reduced = Set<Int>()
        for axis in axes { reduced.insert(try normalizedAxis(axis, rank: x.rank, "ReduceMean axis")) }
        if axes.isEmpty { reduced = Set(0..<x.rank) }
        let outFull = x.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        let per = Float(x.count / Swift.max(outFull.reduce(1, *), 1))
        let order = try gatherIndices(x.shape, offset: 0, strides: broadcastStrides(outFull, to: x.shape))
        return order.map { dy[$0] / per }
    }
}
