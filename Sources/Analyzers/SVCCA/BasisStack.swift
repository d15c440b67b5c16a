import Foundation
import Tensors

extension RepresentationSimilarity {
    /// The precision of the products of kept bases, `U_aᵀ·U_b`, which dominate a heatmap's
    /// arithmetic (`≈ 2·datapoints·k_a·k_b` per cell). The bases themselves are always formed in
    /// float64, and every canonical correlation is a float64 SVD of the product.
    public enum ProductPrecision: String, Sendable, Codable, CaseIterable {
        /// `dgemm`: the products to float64 rounding (the reference route).
        case float64
        /// The bases rounded to float32 and multiplied by `sgemm` over blocks of
        /// `float32Block` datapoints, the blocks summed in float64: twice `dgemm`'s speed and
        /// half its memory. The rounding moves the product by `‖ΔM‖₂`, and by Weyl's inequality
        /// every canonical correlation (so their mean) by at most that much. No worst-case bound
        /// on `‖ΔM‖₂` is below 1e-6 at heatmap sizes (`γ_block·‖|U_a|ᵀ|U_b|‖₂` is ≈ 1e-2 for
        /// 10 000 datapoints and 500 directions); measured it is ≈ 2e-7, and the mean moves by
        /// ≈ 1e-10 (docs/PERFORMANCE.md), so this route is opt-in.
        case float32
    }

    /// Datapoints per float32 block; each block's `sgemm` accumulates at most this many terms
    /// in float32 before the sum goes to float64.
    static let float32Block = 1024

    /// The leading `columns` columns of a prepared layer's basis, transposed to
    /// `[columns, datapoints]` and rounded to `S`.
    static func transposedBasis<S: BLASScalar>(_ layer: PreparedLayer, columns: Int, as: S.Type) -> [S] {
        let n = layer.datapoints, stride = layer.basisColumns
        var out = [S](repeating: 0, count: columns * n)
        layer.u.withUnsafeBufferPointer { u in
            out.withUnsafeMutableBufferPointer { o in
                // Blocks of rows keep both the reads and the writes within a few cache lines.
                let block = 64
                for r0 in Swift.stride(from: 0, to: n, by: block) {
                    let r1 = min(r0 + block, n)
                    for c in 0..<columns {
                        for r in r0..<r1 { o[c * n + r] = S(u[r * stride + c]) }
                    }
                }
            }
        }
        return out
    }

    /// `U_aᵀ·U_b` from two transposed bases (`[rowsA, datapoints]`, `[rowsB, datapoints]`, from
    /// `transposedBasis`), in float64, as a `[rowsA, rowsB]` tensor. Float64 bases take one
    /// `dgemm`; float32 bases one `sgemm` per block of `float32Block` datapoints, summed in
    /// float64. One call per pair of layers, whatever else is computed beside it, so the
    /// pair's bits do not depend on its neighbours (see `LayerSimilarityMatrix.compute(cells:…)`).
    static func product<S: BLASScalar>(_ aT: [S], rows rowsA: Int, _ bT: [S], rows rowsB: Int, datapoints n: Int) throws -> Tensor<Double> {
        var out = [Double](repeating: 0, count: rowsA * rowsB)
        if rowsA > 0, rowsB > 0, n > 0, aT.count >= rowsA * n, bT.count >= rowsB * n {
            aT.withUnsafeBufferPointer { a in
                bT.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer { c in
                        guard let pa = a.baseAddress, let pb = b.baseAddress, let pc = c.baseAddress else { return }
                        if S.self == Double.self {
                            pa.withMemoryRebound(to: Double.self, capacity: a.count) { da in
                                pb.withMemoryRebound(to: Double.self, capacity: b.count) { db in
                                    Double.gemm(transposeA: false, transposeB: true, m: rowsA, n: rowsB, k: n, alpha: 1,
                                                a: da, lda: n, b: db, ldb: n, beta: 0, c: pc, ldc: rowsB)
                                }
                            }
                            return
                        }
                        var partial = [S](repeating: 0, count: rowsA * rowsB)
                        partial.withUnsafeMutableBufferPointer { t in
                            guard let pt = t.baseAddress else { return }
                            for start in Swift.stride(from: 0, to: n, by: float32Block) {
                                let k = min(float32Block, n - start)
                                S.gemm(transposeA: false, transposeB: true, m: rowsA, n: rowsB, k: k, alpha: 1,
                                       a: pa + start, lda: n, b: pb + start, ldb: n, beta: 0, c: pt, ldc: rowsB)
                                for i in 0..<(rowsA * rowsB) { pc[i] += Double(pt[i]) }
                            }
                        }
                    }
                }
            }
        }
        return try Tensor(shape: [rowsA, rowsB], scalars: out)
    }
}
