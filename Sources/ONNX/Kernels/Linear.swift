import Tensors

extension Kernel {
    /// NumPy `matmul`: `[…, M, K] · […, K, N]` with broadcast batch dimensions; a rank-1
    /// operand is promoted (and its dimension removed from the result). One `sgemm` for the
    /// whole batch when the right operand is a plain matrix (a linear layer on a sequence).
    static func matMul(_ a: Tensor<Float>, _ b: Tensor<Float>) throws(KernelError) -> Tensor<Float> {
        guard a.rank >= 1, b.rank >= 1 else { throw KernelError("MatMul operands must have rank 1 or more, got \(a.shape) and \(b.shape)") }
        let aShape = a.rank == 1 ? [1] + a.shape : a.shape
        let bShape = b.rank == 1 ? b.shape + [1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1]
        let k2 = bShape[bShape.count - 2], n = bShape[bShape.count - 1]
        guard k == k2 else { throw KernelError("MatMul of \(a.shape) and \(b.shape): inner dimensions \(k) and \(k2) differ") }
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        let batch = try broadcastShape(aBatch, bBatch)
        var outShape = batch + [m, n]
        let count = try checkedCount(outShape)
        var y = [Float](repeating: 0, count: count)
        let batches = batch.reduce(1, *)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                y.withUnsafeMutableBufferPointer { py in
                    guard let A = pa.baseAddress, let B = pb.baseAddress, let Y = py.baseAddress, count > 0, k > 0 else { return }
                    if bBatch.reduce(1, *) == 1 && aBatch == batch {
                        Float.gemm(transposeA: false, transposeB: false, m: batches * m, n: n, k: k, alpha: 1,
                                   a: A, lda: k, b: B, ldb: n, beta: 0, c: Y, ldc: n)
                        return
                    }
                    let sa = broadcastStrides(aBatch, to: batch), sb = broadcastStrides(bBatch, to: batch)
                    for i in 0..<batches {
                        var rest = i, offA = 0, offB = 0
                        for d in stride(from: batch.count - 1, through: 0, by: -1) {
                            let idx = rest % batch[d]; rest /= batch[d]
                            offA += idx * sa[d]; offB += idx * sb[d]
                        }
                        Float.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1,
                                   a: A + offA * m * k, lda: k, b: B + offB * k * n, ldb: n, beta: 0, c: Y + i * m * n, ldc: n)
                    }
                }
            }
        }
        if a.rank == 1 { outShape.remove(at: outShape.count - 2) }
        if b.rank == 1 { outShape.removeLast() }
        return try floatResult(outShape, y)
    }

    /// `Y = alpha · A' · B' + beta · C`, A' = A or Aᵀ `[M, K]`, B' = B or Bᵀ `[K, N]`, C broadcast to `[M, N]`.
    static func gemm(_ a: Tensor<Float>, _ b: Tensor<Float>, _ c: Tensor<Float>?, alpha: Float, beta: Float,
                     transA: Bool, transB: Bool) throws(KernelError) -> Tensor<Float> {
        guard a.rank == 2, b.rank == 2 else { throw KernelError("Gemm operands must be matrices, got \(a.shape) and \(b.shape)") }
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let k2 = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1]
        guard k == k2 else { throw KernelError("Gemm of \(a.shape) and \(b.shape) (transA \(transA), transB \(transB)): inner dimensions \(k) and \(k2) differ") }
        var y = try makeFloat([m, n])
        if let c, beta != 0 {
            guard try broadcastShape(c.shape, [m, n]) == [m, n] else { throw KernelError("Gemm C of shape \(c.shape) does not broadcast to [\(m), \(n)]") }
            let r = try broadcasting([Float](repeating: 0, count: m * n), [m, n], c.scalars, c.shape) { _, v in beta * v }
            y = try floatResult([m, n], r.values)
        }
        let accumulate: Float = (c != nil && beta != 0) ? 1 : 0
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                y.withUnsafeMutableBufferPointer { py in
                    guard let A = pa.baseAddress, let B = pb.baseAddress, let Y = py.baseAddress, m > 0, n > 0, k > 0 else { return }
                    Float.gemm(transposeA: transA, transposeB: transB, m: m, n: n, k: k, alpha: alpha,
                               a: A, lda: a.shape[1], b: B, ldb: b.shape[1], beta: accumulate, c: Y, ldc: n)
                }
            }
        }
        return y
    }

    /// 2-D convolution (cross-correlation) of x `[N, C, H, W]` with w `[O, C/group, kh, kw]`
    /// and optional bias `[O]`, by im2col and one `sgemm` per image and group:
    /// y[n, g] = W_g `[O/g, C/g·kh·kw]` · cols_g `[C/g·kh·kw, Ho·Wo]` + b_g.
    static func conv(_ x: Tensor<Float>, _ w: Tensor<Float>, _ bias: Tensor<Float>?, _ attributes: WindowAttributes,
                     group: Int) throws(KernelError) -> Tensor<Float> {
        guard x.rank == 4, w.rank == 4 else { throw KernelError("Conv evaluates 2-D convolutions ([N, C, H, W] input, [O, C, kh, kw] weight), got \(x.shape) and \(w.shape)") }
        let (batch, channels, o) = (x.shape[0], x.shape[1], w.shape[0])
        guard channels % group == 0, o % group == 0, w.shape[1] == channels / group else {
            throw KernelError("Conv weight \(w.shape) does not fit input \(x.shape) with group \(group)")
        }
        if let k = attributes.kernelShape, k != [w.shape[2], w.shape[3]] { throw KernelError("kernel_shape \(k) differs from the weight's \(Array(w.shape[2...]))") }
        if let bias, bias.shape != [o] { throw KernelError("Conv bias of shape \(bias.shape) does not match \(o) output channels") }
        let g = try Window2D(input: [x.shape[2], x.shape[3]], kernel: [w.shape[2], w.shape[3]], attributes, ceilMode: false)
        let cg = channels / group, og = o / group, patch = cg * g.kernel[0] * g.kernel[1], pixels = g.output[0] * g.output[1]
        var y = try makeFloat([batch, o, g.output[0], g.output[1]])
        var cols = try makeFloat([patch, pixels])
        let inPlane = x.shape[2] * x.shape[3]
        for n in 0..<batch {
            for gi in 0..<group {
                x.withUnsafeBufferPointer { px in
                    cols.withUnsafeMutableBufferPointer { pc in
                        guard let X = px.baseAddress, let C = pc.baseAddress else { return }
                        g.im2col(X + (n * channels + gi * cg) * inPlane, channels: cg, into: C)
                    }
                }
                w.withUnsafeBufferPointer { pw in
                    cols.withUnsafeBufferPointer { pc in
                        y.withUnsafeMutableBufferPointer { py in
                            guard let W = pw.baseAddress, let C = pc.baseAddress, let Y = py.baseAddress, pixels > 0, patch > 0 else { return }
                            let out = Y + (n * o + gi * og) * pixels
                            if let bias { for r in 0..<og { (out + r * pixels).update(repeating: bias.scalars[gi * og + r], count: pixels) } }
                            Float.gemm(transposeA: false, transposeB: false, m: og, n: pixels, k: patch, alpha: 1,
                                       a: W + gi * og * patch, lda: patch, b: C, ldb: pixels, beta: bias == nil ? 0 : 1, c: out, ldc: pixels)
                        }
                    }
                }
            }
        }
        return y
    }
}
