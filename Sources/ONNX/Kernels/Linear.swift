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
            y = try floatResult([m, n], try expanded(c.scalars, c.shape, to: [m, n]))
        }
        let accumulate: Float = (c != nil && beta != 0) ? beta : 0
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

    /// The sizes one convolution works with, its operands' shapes checked.
    struct ConvLayout {
        let window: Window2D
        let batch: Int, channels: Int, outChannels: Int, group: Int
        /// Per group: input channels, output channels, rows of the column matrix (C/g·kh·kw).
        let groupChannels: Int, groupOutChannels: Int, patch: Int
        /// Output pixels Ho·Wo and input pixels H·W per plane.
        let pixels: Int, inPlane: Int
        /// A 1×1 kernel at stride 1 without padding: the column matrix is the image itself.
        var pointwise: Bool {
            window.kernel == [1, 1] && window.strides == [1, 1] && window.padsBegin == [0, 0] && window.padsEnd == [0, 0]
        }

        init(_ x: [Int], _ w: [Int], _ attributes: WindowAttributes, group: Int) throws(KernelError) {
            guard x.count == 4, w.count == 4 else { throw KernelError("Conv evaluates 2-D convolutions ([N, C, H, W] input, [O, C, kh, kw] weight), got \(x) and \(w)") }
            (batch, channels, outChannels, self.group) = (x[0], x[1], w[0], group)
            guard channels % group == 0, outChannels % group == 0, w[1] == channels / group else {
                throw KernelError("Conv weight \(w) does not fit input \(x) with group \(group)")
            }
            if let k = attributes.kernelShape, k != [w[2], w[3]] { throw KernelError("kernel_shape \(k) differs from the weight's \(Array(w[2...]))") }
            window = try Window2D(input: [x[2], x[3]], kernel: [w[2], w[3]], attributes, ceilMode: false)
            groupChannels = channels / group
            groupOutChannels = outChannels / group
            patch = groupChannels * window.kernel[0] * window.kernel[1]
            pixels = window.output[0] * window.output[1]
            inPlane = x[2] * x[3]
            _ = try checkedCount([patch, pixels])
        }

        var outputShape: [Int] { [batch, outChannels, window.output[0], window.output[1]] }
    }

    /// 2-D convolution (cross-correlation) of x `[N, C, H, W]` with w `[O, C/group, kh, kw]`
    /// and optional bias `[O]`: by oneDNN over the whole batch (`ConvOneDNN.swift`), otherwise by
    /// im2col and one `sgemm` per image and group:
    /// y[n, g] = W_g `[O/g, C/g·kh·kw]` · cols_g `[C/g·kh·kw, Ho·Wo]` + b_g.
    static func conv(_ x: Tensor<Float>, _ w: Tensor<Float>, _ bias: Tensor<Float>?, _ attributes: WindowAttributes,
                     group: Int) throws(KernelError) -> Tensor<Float> {
        let l = try ConvLayout(x.shape, w.shape, attributes, group: group)
        if let bias, bias.shape != [l.outChannels] { throw KernelError("Conv bias of shape \(bias.shape) does not match \(l.outChannels) output channels") }
        if let y = convOneDNN(x, w, bias, l) { return y }
        return try convIm2col(x, w, bias, l)
    }

    /// The im2col route of `conv` (operands checked by the caller).
    static func convIm2col(_ x: Tensor<Float>, _ w: Tensor<Float>, _ bias: Tensor<Float>?, _ l: ConvLayout) throws(KernelError) -> Tensor<Float> {
        var y = try makeFloat(l.outputShape)
        if let bias {
            y.withUnsafeMutableBufferPointer { py in
                guard let Y = py.baseAddress else { return }
                for n in 0..<l.batch { for o in 0..<l.outChannels { (Y + (n * l.outChannels + o) * l.pixels).update(repeating: bias.scalars[o], count: l.pixels) } }
            }
        }
        try convAddingIm2col(x, w, l, into: &y)
        return y
    }

    /// y += conv(x, w) (no bias), y of the layout's output shape: the tangent adds two convolutions into one buffer.
    static func convAdding(_ x: Tensor<Float>, _ w: Tensor<Float>, _ l: ConvLayout, into y: inout Tensor<Float>) throws(KernelError) {
        guard l.pixels > 0, l.patch > 0, l.groupOutChannels > 0 else { return }
        if let term = convOneDNN(x, w, nil, l), term.count == y.count {
            y.withUnsafeMutableBufferPointer { py in
                term.withUnsafeBufferPointer { pt in for i in 0..<pt.count { py[i] += pt[i] } }
            }
            return
        }
        try convAddingIm2col(x, w, l, into: &y)
    }

    /// The im2col route of `convAdding`.
    static func convAddingIm2col(_ x: Tensor<Float>, _ w: Tensor<Float>, _ l: ConvLayout, into y: inout Tensor<Float>) throws(KernelError) {
        guard l.pixels > 0, l.patch > 0, l.groupOutChannels > 0 else { return }
        var cols = [Float](repeating: 0, count: l.pointwise ? 0 : l.patch * l.pixels)
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                cols.withUnsafeMutableBufferPointer { pc in
                    y.withUnsafeMutableBufferPointer { py in
                        guard let X = px.baseAddress, let W = pw.baseAddress, let Y = py.baseAddress else { return }
                        for n in 0..<l.batch {
                            for gi in 0..<l.group {
                                let image = X + (n * l.channels + gi * l.groupChannels) * l.inPlane
                                let b: UnsafePointer<Float>
                                if l.pointwise {
                                    b = image
                                } else {
                                    guard let C = pc.baseAddress else { return }
                                    l.window.im2col(image, channels: l.groupChannels, into: C)
                                    b = UnsafePointer(C)
                                }
                                Float.gemm(transposeA: false, transposeB: false, m: l.groupOutChannels, n: l.pixels, k: l.patch, alpha: 1,
                                           a: W + gi * l.groupOutChannels * l.patch, lda: l.patch, b: b, ldb: l.pixels, beta: 1,
                                           c: Y + (n * l.outChannels + gi * l.groupOutChannels) * l.pixels, ldc: l.pixels)
                            }
                        }
                    }
                }
            }
        }
    }
}
