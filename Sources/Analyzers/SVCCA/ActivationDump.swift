import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors

/// IEEE half precision's unit roundoff, 2⁻¹⁰.
let Float16Epsilon = 0x1p-10

/// One activation dump read for comparison: each layer as a float64 `[datapoints, neurons]` matrix.
public struct ActivationDump {
    /// How convolutional activations `[datapoints, channels, height, width]` become neurons.
    public enum ConvReduction: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
        /// Average over space: one neuron per channel (the default; keeps neurons < datapoints).
        case pool
        /// Every (channel, position) is a neuron.
        case flatten
        /// Kept as `[N, C, H, W]` maps and compared frequency by frequency after a 2-D DFT
        /// over space (`FourierSimilarity`); matrices become `[N, C, 1, 1]`.
        case dft
    }

    public let path: String
    public let probe: ProbeSet?
    /// Layer names in manifest order.
    public let layers: [String]
    /// Each layer as `[datapoints, neurons]`, or as a `[N, C, H, W]` map with `--conv dft`.
    public let matrices: [String: Tensor<Double>]
    /// Unit roundoff of the stored data (float32: 2⁻²³), the floor of what is signal.
    public let inputEpsilon: Double

    /// Reads every layer (or the named ones) of an activation dump.
    /// - Throws: `CheckpointError` for unreadable files, files that are not activation dumps,
    ///   or activations that are neither matrices nor NCHW maps.
    public init(path: String, layers wanted: [String]? = nil, conv: ConvReduction) throws {
        let reader = try CheckpointReader(path: path)
        guard reader.manifest.kind == .activations else {
            throw CheckpointError.invalidInput(path: path, detail: "is a \(reader.manifest.kind.rawValue), not an activation dump")
        }
        let names = wanted ?? reader.names
        let arrays = try reader.arrays(named: names, requireFinite: true)
        var matrices: [String: Tensor<Double>] = [:]
        for name in names {
            guard let array = arrays[name] else { throw CheckpointError.missingEntry(path: path, entry: name + ".npy") }
            matrices[name] = try ActivationDump.matrix(array, conv: conv, path: path, name: name)
        }
        self.path = path
        probe = reader.manifest.probe
        layers = names
        self.matrices = matrices
        inputEpsilon = arrays.values.map { a -> Double in
            switch a.dtype {
            case .float16: return Float16Epsilon
            case .float32: return Double(Float.ulpOfOne)
            default: return Double.ulpOfOne
            }
        }.max() ?? Double.ulpOfOne
    }

    /// Activations computed in memory (a dump that was not saved during training).
    /// - Parameter label: what to call the source in messages and settings.
    public init(label: String, probe: ProbeSet?, layers named: [(name: String, output: Tensor<Float>)],
                only wanted: [String]?, conv: ConvReduction) throws {
        var matrices: [String: Tensor<Double>] = [:]
        var order: [String] = []
        for (name, t) in named where wanted?.contains(name) ?? true {
            let array = NDArray(t)
            matrices[name] = try ActivationDump.matrix(array, conv: conv, path: label, name: name)
            order.append(name)
        }
        if let wanted, let missing = wanted.first(where: { !order.contains($0) }) {
            throw CheckpointError.missingEntry(path: label, entry: missing)
        }
        path = label
        self.probe = probe
        layers = order
        self.matrices = matrices
        inputEpsilon = Double(Float.ulpOfOne)
    }

    /// `[N, neurons]` as is; `[N, C, H, W]` pooled or flattened; `[N, C, L]` likewise over L.
    /// With `.dft` every layer becomes a `[N, C, H, W]` map (`[N, C, L, 1]`, `[N, C, 1, 1]`).
    static func matrix(_ array: NDArray, conv: ConvReduction, path: String, name: String) throws -> Tensor<Double> {
        let t = array.doubleTensor()
        if conv == .dft, (2...4).contains(t.rank) { return try FourierSimilarity.asMap(t, name: name) }
        switch t.rank {
        case 2: return t
        case 3, 4:
            let n = t.shape[0], c = t.shape[1]
            let spatial = t.shape.dropFirst(2).reduce(1, *)
            if conv == .flatten { return try t.reshaped([n, c * spatial]) }
            var pooled = [Double](repeating: 0, count: n * c)
            t.withUnsafeBufferPointer { x in
                for i in 0..<n { for j in 0..<c {
                    var sum = 0.0
                    let base = (i * c + j) * spatial
                    for k in 0..<spatial { sum += x[base + k] }
                    pooled[i * c + j] = sum / Double(max(spatial, 1))
                } }
            }
            return try Tensor(shape: [n, c], scalars: pooled)
        default:
            throw CheckpointError.shapeMismatch(path: path, entry: name + ".npy", expected: [t.shape.first ?? 0, -1], found: t.shape)
        }
    }
}
