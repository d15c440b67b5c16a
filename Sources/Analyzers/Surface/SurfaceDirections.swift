import ArgumentParser
import Foundation
import Tensors

/// The directions a surface is drawn along, and the arithmetic that makes them (Li et al. 2018,
/// tomgoldstein/loss-landscape's `net_plotter.py` and `projection.py`).
public enum SurfaceDirections {
    /// What to do with the 1-D tensors (biases, batch-norm weight and bias) of a direction.
    public enum Ignore: String, Codable, Sendable, CaseIterable, ExpressibleByArgument {
        /// Zero them, as the tool's `--xignore biasbn` (its README's recommended setting): the
        /// surface then moves only the conv and linear weights.
        case biasbn
        /// Keep them, each tensor rescaled as one filter to the norm of the same tensor of θ.
        case none
    }

    /// A parameter tensor of the flat θ: its name, shape and where it lives.
    public struct Slot: Sendable {
        public var name: String
        public var shape: [Int]
        public var range: Range<Int>
    }

    /// The model's named parameters laid out in θ, in `namedParameters` order (contiguous).
    public static func slots(names: [(name: String, shape: [Int])], count: Int) -> [Slot]? {
        var offset = 0, out: [Slot] = []
        for p in names {
            guard let n = try? ElementCount.of(p.shape), offset <= count - n else { return nil }
            out.append(Slot(name: p.name, shape: p.shape, range: offset..<(offset + n)))
            offset += n
        }
        return offset == count ? out : nil
    }

    /// Filter normalisation: each filter of `direction` (a slice along the output dimension of a
    /// tensor with two or more dimensions — a conv weight `[O, C, k, k]` has O, a linear weight
    /// `[O, I]` has O rows) is rescaled to the Frobenius norm of the same filter of `theta`.
    /// 1-D tensors are zeroed (`.biasbn`) or rescaled as a single filter (`.none`; the tool
    /// copies θ there instead, which gives the same norm but not a random direction).
    /// A filter of θ with norm 0 gives a zero filter. Norms are computed in double precision.
    public static func filterNormalized(_ direction: Tensor<Float>, theta: Tensor<Float>, slots: [Slot], ignore: Ignore) -> Tensor<Float> {
        var d = direction.scalars
        let w = theta.scalars
        for slot in slots {
            let filters: Int
            if slot.shape.count <= 1 {
                if ignore == .biasbn { for i in slot.range { d[i] = 0 }; continue }
                filters = 1
            } else {
                filters = max(slot.shape[0], 1)
            }
            let size = slot.range.count / filters
            guard size > 0 else { continue }
            for f in 0..<filters {
                let lo = slot.range.lowerBound + f * size
                var nd = 0.0, nw = 0.0
                for i in lo..<(lo + size) { nd += Double(d[i]) * Double(d[i]); nw += Double(w[i]) * Double(w[i]) }
                let scale = nw.squareRoot() / (nd.squareRoot() + 1e-10)
                for i in lo..<(lo + size) { d[i] = Float(Double(d[i]) * scale) }
            }
        }
        return Tensor(vector: d)
    }

    /// A Gaussian direction `[count]` from the analysis seed: `seed` split by `name`.
    public static func gaussian(count: Int, seed: UInt64, name: String) -> Tensor<Float> {
        var rng = RandomGenerator(seed: seed).split(name)
        return Tensor<Float>.randomNormal(shape: [count], using: &rng)
    }

    /// The first principal components of a trajectory and the iterates' coordinates on them.
    public struct PCA: Sendable {
        /// Unit directions `[components][parameterCount]` in double precision.
        public var components: [[Double]]
        /// Each component's share of the variance of the (centred) differences.
        public var explainedVarianceRatio: [Double]
        /// Least-squares coordinates of each wᵢ − w_final on the components `[iterates][components]`.
        public var coordinates: [[Double]]
        /// ‖wᵢ − w_final‖.
        public var displacements: [Double]
        /// ‖projection‖ / ‖wᵢ − w_final‖ (1 for an iterate at w_final).
        public var captured: [Double]
    }

    public enum PCAError: Error, CustomStringConvertible {
        case tooFewIterates(Int)
        case flat(rank: Int)
        case tooLarge(iterates: Int, parameters: Int)
        public var description: String {
            switch self {
            case .tooFewIterates(let n): return "PCA of the trajectory needs at least 3 saved checkpoints; found \(n)"
            case let .tooLarge(m, n):
                return "PCA of \(m) iterates × \(n) parameters needs more than \(maxMatrixCells / (1 << 27)) GiB of float64 matrix; pass fewer with --iterates"
            case .flat(let r): return "the saved iterates span \(r) direction\(r == 1 ? "" : "s") around their mean, not the 2 a plane needs"
            }
        }
    }

    /// The largest iterates × parameters matrix PCA decomposes (1 GiB of float64).
    public static let maxMatrixCells = 1 << 27

    /// PCA of wᵢ − w_final as loss-landscape's `setup_PCA_directions`: the differences are
    /// centred column by column (scikit-learn's `PCA` does so), decomposed by SVD (`gesdd`, float64),
    /// and each component's sign is fixed so the first iterate has a coordinate ≥ 0 on it.
    /// Coordinates are the uncentred differences projected on the orthonormal components (as the
    /// tool's `project_trajectory`), so they are least-squares coordinates on the plane through w_final.
    public static func pca(iterates: [Tensor<Float>], final: Tensor<Float>, components k: Int = 2) throws -> PCA {
        guard iterates.count >= 3 else { throw PCAError.tooFewIterates(iterates.count) }
        let m = iterates.count, n = final.count
        // The SVD holds the matrix about three times over in float64.
        let cells = try ElementCount.of([m, n])
        guard cells <= maxMatrixCells else { throw PCAError.tooLarge(iterates: m, parameters: n) }
        var rows = iterates.map { ParameterVectors.difference($0, final) }
        var flat = [Double](repeating: 0, count: m * n)
        for j in 0..<n {
            var mean = 0.0
            for i in 0..<m { mean += rows[i][j] }
            mean /= Double(m)
            for i in 0..<m { flat[i * n + j] = rows[i][j] - mean }
        }
        let (_, s, vt) = try LinearAlgebra.svd(Tensor<Double>(shape: [m, n], scalars: flat))
        flat = []
        let sv = s.scalars
        let total = sv.reduce(0) { $0 + $1 * $1 }
        let rank = sv.filter { $0 > 1e-9 * (sv.first ?? 0) }.count
        guard total > 0, rank >= k else { throw PCAError.flat(rank: total > 0 ? rank : 0) }
        let v = vt.scalars
        var components = (0..<k).map { c in Array(v[(c * n)..<((c + 1) * n)]) }
        for c in 0..<k where dot(rows[0], components[c]) < 0 { components[c] = components[c].map { -$0 } }
        var coordinates: [[Double]] = [], displacements: [Double] = [], captured: [Double] = []
        for i in 0..<m {
            let xy = components.map { dot(rows[i], $0) }
            let d = dot(rows[i], rows[i]).squareRoot()
            coordinates.append(xy); displacements.append(d)
            captured.append(d > 0 ? xy.reduce(0) { $0 + $1 * $1 }.squareRoot() / d : 1)
            rows[i] = []
        }
        return PCA(components: components, explainedVarianceRatio: (0..<k).map { sv[$0] * sv[$0] / total },
                   coordinates: coordinates, displacements: displacements, captured: captured)
    }

    private static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }
}
