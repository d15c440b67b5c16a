import Tensors

/// A fully connected layer, y = x·Wᵀ + b (PyTorch `nn.Linear`).
///
/// Shapes: x `[B, in]`, W `[out, in]` (`weight`), b `[out]` (`bias`), y `[B, out]`.
/// Backward: ∂x = ∂y·W, ∂W = ∂yᵀ·x, ∂b = Σ_B ∂y.
/// R-operator (Pearlmutter 1994) with direction v = (V, v_b):
/// R{y} = R{x}·Wᵀ + x·Vᵀ + v_b; R{∂x} = R{∂y}·W + ∂y·V; R{∂W} = R{∂y}ᵀ·x + ∂yᵀ·R{x}.
/// Every product is one `gemm` over the whole batch.
final class Linear<Scalar: BLASScalar> {
    let inFeatures: Int
    let outFeatures: Int
    let hasBias: Bool
    /// Offset of `weight` in the flat parameter vector; `bias` follows it.
    var parameterOffset = 0
    private var input: Dual<Scalar>?

    init(inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.hasBias = bias
    }

    var parameterShapes: [(name: String, shape: [Int])] {
        hasBias ? [("weight", [outFeatures, inFeatures]), ("bias", [outFeatures])]
            : [("weight", [outFeatures, inFeatures])]
    }

    private var biasOffset: Int { parameterOffset + inFeatures * outFeatures }

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        forward(x, pass, rectify: false).output
    }

    /// y = x·Wᵀ + b; with `rectify`, max(x·Wᵀ + b, 0) where the product can apply the rectifier
    /// itself (`rectified`: a plain pass with a float32 oneDNN matmul, `Sequential` then skips
    /// the `ReLU` that follows and hands it this output). Otherwise y, for the `ReLU` to rectify.
    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>, rectify: Bool) -> (output: Dual<Scalar>, rectified: Bool) {
        precondition(x.perSample == inFeatures, "Linear expects \(inFeatures) features, got \(x.shape)")
        let b = x.batch, n = inFeatures, m = outFeatures
        input = x
        if let y = pass.leadingOutput(offset: parameterOffset, input: x) { return (y, false) }
        // Values: the product with its bias (or the bias broadcast then a β = 1 product, or a
        // β = 0 one) writes every one; a tangent without a bias to broadcast starts from zero
        // (its products accumulate).
        var y = Dual<Scalar>.unset([b, m], withTangent: pass.withTangents, tangentWritten: hasBias)
        let w = pass.parameters + parameterOffset
        let rectifies = rectify && !pass.withTangents
        let fused = Scalar.denseProduct(transposeA: false, transposeB: true, m: b, n: m, k: n, a: x.value.pointer, lda: n, b: w, ldb: n,
                                        bias: hasBias ? pass.parameters + biasOffset : nil, relu: rectifies, accumulate: false,
                                        c: y.value.pointer, ldc: m)
        if !fused {
            if hasBias { broadcastRows(pass.parameters + biasOffset, into: y.value.pointer, rows: b, columns: m) }
            gemm(false, true, m: b, n: m, k: n, x.value.pointer, lda: n, w, ldb: n,
                 beta: hasBias ? 1 : 0, y.value.pointer, ldc: m)
        }
        if let v = pass.direction, let ry = y.tangent {
            if hasBias { broadcastRows(v + biasOffset, into: ry.pointer, rows: b, columns: m) }
            if let rx = x.tangent, !x.constant {
                gemm(false, true, m: b, n: m, k: n, rx.pointer, lda: n, w, ldb: n, beta: 1, ry.pointer, ldc: m)
            }
            gemm(false, true, m: b, n: m, k: n, x.value.pointer, lda: n, v + parameterOffset, ldb: n,
                 beta: 1, ry.pointer, ldc: m)
        }
        y.shape = [b, m]
        return (y, fused && rectifies)
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        let b = x.batch, n = inFeatures, m = outFeatures
        let w = pass.parameters + parameterOffset
        if let g = pass.gradient {
            // Written whole when the pass left this slice unset (`Pass.linearGradientsUnset`).
            let fresh = pass.linearGradientsUnset
            gemm(true, false, m: m, n: n, k: b, dy.value.pointer, lda: m, x.value.pointer, ldb: n,
                 beta: fresh ? 0 : 1, g + parameterOffset, ldc: n)
            if hasBias { sumRows(dy.value.pointer, rows: b, columns: m, into: g + biasOffset, overwrite: fresh) }
        }
        if x.constant {
            // Only the parameters' Hv terms; no ∂x or R{∂x} (nothing before needs them, R{x} = 0).
            if let hv = pass.hvp, let rdy = dy.tangent {
                gemm(true, false, m: m, n: n, k: b, rdy.pointer, lda: m, x.value.pointer, ldb: n,
                     beta: 1, hv + parameterOffset, ldc: n)
                if hasBias { sumRows(rdy.pointer, rows: b, columns: m, into: hv + biasOffset) }
            }
            return .noGradient(x.shape)
        }
        // Both written whole by β = 0 products (R{∂x}'s first one below, when there is R{∂y}).
        var dx = Dual<Scalar>.unset(x.shape, withTangent: pass.withTangents, tangentWritten: dy.tangent != nil)
        gemm(false, false, m: b, n: n, k: m, dy.value.pointer, lda: m, w, ldb: n, beta: 0, dx.value.pointer, ldc: n)
        if let v = pass.direction, let rdy = dy.tangent, let rdx = dx.tangent {
            if let hv = pass.hvp {
                gemm(true, false, m: m, n: n, k: b, rdy.pointer, lda: m, x.value.pointer, ldb: n,
                     beta: 1, hv + parameterOffset, ldc: n)
                if let rx = x.tangent {
                    gemm(true, false, m: m, n: n, k: b, dy.value.pointer, lda: m, rx.pointer, ldb: n,
                         beta: 1, hv + parameterOffset, ldc: n)
                }
                if hasBias { sumRows(rdy.pointer, rows: b, columns: m, into: hv + biasOffset) }
            }
            gemm(false, false, m: b, n: n, k: m, rdy.pointer, lda: m, w, ldb: n, beta: 0, rdx.pointer, ldc: n)
            gemm(false, false, m: b, n: n, k: m, dy.value.pointer, lda: m, v + parameterOffset, ldb: n,
                 beta: 1, rdx.pointer, ldc: n)
        }
        dx.shape = x.shape
        return dx
    }

    func releaseCache() { input = nil }
}

/// Copies the vector `row` (`columns` long) into every row of a `[rows, columns]` matrix; the
/// rows split over the OpenMP team when the matrix is large (its threads would spin meanwhile).
@inline(__always)
func broadcastRows<S: BLASScalar>(_ row: UnsafePointer<S>, into out: UnsafeMutablePointer<S>, rows: Int, columns: Int) {
    OpenMPTeam.forEachPart(count: rows, threads: OpenMPTeam.threads(forElements: rows * columns), alignment: 1) { part in
        copyRows(part, row, out, columns)
    }
}

private func copyRows<S: BLASScalar>(_ rows: Range<Int>, _ row: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, _ columns: Int) {
    for r in rows { (out + r * columns).update(from: row, count: columns) }
}

/// out[j] += Σ_r m[r, j] for a `[rows, columns]` matrix (with `overwrite`, out[j] = +0 + Σ_r …,
/// the same bits as adding into zeros): the rows in order for each column, in C across the
/// columns (`BLASScalar.addColumnSums`), the columns split over the OpenMP team when the matrix
/// is large — each column's sum is its own, so any split gives the same bits.
@inline(__always)
func sumRows<S: BLASScalar>(_ m: UnsafePointer<S>, rows: Int, columns: Int, into out: UnsafeMutablePointer<S>, overwrite: Bool = false) {
    OpenMPTeam.forEachPart(count: columns, threads: OpenMPTeam.threads(forElements: rows * columns)) { part in
        S.addColumnSums(rows: rows, columns: part.count, m + part.lowerBound, ld: columns, into: out + part.lowerBound, overwrite: overwrite)
    }
}
