import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors

/// IEEE half precision's unit roundoff, 2⁻¹⁰.
let Float16Epsilon = 0x1p-10

/// One activation dump read for comparison: each layer as stored (float32 for Basin's dumps),
/// turned into a float64 `[datapoints, neurons]` matrix only when it is asked for (`matrix`),
/// so that a heatmap holds at most the layers being prepared in float64 (half the memory of
/// converting every layer up front, and one conversion instead of a copy and a conversion).
public struct ActivationDump: Sendable {
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
    /// Each layer's shape as stored (checked by `checkShape`).
    public let shapes: [String: [Int]]
    /// The layers read so far (all of them, unless opened with `init(opening:…)`); `matrix` converts them.
    private let stored: [String: NDArray]
    private let conv: ConvReduction
    /// Unit roundoff of the stored data (float32: 2⁻²³), the floor of what is signal: the
    /// largest over every layer named, read or not.
    public let inputEpsilon: Double
    /// The file to read layers from (`loading`); nil for activations computed in memory.
    private let file: String?

    /// Reads every layer (or the named ones) of an activation dump.
    /// - Throws: `CheckpointError` for unreadable files, files that are not activation dumps,
    ///   or activations that are neither matrices nor NCHW maps.
    public init(path: String, layers wanted: [String]? = nil, conv: ConvReduction) throws {
        self = try ActivationDump(opening: path, layers: wanted, conv: conv).loading(nil)
    }

    /// Opens an activation dump without reading its layers (the manifest gives names, shapes
    /// and precision); `loading` reads the ones needed. A shard of `analyze svcca` reads
    /// only the layers of its cells.
    public init(opening path: String, layers wanted: [String]? = nil, conv: ConvReduction) throws {
        let reader = try CheckpointReader(path: path)
        guard reader.manifest.kind == .activations else {
            throw CheckpointError.invalidInput(path: path, detail: "is a \(reader.manifest.kind.rawValue), not an activation dump")
        }
        let names = wanted ?? reader.names
        var shapes: [String: [Int]] = [:]
        var epsilon = 0.0
        for name in names {
            guard let record = reader.record(named: name) else {
                let known = reader.names
                throw CheckpointError.invalidInput(path: path, detail: "has no layer '\(name)' (it holds \(known.prefix(12).joined(separator: ", "))\(known.count > 12 ? ", … (\(known.count) in all)" : "")); check --layers")
            }
            try ActivationDump.checkShape(record.shape, path: path, name: name)
            shapes[name] = record.shape
            epsilon = max(epsilon, ActivationDump.epsilon(record.dtype))
        }
        self.path = path
        probe = reader.manifest.probe
        layers = names
        self.shapes = shapes
        stored = [:]
        self.conv = conv
        inputEpsilon = names.isEmpty ? Double.ulpOfOne : epsilon
        file = path
    }

    private init(_ dump: ActivationDump, stored: [String: NDArray]) {
        path = dump.path; probe = dump.probe; layers = dump.layers; shapes = dump.shapes
        self.stored = stored; conv = dump.conv; inputEpsilon = dump.inputEpsilon; file = dump.file
    }

    /// This dump with the named layers (all when nil) read, each checked for NaN and ∞ and
    /// against the shape it was opened with.
    public func loading(_ names: [String]?) throws -> ActivationDump {
        let have = self.stored
        let wanted = (names ?? layers).filter { have[$0] == nil }
        guard let file, !wanted.isEmpty else { return self }
        for name in wanted where shapes[name] == nil { throw CheckpointError.missingEntry(path: path, entry: name + ".npy") }
        let arrays = try CheckpointReader(path: file).arrays(named: wanted, requireFinite: true)
        var stored = have
        for name in wanted {
            guard let array = arrays[name] else { throw CheckpointError.missingEntry(path: path, entry: name + ".npy") }
            guard array.shape == shapes[name] else {
                throw CheckpointError.shapeMismatch(path: path, entry: name + ".npy", expected: shapes[name] ?? [], found: array.shape)
            }
            stored[name] = array
        }
        return ActivationDump(self, stored: stored)
    }

    static func epsilon(_ dtype: DType) -> Double {
        switch dtype {
        case .float16: return Float16Epsilon
        case .float32: return Double(Float.ulpOfOne)
        default: return Double.ulpOfOne
        }
    }

    /// Activations computed in memory (a dump that was not saved during training).
    /// - Parameter label: what to call the source in messages and settings.
    public init(label: String, probe: ProbeSet?, layers named: [(name: String, output: Tensor<Float>)],
                only wanted: [String]?, conv: ConvReduction) throws {
        var arrays: [String: NDArray] = [:]
        var order: [String] = []
        for (name, t) in named where wanted?.contains(name) ?? true {
            let array = NDArray(t)
            try ActivationDump.checkShape(array.shape, path: label, name: name)
            arrays[name] = array
            order.append(name)
        }
        if let wanted, let missing = wanted.first(where: { !order.contains($0) }) {
            throw CheckpointError.missingEntry(path: label, entry: missing)
        }
        path = label
        self.probe = probe
        layers = order
        shapes = arrays.mapValues(\.shape)
        stored = arrays
        self.conv = conv
        inputEpsilon = Double(Float.ulpOfOne)
        file = nil
    }

    /// One layer as `[datapoints, neurons]`, or as a `[N, C, H, W]` map with `--conv dft`,
    /// converted to float64 now (each call converts again; callers keep what they need).
    /// - Throws: `CheckpointError.missingEntry` for a layer the dump was not read with.
    public func matrix(_ name: String) throws -> Tensor<Double> {
        guard let array = stored[name] else { throw CheckpointError.missingEntry(path: path, entry: name + ".npy") }
        return try ActivationDump.matrix(array, conv: conv, path: path, name: name)
    }

    /// Every layer converted, in layer order (the `--conv dft` route, which needs them all).
    public func allMatrices() throws -> [(String, Tensor<Double>)] { try layers.map { ($0, try matrix($0)) } }

    /// What `matrix` accepts, checked when the dump is read: matrices, `[N, C, L]` and
    /// `[N, C, H, W]` maps.
    static func checkShape(_ shape: [Int], path: String, name: String) throws {
        guard (2...4).contains(shape.count) else {
            throw CheckpointError.shapeMismatch(path: path, entry: name + ".npy", expected: [shape.first ?? 0, -1], found: shape)
        }
    }

    /// Neurons per datapoint of a layer of this shape once `matrix` has reduced it (channels
    /// for `pool` and `dft`, channels × positions for `flatten`), and its map resolution for `dft`.
    static func neurons(_ shape: [Int], conv: ConvReduction) -> (neurons: Int, height: Int, width: Int) {
        let channels = shape.count > 1 ? shape[1] : 1
        let height = shape.count > 2 ? shape[2] : 1, width = shape.count > 3 ? shape[3] : 1
        switch conv {
        case .flatten: return (channels.multipliedReportingOverflow(by: height).partialValue.multipliedReportingOverflow(by: width).partialValue, 1, 1)
        case .pool: return (channels, 1, 1)
        case .dft: return (channels, height, width)
        }
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
