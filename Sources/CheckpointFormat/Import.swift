import Foundation

/// Brings tensors written by NumPy or PyTorch into Basin archives.
///
/// Sources: a folder of `.npy` files (one per tensor, named as the state-dict key:
/// `features.0.weight.npy`), a single `.npy`, an `.npz`, or a `.safetensors` file.
/// Dtypes are kept, so the imported tensors equal the originals bit for bit;
/// analyses convert to float32 explicitly when they read them.
public enum Importer {
    /// The arrays a source holds, in a stable order (folder: sorted by file name;
    /// npz: archive order; safetensors: data order).
    public static func arrays(from source: String) throws(CheckpointError) -> [(name: String, array: NDArray)] {
        let arrays = try unchecked(from: source)
        for (name, _) in arrays { try checkName(name, source: source) }
        return arrays
    }

    /// Refuses a tensor name the archive could not hold (`TensorName`, the rules its writer and
    /// readers apply): empty, with a `/`, starting with `.`, or with a control character.
    /// (`export` writes one file per name; `../../x` would land outside its folder.)
    static func checkName(_ name: String, source: String) throws(CheckpointError) {
        if let problem = TensorName.problem(name) {
            throw .invalidInput(path: source, detail: "tensor name '\(name)' \(problem)")
        }
    }

    private static func unchecked(from source: String) throws(CheckpointError) -> [(name: String, array: NDArray)] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: source)
        }
        if isDirectory.boolValue {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: source)) ?? [])
                .filter { $0.hasSuffix(".npy") && !$0.hasPrefix(".") }.sorted()
            guard !names.isEmpty else { throw .invalidInput(path: source, detail: "folder holds no .npy files") }
            var out: [(String, NDArray)] = []
            for n in names { out.append((String(n.dropLast(4)), try NPYFile.read(path: source + "/" + n))) }
            return out
        }
        let lower = source.lowercased()
        if lower.hasSuffix(".npz") { return try NPZ.read(path: source) }
        if lower.hasSuffix(".safetensors") { return try Safetensors.read(path: source).tensors }
        if lower.hasSuffix(".npy") {
            let name = URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
            return [(name, try NPYFile.read(path: source))]
        }
        throw .invalidInput(path: source, detail: "unknown source type: expected a folder of .npy files, .npy, .npz or .safetensors")
    }

    /// The role PyTorch gives a state-dict key: running statistics and counters are buffers.
    public static func inferredRole(of name: String, kind: ArchiveKind) -> TensorRole {
        if kind == .activations { return .activation }
        let last = name.split(separator: ".").last.map(String.init) ?? name
        return ["running_mean", "running_var", "num_batches_tracked"].contains(last) ? .buffer : .parameter
    }

    /// Writes an archive from `source`.
    /// - Parameters:
    ///   - manifest: kind, model spec, epoch … (the tensor table is filled in here).
    ///   - probe: required for activation dumps: every matrix must have `probe.count` rows.
    /// - Throws: `CheckpointError` naming the source and the offending tensor.
    @discardableResult
    public static func importArchive(from source: String, to destination: String, manifest: CheckpointManifest,
                                     compression: Compression = .none) throws(CheckpointError) -> CheckpointManifest {
        try importArchive(try arrays(from: source), source: source, to: destination, manifest: manifest, compression: compression)
    }

    /// Writes an archive from arrays already read (and renamed or transposed) from `source`.
    /// - Parameter source: the file named in errors.
    @discardableResult
    public static func importArchive(_ arrays: [(name: String, array: NDArray)], source: String, to destination: String,
                                     manifest: CheckpointManifest, compression: Compression = .none) throws(CheckpointError) -> CheckpointManifest {
        for (name, _) in arrays { try checkName(name, source: source) }
        if manifest.kind == .activations {
            for (name, a) in arrays {
                guard a.shape.count == 2 else {
                    throw .invalidInput(path: source, detail: "activation '\(name)' has shape \(a.shape); expected a (datapoints × neurons) matrix")
                }
                if let probe = manifest.probe, a.shape[0] != probe.count {
                    throw .invalidInput(path: source, detail: "activation '\(name)' has \(a.shape[0]) rows; the probe set has \(probe.count) datapoints")
                }
            }
            let rows = Set(arrays.map { $0.array.shape[0] })
            guard rows.count == 1 else {
                throw .invalidInput(path: source, detail: "activation matrices have different numbers of rows \(rows.sorted()); all must be computed on the same datapoints")
            }
        }
        let sources = arrays.map { TensorSource(name: $0.name, array: $0.array, role: inferredRole(of: $0.name, kind: manifest.kind)) }
        return try CheckpointWriter.write(sources, manifest: manifest, to: destination, compression: compression)
    }

    /// A matrix's transpose, whatever its dtype (element bytes are moved, never converted):
    /// activations saved neurons × datapoints (google/svcca's convention) become Basin's
    /// datapoints × neurons.
    /// - Throws: `CheckpointError.invalidInput` for an array that is not a matrix.
    public static func transposed(_ a: NDArray, name: String, source: String) throws(CheckpointError) -> NDArray {
        guard a.shape.count == 2 else {
            throw .invalidInput(path: source, detail: "activation '\(name)' has shape \(a.shape); expected a matrix")
        }
        let (rows, columns, size) = (a.shape[0], a.shape[1], a.dtype.size)
        var out = [UInt8](repeating: 0, count: a.bytes.count)
        a.bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    for c in 0..<columns {
                        let from = (r * columns + c) * size, to = (c * rows + r) * size
                        for k in 0..<size { dst[to + k] = src[from + k] }
                    }
                }
            }
        }
        // Same dtype, same byte count, permuted shape: the initialiser's checks hold.
        do { return try NDArray(dtype: a.dtype, shape: [columns, rows], bytes: out) } catch {
            throw .invalidInput(path: source, detail: "activation '\(name)': \(error)")
        }
    }
}
