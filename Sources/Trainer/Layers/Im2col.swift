import Tensors

/// The geometry of a 2-D sliding window (convolution or pooling) over one CHW image.
///
/// Output size per axis: ⌊(in + 2·padding − kernel) / stride⌋ + 1 (PyTorch's, dilation 1).
struct WindowGeometry: Sendable, Equatable {
    let channels: Int, height: Int, width: Int
    let kernelHeight: Int, kernelWidth: Int
    let stride: Int, padding: Int

    var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    /// Rows of the column matrix: C·kh·kw.
    var patchSize: Int { channels * kernelHeight * kernelWidth }
    /// Columns of the column matrix: Ho·Wo.
    var outputPixels: Int { outputHeight * outputWidth }
    /// True when the column matrix is the image itself (1×1 kernel, stride 1, no padding).
    var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0 }
}

extension WindowGeometry {
    /// The output positions o in 0..<count whose input index o·stride − padding + offset lies in
    /// 0..<extent: one contiguous range, so the inner loops need no bounds test per element.
    @inline(__always)
    func validRange(offset: Int, extent: Int, count: Int) -> Range<Int> {
        let first = padding - offset               // smallest o·stride with a valid index
        let lo = first <= 0 ? 0 : (first + stride - 1) / stride
        let last = extent - 1 + padding - offset   // largest o·stride with a valid index
        let hi = last < 0 ? -1 : Swift.min(count - 1, last / stride)
        return lo <= hi ? lo..<(hi + 1) : 0..<0
    }
}

/// Unfolds one image `x` `[C, H, W]` into `cols` `[C·kh·kw, Ho·Wo]`, zero outside the image.
///
/// Row r = (c·kh + i)·kw + j holds x[c, oh·s − p + i, ow·s − p + j] at column oh·Wo + ow, so a
/// convolution is W `[O, C·kh·kw]` · cols — one `gemm` per image. The valid output ranges are
/// computed per kernel offset, so each row is a zero fill plus a strided (or, at stride 1,
/// contiguous) copy.
func im2col<S: BLASScalar>(_ x: UnsafePointer<S>, _ g: WindowGeometry, _ cols: UnsafeMutablePointer<S>) {
    let ho = g.outputHeight, wo = g.outputWidth, s = g.stride
    var row = 0
    for c in 0..<g.channels {
        let plane = x + c * g.height * g.width
        for i in 0..<g.kernelHeight {
            let rows = g.validRange(offset: i, extent: g.height, count: ho)
            for j in 0..<g.kernelWidth {
                let columns = g.validRange(offset: j, extent: g.width, count: wo)
                let out = cols + row * ho * wo
                out.update(repeating: 0, count: rows.lowerBound * wo)
                for oh in rows {
                    let dst = out + oh * wo
                    let src = plane + (oh * s - g.padding + i) * g.width + (columns.lowerBound * s - g.padding + j)
                    dst.update(repeating: 0, count: columns.lowerBound)
                    if s == 1 {
                        (dst + columns.lowerBound).update(from: src, count: columns.count)
                    } else {
                        for (k, ow) in columns.enumerated() { dst[ow] = src[k * s] }
                    }
                    (dst + columns.upperBound).update(repeating: 0, count: wo - columns.upperBound)
                }
                (out + rows.upperBound * wo).update(repeating: 0, count: (ho - rows.upperBound) * wo)
                row += 1
            }
        }
    }
}

/// Folds `cols` `[C·kh·kw, Ho·Wo]` back onto an image, adding into `x` `[C, H, W]` (the adjoint of `im2col`).
func col2imAdding<S: BLASScalar>(_ cols: UnsafePointer<S>, _ g: WindowGeometry, _ x: UnsafeMutablePointer<S>) {
    let ho = g.outputHeight, wo = g.outputWidth, s = g.stride
    var row = 0
    for c in 0..<g.channels {
        let plane = x + c * g.height * g.width
        for i in 0..<g.kernelHeight {
            let rows = g.validRange(offset: i, extent: g.height, count: ho)
            for j in 0..<g.kernelWidth {
                let columns = g.validRange(offset: j, extent: g.width, count: wo)
                let src = cols + row * ho * wo
                for oh in rows {
                    let line = src + oh * wo + columns.lowerBound
                    let dst = plane + (oh * s - g.padding + i) * g.width + (columns.lowerBound * s - g.padding + j)
                    for k in 0..<columns.count { dst[k * s] += line[k] }
                }
                row += 1
            }
        }
    }
}
