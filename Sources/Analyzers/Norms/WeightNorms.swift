import CheckpointFormat
import Tensors

/// Per-tensor L2 norms of one or two checkpoints and the distance between them.
///
/// Computed in float64 (each tensor widened once) so the distance ‖w_b − w_a‖ between
/// two nearby checkpoints does not lose digits to float32 cancellation.
public enum WeightNorms {
    /// One tensor's numbers.
    public struct Row: Codable, Sendable, Equatable {
        public var name: String
        public var role: TensorRole
        public var shape: [Int]
        /// ‖w‖₂ in each checkpoint, in the order given.
        public var norms: [Double]
        /// ‖w_b − w_a‖₂ (two checkpoints only).
        public var distance: Double?
        /// ‖w_b − w_a‖₂ / ‖w_a‖₂ (two checkpoints only; nil when ‖w_a‖ = 0).
        public var relativeDistance: Double?
    }

    /// Norms of every tensor in `arrays` (one dictionary per checkpoint, same names and shapes).
    /// - Parameter records: the manifest rows of the first checkpoint, giving order and roles.
    public static func rows(records: [TensorRecord], arrays: [[String: NDArray]]) -> [Row] {
        records.compactMap { r in
            let tensors = arrays.compactMap { $0[r.name]?.doubleTensor() }
            guard tensors.count == arrays.count else { return nil }
            var row = Row(name: r.name, role: r.role, shape: r.shape, norms: tensors.map(\.norm))
            if tensors.count == 2, let d = try? (tensors[1] - tensors[0]).norm {
                row.distance = d
                row.relativeDistance = row.norms[0] > 0 ? d / row.norms[0] : nil
            }
            return row
        }
    }

    /// The norm over all rows of a role: √(Σ‖w_i‖²), and likewise for distances.
    public static func total(_ rows: [Row], role: TensorRole) -> Row? {
        let selected = rows.filter { $0.role == role }
        guard let first = selected.first else { return nil }
        func root(_ xs: [Double]) -> Double { xs.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let norms = (0..<first.norms.count).map { i in root(selected.map { $0.norms[i] }) }
        var row = Row(name: "all \(role.rawValue)s", role: role, shape: [selected.reduce(0) { $0 + $1.shape.reduce(1, *) }], norms: norms)
        if first.distance != nil {
            let d = root(selected.compactMap(\.distance))
            row.distance = d
            row.relativeDistance = norms[0] > 0 ? d / norms[0] : nil
        }
        return row
    }
}
