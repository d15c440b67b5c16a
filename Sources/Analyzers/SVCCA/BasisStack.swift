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
        /// The float64 bases split into int8 slices whose products oneDNN's AMX or VNNI kernels
        /// accumulate exactly (`SlicedBasis`): every canonical correlation within a proven bound
        /// (at most `SlicedBasis.tolerance` = 1e-7, reported per pair as `productBound`) of what
        /// the exact product of the float64 bases gives, at about twice `dgemm`'s speed. A layer
        /// whose bound would be larger, or too small for the slicing to pay, keeps its float64
        /// basis; without such kernels, or when PWCCA or CKA is asked for, this is `float64`.
        case int8
        /// `int8` where the int8 products run on AMX tiles (`OneDNNMatmul.int8OnAMX`), where they
        /// cost less than `dgemm`; `float64` elsewhere (VNNI's ten slice products cost more than
        /// one `dgemm`: measured on a Zen 4 core, docs/PERFORMANCE.md). The analyzer's default.
        case auto
    }

    /// The route the products take when `requested` is asked for with `measures` and
    /// `blasThreads` (`LayerSimilarityMatrix.blasThreads`, decided from the whole heatmap):
    /// `int8` only for SVCCA alone (PWCCA's vectors and CKA's entries are not covered by its
    /// bound), on a CPU with exact int8 kernels, with layers prepared in parallel (one BLAS
    /// thread each) — with the cores on each GEMM instead (fewer A layers than threads: a single
    /// pair) `dgemm` on both cores costs less than the slicing, which runs on one (measured:
    /// docs/PERFORMANCE.md). `float64` in its place otherwise.
    /// `auto` is `int8` under the same conditions when the int8 products run on AMX (`amx`).
    public static func productRoute(_ requested: ProductPrecision, measures: Measures, blasThreads: Int = 1,
                                    amx: Bool = OneDNNMatmul.int8OnAMX) -> ProductPrecision {
        if requested == .auto { return amx ? productRoute(.int8, measures: measures, blasThreads: blasThreads) : .float64 }
        guard requested == .int8 else { return requested }
        return measures.isDisjoint(with: [.pwcca, .cka]) && blasThreads <= 1 && OneDNNMatmul.exactInt8Available ? .int8 : .float64
    }

    /// A basis as the products of a pair need it: transposed (`[columns, datapoints]`) in float64
    /// or float32, or sliced.
    enum ProductBasis: Sendable {
        case float64([Double]), float32([Float]), sliced(SlicedBasis)

        /// Below this many multiply-adds in a layer's product with itself (datapoints · columns²)
        /// the int8 route's fixed costs outweigh `dgemm`.
        static let slicingMinimum = 1 << 24

        /// The first `columns` columns of `layer`'s basis for `precision` (the measures allow
        /// `int8` only without PWCCA and CKA; see `LayerSimilarityMatrix.compute(cells:…)`).
        init(_ layer: PreparedLayer, columns: Int, precision: ProductPrecision, threads: Int) throws {
            if precision == .float32 {
                self = .float32(try transposedBasis(layer, columns: columns, as: Float.self))
                return
            }
            let rows = try transposedBasis(layer, columns: columns, as: Double.self)
            let size = layer.datapoints.multipliedReportingOverflow(by: columns * columns)
            if precision == .int8, !size.overflow, size.partialValue >= Self.slicingMinimum,
               let sliced = SlicedBasis(transposed: rows, rows: columns, datapoints: layer.datapoints, threads: threads),
               SlicedBasis.bound(sliced, sliced) <= SlicedBasis.tolerance {
                self = .sliced(sliced)
                return
            }
            self = .float64(rows)
        }

        /// The basis in float64 (a sliced one as its slices represent it) and the Frobenius
        /// norm by which it may differ from the original.
        var float64: (rows: [Double], residual: Double) {
            switch self {
            case .float64(let x): return (x, 0)
            case .float32(let x): return (x.map(Double.init), 0)
            case .sliced(let s): return (s.reconstructed(), s.residual)
            }
        }
    }

    /// `U_aᵀ·U_b` of two bases (`[rowsA, rowsB]`) and, when either side is sliced, the bound on
    /// its distance from the exact product of the float64 bases (`SlicedBasis.bound`).
    static func product(_ a: ProductBasis, rows rowsA: Int, _ b: ProductBasis, rows rowsB: Int, datapoints n: Int,
                        threads: Int) throws -> (product: Tensor<Double>, bound: Double?) {
        switch (a, b) {
        case let (.float32(x), .float32(y)):
            return (try product(x, rows: rowsA, y, rows: rowsB, datapoints: n), nil)
        case let (.sliced(x), .sliced(y)):
            if let m = SlicedBasis.product(x, y, threads: threads) { return (m, SlicedBasis.bound(x, y)) }
        case (.float64(let x), .float64(let y)):
            return (try product(x, rows: rowsA, y, rows: rowsB, datapoints: n), nil)
        default: break
        }
        // A sliced side beside a float64 one: the slices' float64 reconstruction, off by its residual.
        let (x, ra) = a.float64, (y, rb) = b.float64
        let bound = (SlicedBasis.basisNorm + ra) * rb + ra * SlicedBasis.basisNorm + 1e-14 * Double(max(rowsA, rowsB))
        return (try product(x, rows: rowsA, y, rows: rowsB, datapoints: n), bound)
    }

    /// Datapoints per float32 block; each block's `sgemm` accumulates at most this many terms
    /// in float32 before the sum goes to float64.
    static let float32Block = 1024

    /// The leading `columns` columns of a prepared layer's basis, transposed to
    /// `[columns, datapoints]` and rounded to `S`. A deferred basis is formed transposed,
    /// `Uᵀ = W_{:,:columns}ᵀ·Xᵀ` in one `dgemm`, without `U` itself.
    static func transposedBasis<S: BLASScalar>(_ layer: PreparedLayer, columns: Int, as: S.Type) throws -> [S] {
        let n = layer.datapoints, stride = layer.basisColumns
        if let d = layer.deferred {
            let w = columns == stride ? d.w : try RepresentationSimilarity.columns(d.w, columns)
            let rows = try Tensor.matmul(w, d.centred, transposeA: true, transposeB: true).scalars
            if let same = rows as? [S] { return same }
            return rows.map { S($0) }
        }
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
