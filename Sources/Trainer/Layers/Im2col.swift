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

/// Unfolds one image `x` `[C, H, W]` into `cols` `[C·kh·kw, Ho·Wo]`, zero outside the image.
///
/// Row r = (c·kh + i)·kw + j holds x[c, oh·s − p + i, ow·s − p + j] at column oh·Wo + ow, so a
/// convolution is W `[O, C·kh·kw]` · cols — one `gemm` per image.
func im2col<S: BLASScalar>(_ x: UnsafePointer<S>, _ g: WindowGeometry, _ cols: UnsafeMutablePointer<S>) {
    let ho = g.outputHeight, wo = g.outputWidth
    var row = 0
    for c in 0..<g.channels {
        let plane = x + c * g.height * g.width
        for i in 0..<g.kernelHeight {
            for j in 0..<g.kernelWidth {
                let out = cols + row * ho * wo
                for oh in 0..<ho {
                    let ih = oh * g.stride - g.padding + i
                    let dst = out + oh * wo
                    if ih < 0 || ih >= g.height {
                        dst.update(repeating: 0, count: wo)
                        continue
                    }
                    let src = plane + ih * g.width
                    for ow in 0..<wo {
                        let iw = ow * g.stride - g.padding + j
                        dst[ow] = (iw >= 0 && iw < g.width) ? src[iw] : 0
                    }
                }
                row += 1
            }
        }
    }
}

/// Folds `cols` `[C·kh·kw, Ho·Wo]` back onto an image, adding into `x` `[C, H, W]` (the adjoint of `im2col`).
func col2imAdding<S: BLASScalar>(_ cols: UnsafePointer<S>, _ g: WindowGeometry, _ x: UnsafeMutablePointer<S>) {
    let ho = g.outputHeight, wo = g.outputWidth
    var row = 0
    for c in 0..<g.channels {
        let plane = x + c * g.height * g.width
        for i in 0..<g.kernelHeight {
            for j in 0..<g.kernelWidth {
                let src = cols + row * ho * wo
                for oh in 0..<ho {
                    let ih = oh * g.stride - g.padding + i
                    if ih < 0 || ih >= g.height { continue }
                    let dst = plane + ih * g.width
                    let line = src + oh * wo
                    for ow in 0..<wo {
                        let iw = ow * g.stride - g.padding + j
                        if iw >= 0 && iw < g.width { dst[iw] += line[ow] }
                    }
                }
                row += 1
            }
        }
    }
}
