/// The geometry of a 2-D sliding window (Conv, MaxPool, AveragePool) with per-axis strides,
/// dilations and asymmetric pads, as ONNX states them.
///
/// Output size per axis: ⌊(in + pad_begin + pad_end − d·(k − 1) − 1) / s⌋ + 1, or with
/// `ceil_mode` the ceiling, dropping a last window that would start in the end padding
/// (ONNX Runtime's and PyTorch's rule).
struct Window2D {
    let input: [Int], kernel: [Int], strides: [Int], dilations: [Int]
    let padsBegin: [Int], padsEnd: [Int]
    let output: [Int]

    init(input: [Int], kernel: [Int], _ a: Kernel.WindowAttributes, ceilMode: Bool) throws(KernelError) {
        self.input = input
        self.kernel = kernel
        strides = a.strides ?? [1, 1]
        dilations = a.dilations ?? [1, 1]
        guard kernel.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 }) else { throw KernelError("kernel \(kernel) must lie in 1…\(1 << 20)") }
        var begin = [0, 0], end = [0, 0]
        switch a.autoPad {
        case "SAME_UPPER", "SAME_LOWER":
            for i in 0..<2 {
                let out = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input[i])
                begin[i] = a.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                end[i] = total - begin[i]
            }
        case "VALID": break
        default:
            if let p = a.pads { begin = [p[0], p[1]]; end = [p[2], p[3]] }
        }
        padsBegin = begin
        padsEnd = end
        var output = [0, 0]
        for i in 0..<2 {
            // Every term is bounded (attributes ≤ 2²⁰, input dimensions ≤ the element limit).
            let span = input[i] + begin[i] + end[i] - dilations[i] * (kernel[i] - 1) - 1
            guard span >= 0 else {
                throw KernelError("a window of \(kernel) (dilations \(dilations)) does not fit an input of \(input) padded by \(begin)/\(end)")
            }
            var o = (ceilMode ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1
            if ceilMode, (o - 1) * strides[i] >= input[i] + begin[i] { o -= 1 }
            output[i] = o
        }
        self.output = output
    }

    /// Input index along `axis` read by output position `o` and kernel offset `k`, or nil in padding.
    @inline(__always) func source(_ axis: Int, _ o: Int, _ k: Int) -> Int? {
        let i = o * strides[axis] - padsBegin[axis] + k * dilations[axis]
        return i >= 0 && i < input[axis] ? i : nil
    }

    /// The output positions o in 0..<output[axis] whose input index o·s − p + k·d lies inside
    /// the input: one contiguous range, so the copy loops test no bounds per element.
    @inline(__always) func validRange(_ axis: Int, _ k: Int) -> Range<Int> {
        let s = strides[axis], first = padsBegin[axis] - k * dilations[axis]
        let lo = first <= 0 ? 0 : (first + s - 1) / s
        let last = input[axis] - 1 + first
        let hi = last < 0 ? -1 : Swift.min(output[axis] - 1, last / s)
        return lo <= hi ? lo..<(hi + 1) : 0..<0
    }

    /// Unfolds `channels` planes of `x` `[C, H, W]` into `cols` `[C·kh·kw, Ho·Wo]`, zero in
    /// the padding: row (c·kh + i)·kw + j, column oh·Wo + ow holds x[c, oh·sh − ph + i·dh, ow·sw − pw + j·dw].
    /// Per kernel offset, each valid output row is a contiguous (stride 1) or strided copy.
    func im2col(_ x: UnsafePointer<Float>, channels: Int, into cols: UnsafeMutablePointer<Float>) {
        let (h, w, ho, wo) = (input[0], input[1], output[0], output[1])
        let (sh, sw, ph, pw, dh, dw, kh, kw) = (strides[0], strides[1], padsBegin[0], padsBegin[1], dilations[0], dilations[1], kernel[0], kernel[1])
        let rowRanges = (0..<kh).map { validRange(0, $0) }, columnRanges = (0..<kw).map { validRange(1, $0) }
        // One fill zeroes the padding; the loops below copy the valid ranges only.
        cols.update(repeating: 0, count: channels * kh * kw * ho * wo)
        var out = cols
        for c in 0..<channels {
            let plane = x + c * h * w
            for i in 0..<kh {
                let rows = rowRanges[i]
                for j in 0..<kw {
                    let columns = columnRanges[j]
                    let n = columns.count
                    guard n > 0, !rows.isEmpty else { out += ho * wo; continue }
                    // Pointers step a whole row at a time; the element loops use wrapping
                    // arithmetic (every index is inside the buffers by the ranges above) so they vectorise.
                    var dst = out + rows.lowerBound * wo + columns.lowerBound
                    var src = plane + (rows.lowerBound * sh - ph + i * dh) * w + (columns.lowerBound * sw - pw + j * dw)
                    for _ in rows {
                        if sw == 1 {
                            for k in 0..<n { dst[k] = src[k] }
                        } else {
                            for k in 0..<n { dst[k] = src[k &* sw] }
                        }
                        dst += wo
                        src += sh * w
                    }
                    out += ho * wo
                }
            }
        }
    }

    /// The transpose of `im2col`: adds each column entry back onto the input element it was
    /// read from (padding positions read nothing and receive nothing).
    func col2im(_ cols: UnsafePointer<Float>, channels: Int, into x: UnsafeMutablePointer<Float>) {
        let (h, w, ho, wo) = (input[0], input[1], output[0], output[1])
        let (sh, sw, ph, pw, dh, dw, kh, kw) = (strides[0], strides[1], padsBegin[0], padsBegin[1], dilations[0], dilations[1], kernel[0], kernel[1])
        let rowRanges = (0..<kh).map { validRange(0, $0) }, columnRanges = (0..<kw).map { validRange(1, $0) }
        var row = cols
        for c in 0..<channels {
            let plane = x + c * h * w
            for i in 0..<kh {
                let rows = rowRanges[i]
                for j in 0..<kw {
                    let columns = columnRanges[j]
                    let n = columns.count
                    guard n > 0, !rows.isEmpty else { row += ho * wo; continue }
                    var src = row + rows.lowerBound * wo + columns.lowerBound
                    var dst = plane + (rows.lowerBound * sh - ph + i * dh) * w + (columns.lowerBound * sw - pw + j * dw)
                    for _ in rows {
                        if sw == 1 {
                            for k in 0..<n { dst[k] += src[k] }
                        } else {
                            for k in 0..<n { dst[k &* sw] += src[k] }
                        }
                        src += wo
                        dst += sh * w
                    }
                    row += ho * wo
                }
            }
        }
    }
}
