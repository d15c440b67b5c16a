import Tensors

extension Kernel {
    /// MaxPool or AveragePool over 2-D windows of x `[N, C, H, W]`. Padding never wins a max;
    /// an average divides by the window's elements inside the input, or with
    /// `count_include_pad` by the window clipped to the padded input (PyTorch's and ORT's rule).
    static func pool(_ x: Tensor<Float>, _ attributes: WindowAttributes, max: Bool, ceilMode: Bool,
                     countIncludePad: Bool) throws(KernelError) -> Tensor<Float> {
        let p = try PoolWindows(x.shape, attributes, ceilMode: ceilMode)
        var y = try makeFloat([x.shape[0], x.shape[1], p.window.output[0], p.window.output[1]])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                guard let X = px.baseAddress else { return }
                p.forEachWindow { out, plane, rows, columns, hs, ws in
                    var best = -Float.infinity, sum: Float = 0
                    for r in 0..<rows.count {
                        let line = X + plane + rows.position(r) * p.w
                        for c in 0..<columns.count {
                            let v = line[columns.position(c)]
                            if max { best = Swift.max(best, v) } else { sum += v }
                        }
                    }
                    if max {
                        py[out] = best
                    } else if countIncludePad {
                        py[out] = sum / Float(p.divisor(rows, columns, hs, ws, countIncludePad: true))
                    } else {
                        py[out] = rows.count * columns.count > 0 ? sum / Float(rows.count * columns.count) : 0
                    }
                }
            }
        }
        return y
    }

    /// For every output position of max pooling, the input element holding the window's first maximum (−1: none).
    static func maxPoolSources(_ x: Tensor<Float>, _ attributes: WindowAttributes, ceilMode: Bool) throws(KernelError) -> [Int] {
        let p = try PoolWindows(x.shape, attributes, ceilMode: ceilMode)
        var sources = [Int](repeating: -1, count: p.count)
        x.withUnsafeBufferPointer { px in
            guard let X = px.baseAddress else { return }
            p.forEachWindow { out, plane, rows, columns, _, _ in
                var best = -Float.infinity, at = -1
                for r in 0..<rows.count {
                    for c in 0..<columns.count {
                        let idx = plane + rows.position(r) * p.w + columns.position(c)
                        if at < 0 || X[idx] > best { best = X[idx]; at = idx }
                    }
                }
                sources[out] = at
            }
        }
        return sources
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

/// The input positions `first + i·step`, i in 0..<count, one pooling window covers along one axis.
struct WindowSpan {
    let first: Int, count: Int, step: Int
    @inline(__always) func position(_ i: Int) -> Int { first + i * step }
}

/// The windows of a 2-D pooling over `[N, C, H, W]`: for each output position, the input rows
/// and columns it covers (clipped to the input; the padding holds nothing).
struct PoolWindows {
    let window: Window2D
    let planes: Int, h: Int, w: Int
    let kernel: (Int, Int), strides: (Int, Int), pads: (Int, Int), padsEnd: (Int, Int), dilations: (Int, Int)
    var count: Int { planes * window.output[0] * window.output[1] }

    init(_ shape: [Int], _ attributes: Kernel.WindowAttributes, ceilMode: Bool) throws(KernelError) {
        guard shape.count == 4, let k = attributes.kernelShape else { throw KernelError("pooling evaluates 2-D windows over [N, C, H, W], got \(shape)") }
        window = try Window2D(input: [shape[2], shape[3]], kernel: k, attributes, ceilMode: ceilMode)
        _ = try checkedCount([shape[0], shape[1], window.output[0], window.output[1]])
        (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        kernel = (k[0], k[1])
        strides = (window.strides[0], window.strides[1])
        pads = (window.padsBegin[0], window.padsBegin[1])
        padsEnd = (window.padsEnd[0], window.padsEnd[1])
        dilations = (window.dilations[0], window.dilations[1])
    }

    /// The divisor of an average window starting at (hs, ws) in input coordinates: its elements
    /// inside the input, or with `countIncludePad` the window clipped to the padded input; at least 1.
    @inline(__always) func divisor(_ rows: WindowSpan, _ columns: WindowSpan, _ hs: Int, _ ws: Int, countIncludePad: Bool) -> Int {
        guard countIncludePad else { return Swift.max(rows.count * columns.count, 1) }
        let he = Swift.min(hs + kernel.0, h + padsEnd.0), we = Swift.min(ws + kernel.1, w + padsEnd.1)
        return Swift.max((he - hs) * (we - ws), 1)
    }

    /// Calls `body(outputIndex, planeOffset, rows, columns, hs, ws)` for every window in output
    /// order; (hs, ws) is the window's first position in input coordinates (negative in the padding).
    @inline(__always) func forEachWindow(_ body: (Int, Int, WindowSpan, WindowSpan, Int, Int) -> Void) {
        let (ho, wo) = (window.output[0], window.output[1])
        @inline(__always) func span(_ start: Int, _ k: Int, _ d: Int, _ n: Int) -> WindowSpan {
            // i in 0..<k with 0 ≤ start + i·d < n.
            let first = start >= 0 ? 0 : (-start + d - 1) / d
            let limit = n - 1 - start
            let last = limit < 0 ? 0 : Swift.min(k, limit / d + 1)
            return WindowSpan(first: start + first * d, count: Swift.max(0, last - first), step: d)
        }
        var out = 0
        for plane in 0..<planes {
            for oh in 0..<ho {
                let hs = oh * strides.0 - pads.0
                let rows = span(hs, kernel.0, dilations.0, h)
                for ow in 0..<wo {
                    let ws = ow * strides.1 - pads.1
                    body(out, plane * h * w, rows, span(ws, kernel.1, dilations.1, w), hs, ws)
                    out += 1
                }
            }
        }
    }
}
