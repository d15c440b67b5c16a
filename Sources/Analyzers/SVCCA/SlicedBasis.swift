import Foundation
import Tensors

extension RepresentationSimilarity {
    /// A kept basis split for exact integer products (Ozaki's error-free splitting): column i of
    /// `U_k` is `unitᵢ·Σ_s q_{s,i}·254⁻ˢ + rᵢ` with four int8 slices `q_s` in [−127, 127]
    /// (`unitᵢ = max|U_{:,i}| / 127`; each slice rounds what the previous ones left, scaled by 254,
    /// so it fits again; `VectorKernels.sliceInt8`) and a residual `r` of at most
    /// `unitᵢ·254⁻³/2` per entry.
    ///
    /// `U_aᵀ·U_b` is then the sum of the slice products `A_sᵀ·B_t` with `s + t ≤ 3` (10 of the
    /// 16), each an int8 product on oneDNN's AMX (or VNNI) kernels over blocks of 1024 datapoints,
    /// so that every partial sum stays below 2²⁴ and is exact however the kernel carries it
    /// (`OneDNNMatmul.int8ExactDepth`), the blocks and the products of each `s + t` summed as
    /// integers in float64, then scaled once.
    /// What this leaves out is bounded rigorously, per pair (`bound`): the six products with
    /// `s + t ≥ 4` by `‖A_s‖₂·‖B_t‖₂` (each slice's spectral norm bounded by Gershgorin's theorem
    /// on its exact integer Gram matrix `q_s·q_sᵀ`), the residuals by `‖r‖_F`, and the float64
    /// scaling's rounding. By Weyl's inequality every canonical correlation then lies within that
    /// bound of the one the exact product of the float64 bases gives.
    struct SlicedBasis: Sendable {
        static let count = 4
        static let radix = 254.0
        /// A layer is sliced only when the bound of its pair with itself is at most this (then
        /// every pair of sliced layers is, see `bound`); otherwise it keeps its float64 basis.
        static let tolerance = 1e-7
        /// ‖U‖₂ of a basis orthonormal to float64 rounding, with room to spare.
        static let basisNorm = 1 + 1e-6

        let rows: Int, datapoints: Int
        /// Slice s at `s·rows·datapoints`: `[rows, datapoints]`, row i = column i of the basis,
        /// in blocks of `OneDNNMatmul.int8ExactDepth` datapoints (`[rows, depth]` each, the
        /// last one shorter): oneDNN's int8 kernels take dense operands only.
        let slices: [Int8]
        /// `unit[i]`: the value of slice 0's step in row i.
        let unit: [Double]
        /// Upper bounds on `‖A_s‖₂` of each slice as a real matrix (`unitᵢ·q_s·254⁻ˢ`); index 0 unused.
        let norms: [Double]
        /// Upper bound on `‖r‖_F`.
        let residual: Double
        /// `reconstructed()`, computed once when a pair with an unsliced layer first asks.
        private let reconstruction = Reconstruction()

        /// The bound on `‖U_aᵀU_b − computed‖₂` for a pair (before the SVD's own float64 rounding).
        /// At most the larger of the two layers' bounds with themselves: each term grows with
        /// either side's norms and residual.
        static func bound(_ a: SlicedBasis, _ b: SlicedBasis) -> Double {
            var dropped = 0.0
            for s in 1..<count { for t in 1..<count where s + t >= count { dropped += a.norms[s] * b.norms[t] } }
            let rounding = 1e-14 * Double(max(a.rows, b.rows))
            return dropped + (basisNorm + a.residual) * b.residual + a.residual * basisNorm + rounding
        }

        /// The slices of a basis given transposed (`rowsT`: `[k, datapoints]`, `transposedBasis`);
        /// nil when this CPU has no exact int8 kernel, a row is not finite or one of oneDNN's
        /// products failed.
        init?(transposed rowsT: [Double], rows k: Int, datapoints n: Int, threads: Int) {
            guard OneDNNMatmul.exactInt8Available, k > 0, n > 0, rowsT.count == k * n else { return nil }
            let (count, radix) = (Self.count, Self.radix)
            let size = k * n
            var slices = [Int8](repeating: 0, count: count * size)
            var unit = [Double](repeating: 0, count: k), squares = 0.0
            let sliced = rowsT.withUnsafeBufferPointer { x in
                slices.withUnsafeMutableBufferPointer { out -> Bool in
                    guard let px = x.baseAddress, let po = out.baseAddress else { return false }
                    for i in 0..<k {
                        guard let row = VectorKernels.sliceInt8(px + i * n, count: n, slices: count, radix: radix, into: po, sliceStride: size,
                                                                block: OneDNNMatmul.int8ExactDepth, rows: k, row: i) else { return false }
                        unit[i] = row.unit
                        squares += row.residualSquares
                    }
                    return true
                }
            }
            guard sliced else { return nil }
            // The reconstruction's own float64 rounding (≤ 5u per entry) is folded in as 1e-15 per column.
            let residual = squares.squareRoot() * (1 + 1e-12) + 1e-15 * Double(k).squareRoot()
            var norms = [Double](repeating: 0, count: count)
            for s in 1..<count {
                var sum = IntegerSum(count: k * k)
                let done = slices.withUnsafeBufferPointer { q in
                    let slice = UnsafeBufferPointer(rebasing: q[(s * size)..<((s + 1) * size)])
                    return Self.exactProduct(slice, rows: k, slice, rows: k, datapoints: n, threads: threads, into: &sum)
                }
                guard done else { return nil }
                let gram = sum.take()
                // Gershgorin: λ_max(D·G·D) ≤ max_i Σ_j |d_i·G_ij·d_j|, float64 rounding covered by the factor.
                var largestRow = 0.0
                for i in 0..<k {
                    var row = 0.0
                    for j in 0..<k { row += abs(gram[i * k + j]) * unit[j] }
                    largestRow = max(largestRow, row * unit[i])
                }
                norms[s] = (largestRow * (1 + 1e-10)).squareRoot() * pow(radix, -Double(s)) * (1 + 1e-15)
            }
            (rows, datapoints, self.slices, self.unit, self.norms, self.residual) = (k, n, slices, unit, norms, residual)
        }

        /// Where slice s holds row i, datapoint r (see `slices`).
        func position(_ s: Int, _ i: Int, _ r: Int) -> Int {
            let depth = OneDNNMatmul.int8ExactDepth
            let start = r / depth * depth, length = min(depth, datapoints - start)
            return s * rows * datapoints + rows * start + i * length + (r - start)
        }

        /// The basis the slices represent, `[rows, datapoints]` float64 (for a pair whose other
        /// side was not sliced: within `residual` of the original in Frobenius norm). Computed
        /// on the first call and kept for the layer's other pairs.
        func reconstructed() -> [Double] {
            reconstruction.value {
                var out = [Double](repeating: 0, count: rows * datapoints)
                slices.withUnsafeBufferPointer { q in
                    out.withUnsafeMutableBufferPointer { o in
                        for i in 0..<rows {
                            for r in 0..<datapoints {
                                var value = 0.0, step = 1.0
                                for s in 0..<Self.count { value += Double(q[position(s, i, r)]) * step; step /= Self.radix }
                                o[i * datapoints + r] = value * unit[i]
                            }
                        }
                    }
                }
                return out
            }
        }

        /// A value computed once, by whichever thread asks first.
        final class Reconstruction: @unchecked Sendable {
            private let lock = NSLock()
            private var rows: [Double]?

            func value(_ make: () -> [Double]) -> [Double] {
                lock.withLock {
                    if let rows { return rows }
                    let made = make()
                    rows = made
                    return made
                }
            }
        }

        /// `U_aᵀ·U_b` `[a.rows, b.rows]` from the ten slice products with `s + t ≤ 3`; nil when
        /// oneDNN failed. The products of each `s + t` are added as integers (exactly: int32 while
        /// that is safe, float64 beyond, `IntegerSum`), then the four sums are scaled by 254⁻⁽ˢ⁺ᵗ⁾
        /// and the units in float64.
        static func product(_ a: SlicedBasis, _ b: SlicedBasis, threads: Int) -> Tensor<Double>? {
            let (m, n, points) = (a.rows, b.rows, a.datapoints)
            guard points == b.datapoints else { return nil }
            var out = [Double](repeating: 0, count: m * n)
            var sum = IntegerSum(count: m * n)
            let done = a.slices.withUnsafeBufferPointer { qa in
                b.slices.withUnsafeBufferPointer { qb in
                    out.withUnsafeMutableBufferPointer { o -> Bool in
                        guard let po = o.baseAddress else { return false }
                        for d in Swift.stride(from: count - 1, through: 0, by: -1) {
                            for s in 0...d {
                                let t = d - s
                                guard exactProduct(UnsafeBufferPointer(rebasing: qa[(s * m * points)...]), rows: m,
                                                   UnsafeBufferPointer(rebasing: qb[(t * n * points)...]), rows: n,
                                                   datapoints: points, threads: threads, into: &sum) else { return false }
                            }
                            let total = sum.take()
                            // Horner in 1/254: out = ((Σ₃/254 + Σ₂)/254 + Σ₁)/254 + Σ₀.
                            if d == count - 1 {
                                for i in 0..<(m * n) { po[i] = total[i] }
                            } else {
                                for i in 0..<(m * n) { po[i] = po[i] / radix + total[i] }
                            }
                        }
                        for i in 0..<m {
                            let ui = a.unit[i]
                            for j in 0..<n { po[i * n + j] = po[i * n + j] * ui * b.unit[j] }
                        }
                        return true
                    }
                }
            }
            return done ? try? Tensor(shape: [m, n], scalars: out) : nil
        }

        /// Exact sums of int32 blocks: added in int32 while no sum can leave it (each block is
        /// below 2²⁴ in magnitude, so 127 of them are below 2³¹), then moved into float64.
        struct IntegerSum {
            static let blocksPerFlush = 127
            let count: Int
            var small: [Int32], total: [Double]
            /// Where a block after the first in `small` is written before it is added.
            var scratch: [Int32]
            /// Blocks in `small`; 0 means it holds nothing (the next block is written over it).
            var pending = 0

            init(count: Int) {
                self.count = count
                small = [Int32](repeating: 0, count: count)
                total = [Double](repeating: 0, count: count)
                scratch = [Int32](repeating: 0, count: count)
            }

            /// Runs `write` into a buffer of `count` int32 and adds what it wrote; false when `write` fails.
            mutating func add(_ write: (UnsafeMutablePointer<Int32>) -> Bool) -> Bool {
                if pending == Self.blocksPerFlush { flush() }
                if pending == 0 {
                    guard small.withUnsafeMutableBufferPointer({ $0.baseAddress.map(write) ?? false }) else { return false }
                } else {
                    let n = count
                    let added = scratch.withUnsafeMutableBufferPointer { s in
                        small.withUnsafeMutableBufferPointer { t -> Bool in
                            guard let ps = s.baseAddress, let pt = t.baseAddress, write(ps) else { return false }
                            VectorKernels.addIntegers(count: n, ps, into: pt)
                            return true
                        }
                    }
                    guard added else { return false }
                }
                pending += 1
                return true
            }

            mutating func flush() {
                guard pending > 0 else { return }
                let n = count
                small.withUnsafeBufferPointer { s in
                    total.withUnsafeMutableBufferPointer { t in
                        if let ps = s.baseAddress, let pt = t.baseAddress { VectorKernels.addIntegers(count: n, ps, into: pt) }
                    }
                }
                pending = 0
            }

            /// The sum so far, and a fresh start.
            mutating func take() -> [Double] {
                flush()
                defer { total = [Double](repeating: 0, count: count) }
                return total
            }
        }

        /// `sum += a·bᵀ` for int8 `a` `[m, datapoints]` and `b` `[n, datapoints]` in blocks of
        /// `OneDNNMatmul.int8ExactDepth` datapoints (see `slices`), exactly: one int32 product
        /// per block, each below 2²⁴ in magnitude.
        static func exactProduct(_ a: UnsafeBufferPointer<Int8>, rows m: Int, _ b: UnsafeBufferPointer<Int8>, rows n: Int,
                                 datapoints points: Int, threads: Int, into sum: inout IntegerSum) -> Bool {
            guard let pa = a.baseAddress, let pb = b.baseAddress, a.count >= m * points, b.count >= n * points, sum.count == m * n else { return false }
            for start in Swift.stride(from: 0, to: points, by: OneDNNMatmul.int8ExactDepth) {
                let depth = min(OneDNNMatmul.int8ExactDepth, points - start)
                let shape = OneDNNMatmul.Shape(m: m, n: n, k: depth, transposeA: false, transposeB: true, lda: depth, ldb: depth,
                                               ldc: n, int8Exact: true, threads: threads)
                guard sum.add({ OneDNNMatmul.int8Product(shape, pa + m * start, pb + n * start, into: $0) }) else { return false }
            }
            return true
        }
    }
}
