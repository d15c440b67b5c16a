import Tensors

/// Vector-Jacobian products of the kernels with weights (Conv, Gemm, MatMul), the windows
/// (pooling) and the normalisations, each the transpose of its forward's linear map.
extension Kernel {
    /// `sgemm` on arrays: C ← α·op(A)·op(B) + β·C, row-major, leading dimensions as stored.
    static func gemmInto(_ c: inout [Float], offsetC: Int = 0, _ a: [Float], offsetA: Int = 0, lda: Int, transA: Bool,
                         _ b: [Float], offsetB: Int = 0, ldb: Int, transB: Bool, m: Int, n: Int, k: Int,
                         alpha: Float = 1, beta: Float) {
        guard m > 0, n > 0, k > 0 else { return }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    guard let A = pa.baseAddress, let B = pb.baseAddress, let C = pc.baseAddress else { return }
                    Float.gemm(transposeA: transA, transposeB: transB, m: m, n: n, k: k, alpha: alpha,
                               a: A + offsetA, lda: lda, b: B + offsetB, ldb: ldb, beta: beta, c: C + offsetC, ldc: n)
                }
            }
        }
    }

    /// Y = α·A'·B' + β·C: dA' = α·dY·B'ᵀ, dB' = α·A'ᵀ·dY (transposed back when the operand
    /// was stored transposed), dC = β·dY summed over C's broadcast dimensions.
    static func gemmBackward(_ a: Tensor<Float>, _ b: Tensor<Float>, _ c: Tensor<Float>?, _ dy: [Float], alpha: Float, beta: Float,
                             transA: Bool, transB: Bool, wantA: Bool = true, wantB: Bool = true) throws(KernelError) -> (a: [Float]?, b: [Float]?, c: [Float]?) {
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let n = transB ? b.shape[0] : b.shape[1]
        guard dy.count == m * n else { throw KernelError("internal: a Gemm gradient of \(dy.count) elements for output [\(m), \(n)]") }
        var da: [Float]?, db: [Float]?
        if wantA {
            var g = [Float](repeating: 0, count: a.count)
            if transA {
                gemmInto(&g, b.scalars, lda: b.shape[1], transA: transB, dy, ldb: n, transB: true, m: k, n: m, k: n, alpha: alpha, beta: 0)
            } else {
                gemmInto(&g, dy, lda: n, transA: false, b.scalars, ldb: b.shape[1], transB: !transB, m: m, n: k, k: n, alpha: alpha, beta: 0)
            }
            da = g
        }
        if wantB {
            var g = [Float](repeating: 0, count: b.count)
            if transB {
                gemmInto(&g, dy, lda: n, transA: true, a.scalars, ldb: a.shape[1], transB: transA, m: n, n: k, k: m, alpha: alpha, beta: 0)
            } else {
                gemmInto(&g, a.scalars, lda: a.shape[1], transA: !transA, dy, ldb: n, transB: false, m: k, n: n, k: m, alpha: alpha, beta: 0)
            }
            db = g
        }
        let dc = try c.map { (t: Tensor<Float>) throws(KernelError) in try unbroadcast(mapFloats(dy) { $0 * beta }, from: [m, n], to: t.shape) }
        return (da, db, dc)
    }

    /// Batched `[…, M, K]·[…, K, N]`: per batch dA += dY·Bᵀ, dB += Aᵀ·dY; accumulating into the
    /// operand's own block sums the gradient over broadcast batch dimensions.
    static func matMulBackward(_ a: Tensor<Float>, _ b: Tensor<Float>, _ dy: [Float], wantA: Bool = true,
                               wantB: Bool = true) throws(KernelError) -> (a: [Float]?, b: [Float]?) {
        let aShape = a.rank == 1 ? [1] + a.shape : a.shape
        let bShape = b.rank == 1 ? b.shape + [1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1], n = bShape[bShape.count - 1]
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        let batch = try broadcastShape(aBatch, bBatch)
        guard dy.count == batch.reduce(1, *) * m * n else { throw KernelError("internal: a MatMul gradient of \(dy.count) elements for \(a.shape)·\(b.shape)") }
        let sa = broadcastStrides(aBatch, to: batch), sb = broadcastStrides(bBatch, to: batch)
        var da = [Float](repeating: 0, count: wantA ? a.count : 0), db = [Float](repeating: 0, count: wantB ? b.count : 0)
        for i in 0..<batch.reduce(1, *) {
            var rest = i, offA = 0, offB = 0
            for d in stride(from: batch.count - 1, through: 0, by: -1) {
                let idx = rest % batch[d]; rest /= batch[d]
                offA += idx * sa[d]; offB += idx * sb[d]
            }
            if wantA {
                gemmInto(&da, offsetC: offA * m * k, dy, offsetA: i * m * n, lda: n, transA: false,
                         b.scalars, offsetB: offB * k * n, ldb: n, transB: true, m: m, n: k, k: n, beta: 1)
            }
            if wantB {
                gemmInto(&db, offsetC: offB * k * n, a.scalars, offsetA: offA * m * k, lda: k, transA: true,
                         dy, offsetB: i * m * n, ldb: n, transB: false, m: k, n: n, k: m, beta: 1)
            }
        }
        return (wantA ? da : nil, wantB ? db : nil)
    }

    /// By oneDNN over the whole batch (`ConvOneDNN.swift`), otherwise per image and group:
    /// dW_g += dY_g·colsᵀ, dCols = W_gᵀ·dY_g folded back by col2im; db = Σ dY.
    /// `wantInput`/`wantWeight`/`wantBias` skip the products and sums nobody reads (the curvature
    /// wants one of the first two; a Conv without bias the third: its `bias` is then empty).
    static func convBackward(_ x: Tensor<Float>, _ w: Tensor<Float>, _ dy: [Float], _ attributes: WindowAttributes, group: Int,
                             wantInput: Bool, wantWeight: Bool = true, wantBias: Bool = true) throws(KernelError) -> (input: [Float]?, weight: [Float]?, bias: [Float]) {
        let l = try ConvLayout(x.shape, w.shape, attributes, group: group)
        guard dy.count == l.batch * l.outChannels * l.pixels else { throw KernelError("internal: a Conv gradient of \(dy.count) elements for output \(l.outputShape)") }
        var db = [Float](repeating: 0, count: wantBias ? l.outChannels : 0)
        dy.withUnsafeBufferPointer { pdy in
            db.withUnsafeMutableBufferPointer { pdb in
                guard pdb.count == l.outChannels, let DY = pdy.baseAddress, let DB = pdb.baseAddress else { return }
                // Per output channel over batch and pixels: in double, 32 lanes (`VectorKernels.StridedRows`),
                // channels split over the OpenMP team (the same bits on any thread count).
                OpenMPTeam.forEachPart(count: l.outChannels, threads: OpenMPTeam.threads(forElements: dy.count), alignment: 1) { channels in
                    biasGradient(channels, DY, batch: l.batch, channels: l.outChannels, pixels: l.pixels, into: DB)
                }
            }
        }
        guard l.pixels > 0, l.patch > 0, l.groupOutChannels > 0, wantInput || wantWeight else {
            return (wantInput ? [Float](repeating: 0, count: x.count) : nil, wantWeight ? [Float](repeating: 0, count: w.count) : nil, db)
        }
        let g = convBackwardOneDNN(x, w, dy, l, wantInput: wantInput, wantWeight: wantWeight)
            ?? convBackwardIm2col(x, w, dy, l, wantInput: wantInput, wantWeight: wantWeight)
        return (g.input, g.weight, db)
    }

    /// The im2col route of `convBackward`'s input and weight gradients (operands checked by the caller).
    static func convBackwardIm2col(_ x: Tensor<Float>, _ w: Tensor<Float>, _ dy: [Float], _ l: ConvLayout,
                                   wantInput: Bool, wantWeight: Bool) -> (input: [Float]?, weight: [Float]?) {
        var dx = [Float](repeating: 0, count: wantInput ? x.count : 0), dw = [Float](repeating: 0, count: wantWeight ? w.count : 0)
        var cols = [Float](repeating: 0, count: l.pointwise ? 0 : l.patch * l.pixels)
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                dy.withUnsafeBufferPointer { pdy in
                    cols.withUnsafeMutableBufferPointer { pc in
                        dx.withUnsafeMutableBufferPointer { pdx in
                            dw.withUnsafeMutableBufferPointer { pdw in
                                guard let X = px.baseAddress, let W = pw.baseAddress, let DY = pdy.baseAddress else { return }
                                for n in 0..<l.batch {
                                    for gi in 0..<l.group {
                                        let dyg = DY + (n * l.outChannels + gi * l.groupOutChannels) * l.pixels
                                        let offset = (n * l.channels + gi * l.groupChannels) * l.inPlane
                                        if wantWeight, let DW = pdw.baseAddress {
                                            let b: UnsafePointer<Float>
                                            if l.pointwise {
                                                b = X + offset
                                            } else {
                                                guard let C = pc.baseAddress else { return }
                                                l.window.im2col(X + offset, channels: l.groupChannels, into: C)
                                                b = UnsafePointer(C)
                                            }
                                            Float.gemm(transposeA: false, transposeB: true, m: l.groupOutChannels, n: l.patch, k: l.pixels, alpha: 1,
                                                       a: dyg, lda: l.pixels, b: b, ldb: l.pixels, beta: 1,
                                                       c: DW + gi * l.groupOutChannels * l.patch, ldc: l.patch)
                                        }
                                        guard wantInput, let DX = pdx.baseAddress else { continue }
                                        // Pointwise: the column gradient is the input gradient itself.
                                        let target = l.pointwise ? DX + offset : pc.baseAddress
                                        guard let target else { return }
                                        Float.gemm(transposeA: true, transposeB: false, m: l.patch, n: l.pixels, k: l.groupOutChannels, alpha: 1,
                                                   a: W + gi * l.groupOutChannels * l.patch, lda: l.patch, b: dyg, ldb: l.pixels, beta: 0,
                                                   c: target, ldc: l.pixels)
                                        if !l.pointwise { l.window.col2im(target, channels: l.groupChannels, into: DX + offset) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (wantInput ? dx : nil, wantWeight ? dw : nil)
    }

    /// Max pooling: the gradient goes to the first maximum of each window (as the forward's
    /// `max` keeps it); average pooling: spread over the window with the forward's divisor.
    static func poolBackward(_ x: Tensor<Float>, _ dy: [Float], _ attributes: WindowAttributes, max: Bool, ceilMode: Bool,
                             countIncludePad: Bool) throws(KernelError) -> [Float] {
        var dx = [Float](repeating: 0, count: x.count)
        if max {
            let sources = try maxPoolSources(x, attributes, ceilMode: ceilMode)
            guard sources.count == dy.count else { throw KernelError("internal: a pooling gradient of \(dy.count) elements for \(sources.count) windows") }
            for (k, at) in sources.enumerated() where at >= 0 { dx[at] += dy[k] }
            return dx
        }
        let p = try PoolWindows(x.shape, attributes, ceilMode: ceilMode)
        guard p.count == dy.count else { throw KernelError("internal: a pooling gradient of \(dy.count) elements for \(p.count) windows") }
        dx.withUnsafeMutableBufferPointer { pdx in
            guard let DX = pdx.baseAddress else { return }
            p.forEachWindow { out, plane, rows, columns, hs, ws in
                let d = dy[out] / Float(p.divisor(rows, columns, hs, ws, countIncludePad: countIncludePad))
                for r in 0..<rows.count { for c in 0..<columns.count { DX[plane + rows.position(r) * p.w + columns.position(c)] += d } }
            }
        }
        return dx
    }

    /// Running statistics: y = x·k + shift, k = scale/√(var + ε): dx = dy·k, dscale = Σ dy·x̂,
    /// dbias = Σ dy. Batch statistics: x̂ = (x − μ_B)/√(σ²_B + ε) with μ_B, σ²_B (biased) over
    /// N and the spatial axes, and dx = scale/√(σ²_B + ε) · (dy − mean(dy) − x̂·mean(dy·x̂)).
    static func batchNormalizationBackward(_ x: Tensor<Float>, scale: Tensor<Float>, mean: Tensor<Float>, variance: Tensor<Float>,
                                           _ dy: [Float], epsilon: Float, batchStatistics: Bool) throws(KernelError)
        -> (input: [Float], scale: [Float], bias: [Float]) {
        guard x.rank >= 2 else { throw KernelError("BatchNormalization needs [N, C, …], got \(x.shape)") }
        let c = x.shape[1], inner = x.shape[2...].reduce(1, *), outer = x.shape[0]
        let stats = batchStatistics ? Kernel.batchStatistics(x) : (mean.scalars.map { Double($0) }, variance.scalars.map { Double($0) })
        guard dy.count == x.count, scale.count == c, stats.0.count == c, stats.1.count == c else {
            throw KernelError("internal: BatchNormalization gradient of \(dy.count) elements for input \(x.shape)")
        }
        // Every element of ∂x is written below (each channel's rows whole), so it starts unset.
        var dx = [Float](unsafeUninitializedCapacity: x.count) { _, initialized in initialized = x.count }
        var dscale = [Float](repeating: 0, count: c), dbias = dscale
        let part = BatchNormalizationChannels(channels: c, inner: inner, outer: outer, epsilon: Double(epsilon),
                                              batchStatistics: batchStatistics, mean: stats.0, variance: stats.1, scale: scale.scalars)
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                dx.withUnsafeMutableBufferPointer { pdx in
                    dscale.withUnsafeMutableBufferPointer { ps in
                        dbias.withUnsafeMutableBufferPointer { pb in
                            guard let X = px.baseAddress, let DY = pdy.baseAddress, let DX = pdx.baseAddress,
                                  let DS = ps.baseAddress, let DB = pb.baseAddress else { return }
                            // Channels are independent (each keeps its sums' order): split over the OpenMP team.
                            OpenMPTeam.forEachPart(count: c, threads: OpenMPTeam.threads(forElements: x.count), alignment: 1) { channels in
                                part.backward(channels, x: X, dy: DY, dx: DX, dscale: DS, dbias: DB)
                            }
                        }
                    }
                }
            }
        }
        return (dx, dscale, dbias)
    }

    /// db[o] = Σ over batch and pixels of dy[n, o, …] for o in `range`.
    private static func biasGradient(_ range: Range<Int>, _ dy: UnsafePointer<Float>, batch: Int, channels: Int, pixels: Int,
                                     into db: UnsafeMutablePointer<Float>) {
        for o in range {
            db[o] = Float(VectorKernels.StridedRows(start: dy + o * pixels, rows: batch, stride: channels * pixels, length: pixels).sum())
        }
    }

    /// Per-channel mean and biased variance over N and the spatial axes (in double; each sum in
    /// `VectorKernels.StridedRows`' 32 lanes, channels split over the OpenMP team: the same bits
    /// on any thread count).
    static func batchStatistics(_ x: Tensor<Float>) -> ([Double], [Double]) {
        let c = x.shape[1], inner = x.shape[2...].reduce(1, *), outer = x.shape[0], m = Double(Swift.max(outer * inner, 1))
        var mean = [Double](repeating: 0, count: c), variance = mean
        x.withUnsafeBufferPointer { px in
            mean.withUnsafeMutableBufferPointer { pm in
                variance.withUnsafeMutableBufferPointer { pv in
                    guard let X = px.baseAddress, let M = pm.baseAddress, let V = pv.baseAddress else { return }
                    OpenMPTeam.forEachPart(count: c, threads: OpenMPTeam.threads(forElements: x.count), alignment: 1) { channels in
                        channelMoments(channels, X, channels: c, inner: inner, outer: outer, count: m, mean: M, variance: V)
                    }
                }
            }
        }
        return (mean, variance)
    }

    /// `batchStatistics` for a range of channels.
    private static func channelMoments(_ range: Range<Int>, _ x: UnsafePointer<Float>, channels c: Int, inner: Int, outer: Int,
                                       count m: Double, mean: UnsafeMutablePointer<Double>, variance: UnsafeMutablePointer<Double>) {
        for ch in range {
            let rows = VectorKernels.StridedRows(start: x + ch * inner, rows: outer, stride: c * inner, length: inner)
            let mu = rows.sum() / m
            mean[ch] = mu
            variance[ch] = rows.centeredDot(minus: mu, x + ch * inner, minus: mu, times: 1) / m
        }
    }

    /// Training-mode batch normalisation (the batch's own statistics), as PyTorch's `train()`.
    static func batchNormalizationWithBatchStatistics(_ x: Tensor<Float>, scale: Tensor<Float>, bias: Tensor<Float>,
                                                      epsilon: Float) throws(KernelError) -> Tensor<Float> {
        guard x.rank >= 2 else { throw KernelError("BatchNormalization needs [N, C, …], got \(x.shape)") }
        let (mean, variance) = batchStatistics(x)
        return try batchNormalization(x, scale: scale, bias: bias, mean: try floatResult([x.shape[1]], mean.map { Float($0) }),
                                      variance: try floatResult([x.shape[1]], variance.map { Float($0) }), epsilon: epsilon)
    }

    /// y = x̂·s + b per row (x̂ = (x − μ)/√(σ² + ε)): ds = Σ_rows dy·x̂, db = Σ_rows dy (summed
    /// onto the parameters' own broadcast shapes), dx = inv·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = dy·s.
    static func layerNormalizationBackward(_ x: Tensor<Float>, scale: Tensor<Float>, bias: Tensor<Float>?, _ dy: [Float], axis: Int,
                                           epsilon: Float) throws(KernelError) -> (input: [Float], scale: [Float], bias: [Float]?) {
        let a = try normalizedAxis(axis, rank: x.rank)
        let normalized = Array(x.shape[a...]), size = normalized.reduce(1, *), rows = x.shape[..<a].reduce(1, *)
        let sIndex = try gatherIndices(normalized, offset: 0, strides: broadcastStrides(scale.shape, to: normalized))
        let s = sIndex.map { scale.scalars[$0] }
        let xs = x.scalars
        var dx = [Float](repeating: 0, count: x.count), ds = [Double](repeating: 0, count: size), db = ds
        for r in 0..<rows where size > 0 {
            let base = r * size
            let (mean, inv) = rowMoments(xs, base: base, size: size, epsilon: epsilon)
            var sumG: Double = 0, sumGX: Double = 0
            for i in 0..<size {
                let xhat = (Double(xs[base + i]) - mean) * inv, g = Double(dy[base + i]) * Double(s[i])
                ds[i] += Double(dy[base + i]) * xhat; db[i] += Double(dy[base + i])
                sumG += g; sumGX += g * xhat
            }
            for i in 0..<size {
                let xhat = (Double(xs[base + i]) - mean) * inv, g = Double(dy[base + i]) * Double(s[i])
                dx[base + i] = Float(inv * (g - sumG / Double(size) - xhat * sumGX / Double(size)))
            }
        }
        let dScale = scatter(sIndex, ds.map { Float($0) }, count: scale.count)
        var dBias: [Float]?
        if let bias {
            let bIndex = try gatherIndices(normalized, offset: 0, strides: broadcastStrides(bias.shape, to: normalized))
            dBias = scatter(bIndex, db.map { Float($0) }, count: bias.count)
        }
        return (dx, dScale, dBias)
    }
}

/// BatchNormalization's gradient for a range of channels, its constants held by value so the
/// loops read them as locals (see `OpenMPTeam.forEachPart`).
private struct BatchNormalizationChannels {
    let channels: Int, inner: Int, outer: Int
    let epsilon: Double
    let batchStatistics: Bool
    let mean: [Double], variance: [Double], scale: [Float]

    func backward(_ range: Range<Int>, x X: UnsafePointer<Float>, dy DY: UnsafePointer<Float>, dx DX: UnsafeMutablePointer<Float>,
                  dscale: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>) {
        let (c, inner, outer) = (channels, self.inner, self.outer)
        for ch in range {
            let inv = 1 / (variance[ch] + epsilon).squareRoot(), mu = mean[ch]
            // Σ ∂y and Σ ∂y·x̂ (x̂ = (x − μ)·inv in double), each in 32 lanes (`VectorKernels.StridedRows`).
            // With running statistics ∂x = k·∂y is written in the same pass as the sums.
            let k = Double(scale[ch]) * inv, m = Double(Swift.max(outer * inner, 1)), kf = Float(k)
            let dyRows = VectorKernels.StridedRows(start: DY + ch * inner, rows: outer, stride: c * inner, length: inner)
            let (sumDy, sumDyXhat) = dyRows.sumAndCenteredDot(minus: 0, X + ch * inner, minus: mu, times: inv,
                                                              scale: kf, scaledInto: batchStatistics ? nil : DX + ch * inner)
            dscale[ch] = Float(sumDyXhat); dbias[ch] = Float(sumDy)
            guard batchStatistics else { continue }
            for n in 0..<outer {
                let base = (n * c + ch) * inner, xs = X + base, g = DY + base, out = DX + base
                for i in 0..<inner {
                    let xhat = (Double(xs[i]) - mu) * inv
                    out[i] = Float(k * (Double(g[i]) - sumDy / m - xhat * sumDyXhat / m))
                }
            }
        }
    }
}
