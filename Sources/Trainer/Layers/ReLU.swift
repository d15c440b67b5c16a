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
        // `max` and multiplication by a 0/1 mask: packed compares, no branch per element
        // (a select on the sign was mispredicted half the time on activations). NaN
        // propagates, as in PyTorch.
        let (rx, ry) = (x.tangent.map { UnsafePointer($0.pointer) }, y.tangent?.pointer)
        OpenMPTeam.forEachPart(count: n, threads: OpenMPTeam.threads(forElements: n)) { part in
            Self.rectify(part, UnsafePointer(xv), yv)
            if let rx, let ry { Self.masked(part, by: UnsafePointer(xv), rx, ry) }
        }
        output = y
        return y
    }

    /// Takes `y`, already rectified by the layer before (a `Linear` whose product applied max(·, 0)),
    /// as this layer's output for the backward pass: what `forward` would have cached.
    func adopt(_ y: Dual<Scalar>) { output = y }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        guard let y = output else { preconditionFailure("ReLU.backward before forward") }
        let n = y.value.count
        let dx = pass.withTangents && dy.tangent == nil ? Dual<Scalar>.zeros(y.shape, withTangent: true)
            : Dual<Scalar>.unset(y.shape, withTangent: pass.withTangents)
        let yv = y.value.pointer
        let dyv = dy.value.pointer, dxv = dx.value.pointer
        let (rdy, rdx) = (dy.tangent.map { UnsafePointer($0.pointer) }, dx.tangent?.pointer)
        OpenMPTeam.forEachPart(count: n, threads: OpenMPTeam.threads(forElements: n)) { part in
            Self.masked(part, by: UnsafePointer(yv), UnsafePointer(dyv), dxv)
            if let rdy, let rdx { Self.masked(part, by: UnsafePointer(yv), rdy, rdx) }
        }
        return dx
    }

    /// y = max(x, 0) over `range` (`BLASScalar.rectify`: vectorised in C for the CPU's
    /// AVX-512/AVX2 units, the same bits as `Swift.max(x[i], 0)`).
    private static func rectify(_ range: Range<Int>, _ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>) {
        Scalar.rectify(count: range.count, x: x + range.lowerBound, y: y + range.lowerBound)
    }

    /// out = d where `sign` > 0, else 0 (d · 1 or d · 0, so NaN propagates), over `range`.
    private static func masked(_ range: Range<Int>, by sign: UnsafePointer<Scalar>, _ d: UnsafePointer<Scalar>, _ out: UnsafeMutablePointer<Scalar>) {
        Scalar.maskByPositive(count: range.count, sign: sign + range.lowerBound, d: d + range.lowerBound, out: out + range.lowerBound)
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
