import Tensors

extension Kernel {
    /// MaxPool or AveragePool over 2-D windows of x `[N, C, H, W]`. Padding never wins a max;
    /// an average divides by the window's elements inside the input, or with
    /// `count_include_pad` by the window clipped to the padded input (PyTorch's and ORT's rule).
    static func pool(_ x: Tensor<Float>, _ attributes: WindowAttributes, max: Bool, ceilMode: Bool,
                     countIncludePad: Bool) throws(KernelError) -> Tensor<Float> {
        guard x.rank == 4, let kernel = attributes.kernelShape else { throw KernelError("pooling evaluates 2-D windows over [N, C, H, W], got \(x.shape)") }
        let g = try Window2D(input: [x.shape[2], x.shape[3]], kernel: kernel, attributes, ceilMode: ceilMode)
        let planes = x.shape[0] * x.shape[1], (h, w) = (x.shape[2], x.shape[3]), (ho, wo) = (g.output[0], g.output[1])
        var y = try makeFloat([x.shape[0], x.shape[1], ho, wo])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                for p in 0..<planes {
                    let plane = px.baseAddress.map { $0 + p * h * w }
                    for oh in 0..<ho {
                        for ow in 0..<wo {
                            var best = -Float.infinity, sum: Float = 0, inside = 0
                            for i in 0..<kernel[0] {
                                guard let ih = g.source(0, oh, i) else { continue }
                                for j in 0..<kernel[1] {
                                    guard let iw = g.source(1, ow, j), let plane else { continue }
                                    let v = plane[ih * w + iw]
                                    if max { best = Swift.max(best, v) } else { sum += v }
                                    inside += 1
                                }
                            }
                            let value: Float
                            if max {
                                value = best
                            } else if countIncludePad {
                                let hs = oh * g.strides[0] - g.padsBegin[0], ws = ow * g.strides[1] - g.padsBegin[1]
                                let he = Swift.min(hs + kernel[0], h + g.padsEnd[0]), we = Swift.min(ws + kernel[1], w + g.padsEnd[1])
                                value = sum / Float(Swift.max((he - hs) * (we - ws), 1))
                            } else {
                                value = inside > 0 ? sum / Float(inside) : 0
                            }
                            py[(p * ho + oh) * wo + ow] = value
                        }
                    }
                }
            }
        }
        return y
    }

    /// The mean over every spatial position: `[N, C, …]` → `[N, C, 1, …]`.
    static func globalAveragePool(_ x: Tensor<Float>) throws(KernelError) -> Tensor<Float> {
        guard x.rank >= 3 else { throw KernelError("GlobalAveragePool needs [N, C, spatial…], got \(x.shape)") }
        let planes = x.shape[0] * x.shape[1], size = x.shape[2...].reduce(1, *)
        var out = [Float](repeating: 0, count: planes)
        if size > 0 {
            for p in 0..<planes {
                var s: Double = 0
                for i in 0..<size { s += Double(x.scalars[p * size + i]) }
                out[p] = Float(s / Double(size))
            }
        }
        return try floatResult(Array(x.shape[0..<2]) + [Int](repeating: 1, count: x.rank - 2), out)
    }
}
