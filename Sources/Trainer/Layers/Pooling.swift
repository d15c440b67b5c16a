import Tensors

/// Max pooling over k×k windows (PyTorch `nn.MaxPool2d(k, stride)`, no padding).
///
/// Shapes: x `[B, C, H, W]` → y `[B, C, Ho, Wo]`. y = x[argmax]; ∂x scatters ∂y to the argmax;
/// R{y} = R{x}[argmax], R{∂x} scatters R{∂y} the same way (the argmax is locally constant).
/// Ties go to the first maximum in row-major window order, as PyTorch's CPU kernel.
final class MaxPool2d<Scalar: BLASScalar> {
    let kernelSize: Int, stride: Int
    private var inputShape: [Int] = []
    private var argmax: [Int32] = []

    init(kernelSize: Int, stride: Int? = nil) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    func outputShape(_ sample: [Int]) -> [Int]? {
        guard sample.count == 3 else { return nil }
        let ho = (sample[1] - kernelSize) / stride + 1, wo = (sample[2] - kernelSize) / stride + 1
        return ho > 0 && wo > 0 ? [sample[0], ho, wo] : nil
    }

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        precondition(x.shape.count == 4, "MaxPool2d expects NCHW, got \(x.shape)")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        let ho = (h - kernelSize) / stride + 1, wo = (w - kernelSize) / stride + 1
        // Every output (and tangent, when the input has one) is written below.
        let outShape = [x.shape[0], x.shape[1], ho, wo]
        let y = pass.withTangents && x.tangent == nil ? Dual<Scalar>.zeros(outShape, withTangent: true)
            : Dual<Scalar>.unset(outShape, withTangent: pass.withTangents)
        argmax = [Int32](repeating: 0, count: planes * ho * wo)
        let xv = x.value.pointer, yv = y.value.pointer
        let (rx, ry) = (x.tangent.map { UnsafePointer($0.pointer) }, y.tangent?.pointer)
        let square = kernelSize == 2 && stride == 2
        argmax.withUnsafeMutableBufferPointer { am in
            guard let indices = am.baseAddress else { return }
            // Planes on the OpenMP team: each output depends on its own plane only, so any split
            // gives the same bits.
            OpenMPTeam.forEachPart(count: planes, threads: OpenMPTeam.threads(forElements: planes * h * w), alignment: 1) { part in
                if square {
                    self.pool2x2(UnsafePointer(xv), yv, indices, planes: part, h: h, w: w, ho: ho, wo: wo)
                } else {
                    self.pool(UnsafePointer(xv), yv, indices, planes: part, h: h, w: w, ho: ho, wo: wo)
                }
                if let rx, let ry { Self.gather(part.lowerBound * ho * wo..<part.upperBound * ho * wo, rx, UnsafePointer(indices), ry) }
            }
        }
        return y
    }

    /// out[o] = source[index[o]] over `range`.
    private static func gather(_ range: Range<Int>, _ source: UnsafePointer<Scalar>, _ index: UnsafePointer<Int32>,
                               _ out: UnsafeMutablePointer<Scalar>) {
        for o in range { out[o] = source[Int(index[o])] }
    }

    /// out[index[o]] += d[o] over `range`, in order.
    private static func scatterAdding(_ range: Range<Int>, _ d: UnsafePointer<Scalar>, _ index: UnsafePointer<Int32>,
                                      _ out: UnsafeMutablePointer<Scalar>) {
        for o in range { out[Int(index[o])] += d[o] }
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        let dx = Dual<Scalar>.zeros(inputShape, withTangent: pass.withTangents)
        let (dyv, dxv) = (UnsafePointer(dy.value.pointer), dx.value.pointer)
        let (rdy, rdx) = (dy.tangent.map { UnsafePointer($0.pointer) }, dx.tangent?.pointer)
        let planes = inputShape.count == 4 ? inputShape[0] * inputShape[1] : 1
        argmax.withUnsafeBufferPointer { am in
            guard let indices = am.baseAddress, planes > 0 else { return }
            // By planes: a plane's outputs scatter into that plane only, in the same order.
            let perPlane = am.count / planes
            OpenMPTeam.forEachPart(count: planes, threads: OpenMPTeam.threads(forElements: dx.value.count), alignment: 1) { part in
                let outputs = part.lowerBound * perPlane..<part.upperBound * perPlane
                Self.scatterAdding(outputs, dyv, indices, dxv)
                if let rdy, let rdx { Self.scatterAdding(outputs, rdy, indices, rdx) }
            }
        }
        return dx
    }

    func releaseCache() { argmax = [] }

    /// Any window and stride: the first maximum in row-major window order.
    private func pool(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, _ am: UnsafeMutablePointer<Int32>,
                      planes: Range<Int>, h: Int, w: Int, ho: Int, wo: Int) {
        for pl in planes {
            let base = pl * h * w
            for oh in 0..<ho {
                for ow in 0..<wo {
                    var best = base + (oh * stride) * w + ow * stride
                    for i in 0..<kernelSize {
                        let row = base + (oh * stride + i) * w + ow * stride
                        for j in 0..<kernelSize where x[row + j] > x[best] { best = row + j }
                    }
                    let o = (pl * ho + oh) * wo + ow
                    y[o] = x[best]
                    am[o] = Int32(truncatingIfNeeded: best)
                }
            }
        }
    }

    /// The 2×2, stride-2 case (every pooling layer of the shallow CNN and VGG): the same
    /// comparisons in the same order as the general loop, unrolled, with no index arithmetic per
    /// window element (the general loop was an eighth of a shallow-CNN training step).
    @inline(never)  // its loops keep the pointers in registers (inlined into the team's closure, they reloaded them)
    private func pool2x2(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, _ am: UnsafeMutablePointer<Int32>,
                         planes: Range<Int>, h: Int, w: Int, ho: Int, wo: Int) {
        for pl in planes {
            for oh in 0..<ho {
                let top = pl * h * w + 2 * oh * w, bottom = top + w
                let out = (pl * ho + oh) * wo
                for ow in 0..<wo {
                    let a = top + 2 * ow, c = bottom + 2 * ow
                    var best = a, value = x[a]
                    if x[a + 1] > value { best = a + 1; value = x[a + 1] }
                    if x[c] > value { best = c; value = x[c] }
                    if x[c + 1] > value { best = c + 1; value = x[c + 1] }
                    y[out + ow] = value
                    am[out + ow] = Int32(truncatingIfNeeded: best)
                }
            }
        }
    }
}

/// Average pooling over k×k windows (PyTorch `nn.AvgPool2d(k, stride)`, no padding).
///
/// Linear in x, so R{y} = pool(R{x}) and R{∂x} = poolᵀ(R{∂y}); each is the same loop.
final class AvgPool2d<Scalar: BLASScalar> {
    let kernelSize: Int, stride: Int
    private var inputShape: [Int] = []

    init(kernelSize: Int, stride: Int? = nil) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    func outputShape(_ sample: [Int]) -> [Int]? {
        guard sample.count == 3 else { return nil }
        let ho = (sample[1] - kernelSize) / stride + 1, wo = (sample[2] - kernelSize) / stride + 1
        return ho > 0 && wo > 0 ? [sample[0], ho, wo] : nil
    }

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        precondition(x.shape.count == 4, "AvgPool2d expects NCHW, got \(x.shape)")
        inputShape = x.shape
        let h = x.shape[2], w = x.shape[3]
        let ho = (h - kernelSize) / stride + 1, wo = (w - kernelSize) / stride + 1
        let y = Dual<Scalar>.zeros([x.shape[0], x.shape[1], ho, wo], withTangent: pass.withTangents)
        pool(x.value.pointer, y.value.pointer, planes: x.shape[0] * x.shape[1], h: h, w: w, ho: ho, wo: wo)
        if let rx = x.tangent, let ry = y.tangent {
            pool(rx.pointer, ry.pointer, planes: x.shape[0] * x.shape[1], h: h, w: w, ho: ho, wo: wo)
        }
        return y
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        let h = inputShape[2], w = inputShape[3]
        let ho = (h - kernelSize) / stride + 1, wo = (w - kernelSize) / stride + 1
        let planes = inputShape[0] * inputShape[1]
        let dx = Dual<Scalar>.zeros(inputShape, withTangent: pass.withTangents)
        unpool(dy.value.pointer, dx.value.pointer, planes: planes, h: h, w: w, ho: ho, wo: wo)
        if let rdy = dy.tangent, let rdx = dx.tangent {
            unpool(rdy.pointer, rdx.pointer, planes: planes, h: h, w: w, ho: ho, wo: wo)
        }
        return dx
    }

    private func pool(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, planes: Int, h: Int, w: Int, ho: Int, wo: Int) {
        let scale = 1 / Scalar(kernelSize * kernelSize)
        for pl in 0..<planes {
            for oh in 0..<ho {
                for ow in 0..<wo {
                    var s: Scalar = 0
                    for i in 0..<kernelSize {
                        let row = x + pl * h * w + (oh * stride + i) * w + ow * stride
                        for j in 0..<kernelSize { s += row[j] }
                    }
                    y[(pl * ho + oh) * wo + ow] = s * scale
                }
            }
        }
    }

    private func unpool(_ dy: UnsafePointer<Scalar>, _ dx: UnsafeMutablePointer<Scalar>, planes: Int, h: Int, w: Int, ho: Int, wo: Int) {
        let scale = 1 / Scalar(kernelSize * kernelSize)
        for pl in 0..<planes {
            for oh in 0..<ho {
                for ow in 0..<wo {
                    let g = dy[(pl * ho + oh) * wo + ow] * scale
                    for i in 0..<kernelSize {
                        let row = dx + pl * h * w + (oh * stride + i) * w + ow * stride
                        for j in 0..<kernelSize { row[j] += g }
                    }
                }
            }
        }
    }
}

/// Global average pooling to `[B, C]` (PyTorch `nn.AdaptiveAvgPool2d(1)` followed by `flatten(1)`).
///
/// y[b, c] = mean over H·W of x[b, c]; linear, so R{y} and R{∂x} reuse the same loops.
final class GlobalAvgPool<Scalar: BLASScalar> {
    private var inputShape: [Int] = []

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        precondition(x.shape.count == 4, "GlobalAvgPool expects NCHW, got \(x.shape)")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        let y = Dual<Scalar>.zeros([x.shape[0], x.shape[1]], withTangent: pass.withTangents)
        let scale = 1 / Scalar(hw)
        for pl in 0..<planes {
            var s: Scalar = 0
            for i in 0..<hw { s += x.value.pointer[pl * hw + i] }
            y.value.pointer[pl] = s * scale
            if let rx = x.tangent, let ry = y.tangent {
                var r: Scalar = 0
                for i in 0..<hw { r += rx.pointer[pl * hw + i] }
                ry.pointer[pl] = r * scale
            }
        }
        return y
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        let planes = inputShape[0] * inputShape[1], hw = inputShape[2] * inputShape[3]
        let dx = Dual<Scalar>.zeros(inputShape, withTangent: pass.withTangents)
        let scale = 1 / Scalar(hw)
        for pl in 0..<planes {
            (dx.value.pointer + pl * hw).update(repeating: dy.value.pointer[pl] * scale, count: hw)
            if let rdy = dy.tangent, let rdx = dx.tangent {
                (rdx.pointer + pl * hw).update(repeating: rdy.pointer[pl] * scale, count: hw)
            }
        }
        return dx
    }
}
