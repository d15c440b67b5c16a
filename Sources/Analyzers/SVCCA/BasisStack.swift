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

    /// Several layers' bases, each transposed (`[columns, datapoints]`, one row per basis
    /// vector) and appended, so that one GEMM multiplies a layer against all of them and a
    /// layer's rows can be appended as soon as it is prepared (no second copy of the stack).
    struct BasisStack<S: BLASScalar>: Sendable {
        let datapoints: Int
        /// First row of each layer, and how many rows it has.
        private(set) var offsets: [Int] = [], counts: [Int] = []
        private(set) var rows: [S] = []

        init(datapoints: Int, reservingRows expected: Int = 0) {
            self.datapoints = datapoints
            // Untouched reserved pages are not resident: this costs address space, not memory.
            rows.reserveCapacity(expected * datapoints)
        }

        var height: Int { offsets.last.map { $0 + (counts.last ?? 0) } ?? 0 }

        /// Appends one layer's transposed basis (`[count, datapoints]`, from `transposedBasis`).
        mutating func append(_ basis: [S], count: Int) {
            offsets.append(height)
            counts.append(count)
            rows.append(contentsOf: basis)
        }
    }

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

    /// `Aᵀ·[U_1 | U_2 | …]` for one layer's transposed basis `aT` (`[rowsA, datapoints]`)
    /// against a whole stack, in float64, `[rowsA, stack.height]` row-major. Float64 stacks
    /// take one `dgemm`; float32 stacks one `sgemm` per block of `float32Block` datapoints,
    /// summed in float64.
    static func stackedProduct<S: BLASScalar>(_ aT: [S], rows rowsA: Int, _ stack: BasisStack<S>) -> [Double] {
        let n = stack.datapoints, width = stack.height
        var out = [Double](repeating: 0, count: rowsA * width)
        guard rowsA > 0, width > 0, n > 0 else { return out }
        aT.withUnsafeBufferPointer { a in
            stack.rows.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    guard let pa = a.baseAddress, let pb = b.baseAddress, let pc = c.baseAddress else { return }
                    if S.self == Double.self {
                        pa.withMemoryRebound(to: Double.self, capacity: a.count) { da in
                            pb.withMemoryRebound(to: Double.self, capacity: b.count) { db in
                                Double.gemm(transposeA: false, transposeB: true, m: rowsA, n: width, k: n, alpha: 1,
                                            a: da, lda: n, b: db, ldb: n, beta: 0, c: pc, ldc: width)
                            }
                        }
                        return
                    }
                    var partial = [S](repeating: 0, count: rowsA * width)
                    partial.withUnsafeMutableBufferPointer { t in
                        guard let pt = t.baseAddress else { return }
                        for start in Swift.stride(from: 0, to: n, by: float32Block) {
                            let k = min(float32Block, n - start)
                            S.gemm(transposeA: false, transposeB: true, m: rowsA, n: width, k: k, alpha: 1,
                                   a: pa + start, lda: n, b: pb + start, ldb: n, beta: 0, c: pt, ldc: width)
                            for i in 0..<(rowsA * width) { pc[i] += Double(pt[i]) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Columns `[offset, offset + count)` of the first `rows` rows of a row-major matrix of
    /// `width` columns, as a `[rows, count]` tensor.
    static func block(_ m: [Double], width: Int, rows: Int, offset: Int, count: Int) throws -> Tensor<Double> {
        var out = [Double](repeating: 0, count: rows * count)
        m.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<rows { for j in 0..<count { dst[i * count + j] = src[i * width + offset + j] } }
            }
        }
        return try Tensor(shape: [rows, count], scalars: out)
    }
}
