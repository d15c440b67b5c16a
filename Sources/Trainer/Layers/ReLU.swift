import Tensors

/// The rectifier y = max(x, 0) (PyTorch `nn.ReLU`), any shape.
///
/// Backward: ∂x = 1[x > 0]·∂y. R-operator: R{y} = 1[x > 0]·R{x}, R{∂x} = 1[x > 0]·R{∂y}
/// (the second derivative is zero almost everywhere; at x = 0 the subgradient 0 is used, as PyTorch does).
final class ReLU<Scalar: BLASScalar> {
    private var output: Dual<Scalar>?

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        let n = x.value.count
        // Every value (and tangent, when there is one to copy) is written below; a tangent pass on
        // a θ-free input gets a zero tangent.
        let y = pass.withTangents && x.tangent == nil ? Dual<Scalar>.zeros(x.shape, withTangent: true)
            : Dual<Scalar>.unset(x.shape, withTangent: pass.withTangents)
        let xv = x.value.pointer, yv = y.value.pointer
        // Written so the loops vectorise: `max` and multiplication by a 0/1 mask compile to
        // packed compares and ands; a `? :` select on the sign compiled to a branch per element
        // (mispredicted half the time on activations). NaN propagates, as in PyTorch.
        for i in 0..<n { yv[i] = Swift.max(xv[i], 0) }
        if let ry = y.tangent, let rx = x.tangent {
            for i in 0..<n { let m: Scalar = xv[i] > 0 ? 1 : 0; ry.pointer[i] = rx.pointer[i] * m }
        }
        output = y
        return y
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        guard let y = output else { preconditionFailure("ReLU.backward before forward") }
        let n = y.value.count
        let dx = pass.withTangents && dy.tangent == nil ? Dual<Scalar>.zeros(y.shape, withTangent: true)
            : Dual<Scalar>.unset(y.shape, withTangent: pass.withTangents)
        let yv = y.value.pointer
        let dyv = dy.value.pointer, dxv = dx.value.pointer
        for i in 0..<n { let m: Scalar = yv[i] > 0 ? 1 : 0; dxv[i] = dyv[i] * m }
        if let rdx = dx.tangent, let rdy = dy.tangent {
            for i in 0..<n { let m: Scalar = yv[i] > 0 ? 1 : 0; rdx.pointer[i] = rdy.pointer[i] * m }
        }
        return dx
    }

    func releaseCache() { output = nil }
}

/// Reinterprets `[B, C, H, W]` as `[B, C·H·W]` (PyTorch `nn.Flatten`); no arithmetic.
final class Flatten<Scalar: BLASScalar> {
    private var inputShape: [Int] = []

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        inputShape = x.shape
        var y = x
        y.shape = [x.batch, x.perSample]
        return y
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        var dx = dy
        dx.shape = inputShape
        return dx
    }
}
