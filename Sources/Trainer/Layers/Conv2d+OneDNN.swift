import Tensors

/// Conv2d's float32 route: the same products as the im2col route (see `Conv2d`), each one
/// oneDNN call over the whole batch.
///
/// Forward: y = conv(x; W, b); R{y} = conv(x; V, v_b) + conv(R{x}; W, 0).
/// Backward: ∂x = convᵀ(∂y; W); ∂W, ∂b = conv_w(x, ∂y);
/// Hv_W += conv_w(x, R{∂y}) + conv_w(R{x}, ∂y), Hv_b += Σ R{∂y};
/// R{∂x} = convᵀ(R{∂y}; W) + convᵀ(∂y; V).
/// Every result is computed before anything is accumulated into the gradient or Hv, so a
/// failing oneDNN call (nil) leaves the pass untouched for the im2col route to redo.
extension Conv2d {
    /// The primitives for this input shape and the current BLAS thread count, built on first use;
    /// nil for float64, when disabled, or when oneDNN cannot build them.
    private func primitives(_ shape: [Int]) -> OneDNNConvolution? {
        guard Scalar.self == Float.self, usesOneDNN, OneDNNConvolution.enabled else { return nil }
        var g = OneDNNConvolution.Geometry(batch: shape[0], channels: inChannels, height: shape[2], width: shape[3], outChannels: outChannels,
                                           kernelHeight: kernelSize, kernelWidth: kernelSize, hasBias: hasBias, threads: BLAS.threadCount)
        (g.strideHeight, g.strideWidth) = (stride, stride)
        (g.padTop, g.padLeft, g.padBottom, g.padRight) = (padding, padding, padding, padding)
        if let cached = oneDNN, cached.geometry == g { return cached }
        oneDNN = OneDNNConvolution(g)
        return oneDNN
    }

    func forwardOneDNN(_ x: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar>? {
        guard let conv = primitives(x.shape), let sample = outputShape(Array(x.shape.dropFirst())) else { return nil }
        // oneDNN writes every output element (and, in a tangent pass, every tangent element).
        let y = Dual<Scalar>.unset([x.batch] + sample, withTangent: pass.withTangents)
        let w = f(pass.parameters + parameterOffset), b = hasBias ? f(pass.parameters + biasOffset) : nil
        guard conv.forward(f(x.value.pointer), weight: w, bias: b, into: f(y.value.pointer)) else { return nil }
        guard let v = pass.direction, let ry = y.tangent else { return y }
        guard conv.forward(f(x.value.pointer), weight: f(v + parameterOffset), bias: hasBias ? f(v + biasOffset) : nil,
                           into: f(ry.pointer)) else { return nil }
        if let rx = x.tangent, !x.constant {
            let term = Buffer<Scalar>(uninitializedCount: ry.count)
            guard conv.forward(f(rx.pointer), weight: w, bias: nil, into: f(term.pointer)) else { return nil }
            axpy(ry.count, 1, term.pointer, ry.pointer)
        }
        return y
    }

    func backwardOneDNN(_ x: Dual<Scalar>, _ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar>? {
        guard let conv = primitives(x.shape) else { return nil }
        let needInput = !x.constant
        // ∂x is written whole by the backward-data primitive; R{∂x} too when there is an R{∂y}.
        let dx = !needInput ? .noGradient(x.shape) : pass.withTangents && dy.tangent == nil ? Dual<Scalar>.zeros(x.shape, withTangent: true)
            : Dual<Scalar>.unset(x.shape, withTangent: pass.withTangents)
        let w = f(pass.parameters + parameterOffset), dyv = f(dy.value.pointer)
        let n = weightCount + (hasBias ? outChannels : 0)
        // ∂θ terms, each [W, b] laid out as in θ: gradient, then Hv's two terms.
        let terms = Buffer<Scalar>(count: 3 * n)
        func weights(_ i: Int) -> UnsafeMutablePointer<Float> { f(terms.pointer + i * n) }
        func bias(_ i: Int) -> UnsafeMutablePointer<Float>? { hasBias ? f(terms.pointer + i * n + weightCount) : nil }
        if needInput { guard conv.backwardData(weight: w, dyv, into: f(dx.value.pointer)) else { return nil } }
        if pass.gradient != nil { guard conv.backwardWeights(f(x.value.pointer), dyv, into: weights(0), bias: bias(0)) else { return nil } }
        var inputTerm = false
        if let v = pass.direction, let rdy = dy.tangent {
            if pass.hvp != nil {
                guard conv.backwardWeights(f(x.value.pointer), f(rdy.pointer), into: weights(1), bias: bias(1)) else { return nil }
                if let rx = x.tangent, needInput {
                    guard conv.backwardWeights(f(rx.pointer), dyv, into: weights(2), bias: bias(2)) else { return nil }
                    inputTerm = true
                }
            }
            if needInput, let rdx = dx.tangent {
                let term = Buffer<Scalar>(uninitializedCount: rdx.count)
                guard conv.backwardData(weight: w, f(rdy.pointer), into: f(rdx.pointer)),
                      conv.backwardData(weight: f(v + parameterOffset), dyv, into: f(term.pointer)) else { return nil }
                axpy(rdx.count, 1, term.pointer, rdx.pointer)
            }
        }
        if let grad = pass.gradient { axpy(n, 1, terms.pointer, grad + parameterOffset) }
        if let hv = pass.hvp, pass.direction != nil, dy.tangent != nil {
            axpy(n, 1, terms.pointer + n, hv + parameterOffset)
            // The R{x} term adds to Hv_W only: its bias part (Σ ∂y) belongs to the gradient.
            if inputTerm { axpy(weightCount, 1, terms.pointer + 2 * n, hv + parameterOffset) }
        }
        return dx
    }

    /// A `Scalar` pointer as float32 (called only when `Scalar` is `Float`).
    @inline(__always)
    private func f(_ p: UnsafePointer<Scalar>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(mutating: p).assumingMemoryBound(to: Float.self)
    }

    @inline(__always)
    private func f(_ p: UnsafeMutablePointer<Scalar>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }
}
