import Foundation

/// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
/// little-endian header length N, N bytes of JSON mapping each tensor name to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the byte after
/// the header) plus an optional `"__metadata__"` string map, then the raw little-endian
/// data. `BF16` tensors, which NumPy cannot represent, are widened to float32 exactly.
public enum Safetensors {
    /// Reads every tensor, ordered by data offset (the order they were written in), and the metadata.
    public static func read(path: String) throws(CheckpointError)
        -> (tensors: [(name: String, array: NDArray)], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .fileNotFound(path: path) }
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw .invalidSafetensors(path: path, detail: "file is \(bytes.count) bytes, shorter than the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8) else {
            throw .invalidSafetensors(path: path, detail: "header length \(n) exceeds file size \(bytes.count) (truncated?)")
        }
        let headerEnd = 8 + Int(n)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) as? [String: Any] else {
            throw .invalidSafetensors(path: path, detail: "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var found: [(begin: Int, name: String, array: NDArray)] = []
        let dataSize = bytes.count - headerEnd
        for (name, value) in object {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw .invalidSafetensors(path: path, detail: "tensor '\(name)': needs dtype, shape and data_offsets [begin, end]")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw .invalidSafetensors(path: path, detail: "tensor '\(name)': data_offsets [\(begin), \(end)] outside the \(dataSize)-byte data section (truncated?)")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw .invalidSafetensors(path: path, detail: "tensor '\(name)': negative shape \(shape)") }
            let raw = Array(bytes[(headerEnd + begin)..<(headerEnd + end)])
            let count = shape.reduce(1, *)
            let array: NDArray
            do {
                if dtypeName == "BF16" {
                    guard raw.count == count * 2 else { throw NDArrayError.byteCountMismatch(dtype: .float32, shape: shape, expected: count * 2, got: raw.count) }
                    var widened = [UInt8](); widened.reserveCapacity(count * 4)
                    for i in 0..<count {
                        let f = bfloat16ToFloat(UInt16(raw[2 * i]) | UInt16(raw[2 * i + 1]) << 8)
                        withUnsafeBytes(of: f.bitPattern.littleEndian) { widened += $0 }
                    }
                    array = try NDArray(dtype: .float32, shape: shape, bytes: widened)
                } else {
                    guard let dtype = DType(safetensorsName: dtypeName) else {
                        throw CheckpointError.invalidSafetensors(path: path, detail: "tensor '\(name)': unsupported dtype \(dtypeName)")
                    }
                    array = try NDArray(dtype: dtype, shape: shape, bytes: raw)
                }
            } catch let error as CheckpointError {
                throw error
            } catch {
                throw .invalidSafetensors(path: path, detail: "tensor '\(name)': \(error)")
            }
            found.append((begin, name, array))
        }
        found.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        return (found.map { ($0.name, $0.array) }, metadata)
    }

    /// Writes tensors as a safetensors file (atomically), in the given order.
    public static func write(_ tensors: [(name: String, array: NDArray)], metadata: [String: String] = [:],
                             to path: String) throws(CheckpointError) {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, array) in tensors {
            header[name] = ["dtype": array.dtype.safetensorsName, "shape": array.shape,
                            "data_offsets": [offset, offset + array.bytes.count]] as [String: Any]
            offset += array.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        guard var json = try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]) else {
            throw .writeFailed(path: path, detail: "cannot encode safetensors header")
        }
        // Pad the header with spaces so the data section starts 8-byte aligned.
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        out += json
        for (_, array) in tensors { out += array.bytes }
        try AtomicFile.write(out, to: path)
    }
}
