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
        precondition(x.perSample == inFeatures, "Linear expects \(inFeatures) features, got \(x.shape)")
        let b = x.batch, n = inFeatures, m = outFeatures
        input = x
        if let y = pass.leadingOutput(offset: parameterOffset, input: x) { return y }
        // Values: the bias broadcast (or the β = 0 product) writes every one; a tangent without
        // a bias to broadcast starts from zero (its products accumulate).
        var y = Dual<Scalar>(shape: [b, m], value: Buffer(uninitializedCount: b * m),
                             tangent: pass.withTangents ? (hasBias ? Buffer(uninitializedCount: b * m) : Buffer(count: b * m)) : nil)
        let w = pass.parameters + parameterOffset
        if hasBias { broadcastRows(pass.parameters + biasOffset, into: y.value.pointer, rows: b, columns: m) }
        gemm(false, true, m: b, n: m, k: n, x.value.pointer, lda: n, w, ldb: n,
             beta: hasBias ? 1 : 0, y.value.pointer, ldc: m)
        if let v = pass.direction, let ry = y.tangent {
            if hasBias { broadcastRows(v + biasOffset, into: ry.pointer, rows: b, columns: m) }
            if let rx = x.tangent, !x.constant {
                gemm(false, true, m: b, n: m, k: n, rx.pointer, lda: n, w, ldb: n, beta: 1, ry.pointer, ldc: m)
            }
            gemm(false, true, m: b, n: m, k: n, x.value.pointer, lda: n, v + parameterOffset, ldb: n,
                 beta: 1, ry.pointer, ldc: m)
        }
        y.shape = [b, m]
        return y
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        let b = x.batch, n = inFeatures, m = outFeatures
        let w = pass.parameters + parameterOffset
        if let g = pass.gradient {
            gemm(true, false, m: m, n: n, k: b, dy.value.pointer, lda: m, x.value.pointer, ldb: n,
                 beta: 1, g + parameterOffset, ldc: n)
            if hasBias { sumRows(dy.value.pointer, rows: b, columns: m, into: g + biasOffset) }
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
        var dx = Dual<Scalar>(shape: x.shape, value: Buffer(uninitializedCount: b * n),
                              tangent: pass.withTangents ? (dy.tangent != nil ? Buffer(uninitializedCount: b * n) : Buffer(count: b * n)) : nil)
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

/// Copies the vector `row` (`columns` long) into every row of a `[rows, columns]` matrix.
@inline(__always)
func broadcastRows<S: BLASScalar>(_ row: UnsafePointer<S>, into out: UnsafeMutablePointer<S>, rows: Int, columns: Int) {
    for r in 0..<rows { (out + r * columns).update(from: row, count: columns) }
}

/// out[j] += Σ_r m[r, j] for a `[rows, columns]` matrix.
@inline(__always)
func sumRows<S: BLASScalar>(_ m: UnsafePointer<S>, rows: Int, columns: Int, into out: UnsafeMutablePointer<S>) {
    for r in 0..<rows {
        let row = m + r * columns
        for j in 0..<columns { out[j] += row[j] }
    }
}
