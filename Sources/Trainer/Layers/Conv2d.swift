import Tensors

/// A 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`): in float32 by oneDNN's
/// primitives over the whole batch (`Conv2d+OneDNN.swift`), otherwise (float64, or oneDNN
/// unavailable) by im2col and `gemm`, as below.
///
/// Shapes: x `[B, C, H, W]`, W `[O, C, kh, kw]` (OIHW, `weight`), b `[O]` (`bias`),
/// y `[B, O, Ho, Wo]`. Per image, with cols = im2col(x_b) `[C·kh·kw, Ho·Wo]`:
/// y_b = W·cols + b; ∂W += ∂y_b·colsᵀ; ∂x_b = col2im(Wᵀ·∂y_b).
/// R-operator: R{y_b} = W·R{cols} + V·cols + v_b; R{∂W} += R{∂y_b}·colsᵀ + ∂y_b·R{cols}ᵀ;
/// R{∂x_b} = col2im(Wᵀ·R{∂y_b} + Vᵀ·∂y_b), where R{cols} = im2col(R{x_b}) since im2col is linear.
/// The column matrix is recomputed in backward rather than stored: it is cheap next to the
/// `gemm`s and would otherwise cost C·kh·kw·Ho·Wo scalars per image.
final class Conv2d<Scalar: BLASScalar> {
    let inChannels: Int, outChannels: Int
    let kernelSize: Int, stride: Int, padding: Int
    let hasBias: Bool
    var parameterOffset = 0
    /// The input of the last forward pass, read by backward.
    var input: Dual<Scalar>?
    /// oneDNN's primitives for the last input shape and thread count (float32 only).
    var oneDNN: OneDNNConvolution?
    /// False keeps this layer on the im2col route in float32 too (tests compare the two routes).
    var usesOneDNN = true

    init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.hasBias = bias
    }

    var parameterShapes: [(name: String, shape: [Int])] {
        let w: (name: String, shape: [Int]) = ("weight", [outChannels, inChannels, kernelSize, kernelSize])
        return hasBias ? [w, ("bias", [outChannels])] : [w]
    }

    var weightCount: Int { outChannels * inChannels * kernelSize * kernelSize }
    var biasOffset: Int { parameterOffset + weightCount }

    func geometry(_ shape: [Int]) -> WindowGeometry {
        WindowGeometry(channels: shape[1], height: shape[2], width: shape[3], kernelHeight: kernelSize,
                       kernelWidth: kernelSize, stride: stride, padding: padding)
    }

    /// `[C, H, W]` → `[O, Ho, Wo]`, or nil when the shape does not fit.
    func outputShape(_ sample: [Int]) -> [Int]? {
        guard sample.count == 3, sample[0] == inChannels else { return nil }
        let g = WindowGeometry(channels: sample[0], height: sample[1], width: sample[2], kernelHeight: kernelSize,
                               kernelWidth: kernelSize, stride: stride, padding: padding)
        guard g.outputHeight > 0, g.outputWidth > 0 else { return nil }
        return [outChannels, g.outputHeight, g.outputWidth]
    }

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels, "Conv2d expects [B, \(inChannels), H, W], got \(x.shape)")
        input = x
        if let y = pass.leadingOutput(offset: parameterOffset, input: x) { return y }
        if let y = forwardOneDNN(x, pass) { return y }
        let g = geometry(x.shape)
        let o = outChannels, k = g.patchSize, p = g.outputPixels, inSize = x.perSample
        let y = Dual<Scalar>.zeros([x.batch, o, g.outputHeight, g.outputWidth], withTangent: pass.withTangents)
        let w = pass.parameters + parameterOffset
        let cols = g.isPointwise ? nil : Buffer<Scalar>(count: k * p)
        let rcols = (g.isPointwise || !pass.withTangents) ? nil : Buffer<Scalar>(count: k * p)
        for b in 0..<x.batch {
            let colsB = columns(x.value.pointer + b * inSize, g, cols)
            let yb = y.value.pointer + b * o * p
            if hasBias { broadcastColumns(pass.parameters + biasOffset, into: yb, rows: o, columns: p) }
            gemm(false, false, m: o, n: p, k: k, w, lda: k, colsB, ldb: p, beta: hasBias ? 1 : 0, yb, ldc: p)
            if let v = pass.direction, let ry = y.tangent {
                let ryb = ry.pointer + b * o * p
                if hasBias { broadcastColumns(v + biasOffset, into: ryb, rows: o, columns: p) }
                gemm(false, false, m: o, n: p, k: k, v + parameterOffset, lda: k, colsB, ldb: p, beta: 1, ryb, ldc: p)
                if let rx = x.tangent, !x.constant {
                    let rcolsB = columns(rx.pointer + b * inSize, g, rcols)
                    gemm(false, false, m: o, n: p, k: k, w, lda: k, rcolsB, ldb: p, beta: 1, ryb, ldc: p)
                }
            }
        }
        return y
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        guard let x = input else { preconditionFailure("Conv2d.backward before forward") }
        if let dx = backwardOneDNN(x, dy, pass) { return dx }
        let g = geometry(x.shape)
        let o = outChannels, k = g.patchSize, p = g.outputPixels, inSize = x.perSample
        // A constant input (the network's) needs no ∂x or R{∂x}, only the parameters' terms.
        let needInput = !x.constant
        let dx = needInput ? Dual<Scalar>.zeros(x.shape, withTangent: pass.withTangents) : .noGradient(x.shape)
        let w = pass.parameters + parameterOffset
        let cols = g.isPointwise ? nil : Buffer<Scalar>(count: k * p)
        let rcols = (g.isPointwise || !pass.withTangents) ? nil : Buffer<Scalar>(count: k * p)
        let dcols = Buffer<Scalar>(count: needInput ? k * p : 0)
        for b in 0..<x.batch {
            let dyb = dy.value.pointer + b * o * p
            let colsB = columns(x.value.pointer + b * inSize, g, cols)
            if let grad = pass.gradient {
                gemm(false, true, m: o, n: k, k: p, dyb, lda: p, colsB, ldb: p, beta: 1, grad + parameterOffset, ldc: k)
                if hasBias { sumColumns(dyb, rows: o, columns: p, into: grad + biasOffset) }
            }
            if needInput {
                gemm(true, false, m: k, n: p, k: o, w, lda: k, dyb, ldb: p, beta: 0, dcols.pointer, ldc: p)
                fold(dcols.pointer, g, into: dx.value.pointer + b * inSize)
            }
            guard let v = pass.direction, let rdy = dy.tangent else { continue }
            let rdyb = rdy.pointer + b * o * p
            if let hv = pass.hvp {
                gemm(false, true, m: o, n: k, k: p, rdyb, lda: p, colsB, ldb: p, beta: 1, hv + parameterOffset, ldc: k)
                if let rx = x.tangent, needInput {
                    let rcolsB = columns(rx.pointer + b * inSize, g, rcols)
                    gemm(false, true, m: o, n: k, k: p, dyb, lda: p, rcolsB, ldb: p, beta: 1, hv + parameterOffset, ldc: k)
                }
                if hasBias { sumColumns(rdyb, rows: o, columns: p, into: hv + biasOffset) }
            }
            guard needInput, let rdx = dx.tangent else { continue }
            gemm(true, false, m: k, n: p, k: o, w, lda: k, rdyb, ldb: p, beta: 0, dcols.pointer, ldc: p)
            gemm(true, false, m: k, n: p, k: o, v + parameterOffset, lda: k, dyb, ldb: p, beta: 1, dcols.pointer, ldc: p)
            fold(dcols.pointer, g, into: rdx.pointer + b * inSize)
        }
        return dx
    }

    /// The primitives stay: they hold no activation-sized memory (see `OneDNNConvolution`).
    func releaseCache() { input = nil }

    /// The column matrix of one image: the image itself for pointwise kernels, else im2col into `scratch`.
    @inline(__always)
    private func columns(_ image: UnsafeMutablePointer<Scalar>, _ g: WindowGeometry, _ scratch: Buffer<Scalar>?) -> UnsafeMutablePointer<Scalar> {
        guard let scratch else { return image }
        im2col(image, g, scratch.pointer)
        return scratch.pointer
    }

    @inline(__always)
    private func fold(_ cols: UnsafeMutablePointer<Scalar>, _ g: WindowGeometry, into image: UnsafeMutablePointer<Scalar>) {
        if g.isPointwise { axpy(g.patchSize * g.outputPixels, 1, cols, image) } else { col2imAdding(cols, g, image) }
    }
}

/// Sets row r of a `[rows, columns]` matrix to the constant values[r].
@inline(__always)
func broadcastColumns<S: BLASScalar>(_ values: UnsafePointer<S>, into out: UnsafeMutablePointer<S>, rows: Int, columns: Int) {
    for r in 0..<rows { (out + r * columns).update(repeating: values[r], count: columns) }
}

/// out[r] += Σ_j m[r, j] for a `[rows, columns]` matrix.
@inline(__always)
func sumColumns<S: BLASScalar>(_ m: UnsafePointer<S>, rows: Int, columns: Int, into out: UnsafeMutablePointer<S>) {
    for r in 0..<rows {
        let row = m + r * columns
        var s: S = 0
        for j in 0..<columns { s += row[j] }
        out[r] += s
    }
}
