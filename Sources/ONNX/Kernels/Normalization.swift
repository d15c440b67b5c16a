import Foundation
import Tensors

extension Kernel {
    /// Softmax or log-softmax along `axis`, the maximum subtracted first so `exp` cannot
    /// overflow; sums in double. `legacy` (opset < 13): over all dimensions from `axis` on.
    static func softmax(_ x: Tensor<Float>, axis: Int, log: Bool, legacy: Bool) throws(KernelError) -> Tensor<Float> {
        let a = try normalizedAxis(axis, rank: x.rank)
        let outer = x.shape[..<a].reduce(1, *)
        let (length, inner) = legacy ? (x.shape[a...].reduce(1, *), 1) : (x.shape[a], x.shape[(a + 1)...].reduce(1, *))
        var y = x.scalars
        y.withUnsafeMutableBufferPointer { p in
            guard let Y = p.baseAddress else { return }
            for o in 0..<outer {
                for i in 0..<inner {
                    let line = Y + o * length * inner + i
                    var m = -Float.infinity
                    for k in 0..<length { m = max(m, line[k * inner]) }
                    var sum: Double = 0
                    if log {
                        for k in 0..<length { sum += Double(Foundation.exp(line[k * inner] - m)) }
                        let logSum = Float(Foundation.log(sum))
                        for k in 0..<length { line[k * inner] = line[k * inner] - m - logSum }
                    } else {
                        // Each exponential computed once, kept in place, then scaled.
                        for k in 0..<length { let e = Foundation.exp(line[k * inner] - m); line[k * inner] = e; sum += Double(e) }
                        let inv = Float(1 / sum)
                        for k in 0..<length { line[k * inner] *= inv }
                    }
                }
            }
        }
        return try floatResult(x.shape, y)
    }

    /// Inference batch normalisation of x `[N, C, …]` with running statistics:
    /// y = (x − mean_c) · scale_c / √(var_c + ε) + bias_c.
    static func batchNormalization(_ x: Tensor<Float>, scale: Tensor<Float>, bias: Tensor<Float>, mean: Tensor<Float>,
                                   variance: Tensor<Float>, epsilon: Float) throws(KernelError) -> Tensor<Float> {
        guard x.rank >= 2 else { throw KernelError("BatchNormalization needs [N, C, …], got \(x.shape)") }
        let c = x.shape[1]
        for (name, t) in [("scale", scale), ("B", bias), ("input_mean", mean), ("input_var", variance)] where t.shape != [c] {
            throw KernelError("BatchNormalization \(name) of shape \(t.shape) does not match \(c) channels")
        }
        let inner = x.shape[2...].reduce(1, *), outer = x.shape[0]
        // y = x·k + shift per channel; k and shift first, then the channels split over the
        // OpenMP team (each element computed alone: the same bits on any thread count).
        let k = (0..<c).map { scale.scalars[$0] / (variance.scalars[$0] + epsilon).squareRoot() }
        let shift = (0..<c).map { bias.scalars[$0] - mean.scalars[$0] * k[$0] }
        // y is written from x in the same pass (no copy of x to scale in place).
        let n = x.count
        let y = x.withUnsafeBufferPointer { px in
            k.withUnsafeBufferPointer { pk in
                shift.withUnsafeBufferPointer { ps in
                    [Float](unsafeUninitializedCapacity: n) { py, initialized in
                        guard let X = px.baseAddress, let Y = py.baseAddress, let K = pk.baseAddress, let S = ps.baseAddress else {
                            initialized = 0
                            return
                        }
                        OpenMPTeam.forEachPart(count: c, threads: OpenMPTeam.threads(forElements: n), alignment: 1) { channels in
                            Self.affineChannels(channels, X, Y, K, S, channels: c, inner: inner, outer: outer)
                        }
                        initialized = n
                    }
                }
            }
        }
        return try floatResult(x.shape, y)
    }

    /// y = x·k[ch] + shift[ch] over the channels in `range` of `[outer, channels, inner]`.
    private static func affineChannels(_ range: Range<Int>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ k: UnsafePointer<Float>,
                                       _ shift: UnsafePointer<Float>, channels c: Int, inner: Int, outer: Int) {
        for ch in range {
            VectorKernels.StridedRows(start: x + ch * inner, rows: outer, stride: c * inner, length: inner).affine(k[ch], shift[ch], into: y + ch * inner)
        }
    }

    /// Layer normalisation over the dimensions from `axis` on (mean and variance in double):
    /// y = (x − μ) / √(σ² + ε) · scale + bias, scale and bias broadcast to those dimensions.
    static func layerNormalization(_ x: Tensor<Float>, scale: Tensor<Float>, bias: Tensor<Float>?, axis: Int,
                                   epsilon: Float) throws(KernelError) -> Tensor<Float> {
        let a = try normalizedAxis(axis, rank: x.rank)
        let normalized = Array(x.shape[a...]), size = normalized.reduce(1, *), rows = x.shape[..<a].reduce(1, *)
        func expanded(_ t: Tensor<Float>, _ name: String) throws(KernelError) -> [Float] {
            guard try broadcastShape(t.shape, normalized) == normalized else {
                throw KernelError("LayerNormalization \(name) of shape \(t.shape) does not broadcast to \(normalized)")
            }
            return try ONNX.expanded(t.scalars, t.shape, to: normalized)
        }
        let s = try expanded(scale, "Scale"), b = try bias.map { (t: Tensor<Float>) throws(KernelError) in try expanded(t, "B") }
        var y = x.scalars
        for r in 0..<rows where size > 0 {
            let base = r * size
            let (mean, inv) = rowMoments(y, base: base, size: size, epsilon: epsilon)
            for i in 0..<size {
                let v = Float((Double(y[base + i]) - mean) * inv) * s[i]
                y[base + i] = b.map { v + $0[i] } ?? v
            }
        }
        return try floatResult(x.shape, y)
    }

    /// The mean over `axes` (all axes when empty, unless `noopWithEmptyAxes`), in double.
    static func reduceMean(_ x: Tensor<Float>, axes: [Int], keepDims: Bool, noopWithEmptyAxes: Bool) throws(KernelError) -> Tensor<Float> {
        if axes.isEmpty && noopWithEmptyAxes { return x }
        var reduced = Set<Int>()
        for axis in axes { reduced.insert(try normalizedAxis(axis, rank: x.rank, "ReduceMean axis")) }
        if axes.isEmpty { reduced = Set(0..<x.rank) }
        let outFull = x.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        let n = outFull.reduce(1, *)
        let strides = broadcastStrides(outFull, to: x.shape)
        var sums = [Double](repeating: 0, count: n)
        var index = [Int](repeating: 0, count: x.rank)
        for v in x.scalars {
            var o = 0
            for d in 0..<x.rank { o += index[d] * strides[d] }
            sums[o] += Double(v)
            var d = x.rank - 1
            while d >= 0 { index[d] += 1; if index[d] < x.shape[d] { break }; index[d] = 0; d -= 1 }
        }
        let per = Double(x.count / Swift.max(n, 1))
        let shape = keepDims ? outFull : x.shape.enumerated().filter { !reduced.contains($0.offset) }.map(\.element)
        return try floatResult(shape, sums.map { Float(per > 0 ? $0 / per : .nan) })
    }
}

/// Mean and inverse standard deviation 1/√(var + ε) of `values[base ..< base + size]`, in
/// float64 (two passes: the mean first, so the variance does not cancel). Layer
/// normalisation's forward, backward and tangent all normalise with these.
func rowMoments(_ values: [Float], base: Int, size: Int, epsilon: Float) -> (mean: Double, inverseStd: Double) {
    var mean: Double = 0
    for i in 0..<size { mean += Double(values[base + i]) }
    mean /= Double(size)
    var variance: Double = 0
    for i in 0..<size { let d = Double(values[base + i]) - mean; variance += d * d }
    variance /= Double(size)
    return (mean, 1 / (variance + Double(epsilon)).squareRoot())
}
