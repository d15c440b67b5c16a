import Foundation
import Tensors

/// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
/// little-endian header length N, N bytes of JSON mapping each tensor name to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the byte after
/// the header) plus an optional `"__metadata__"` string map, then the raw little-endian
/// data. `BF16` tensors, which NumPy cannot represent, are widened to float32 exactly.
///
/// Reading validates the layout as the specification and the reference implementation
/// (`Metadata::validate` in huggingface/safetensors) do, before any tensor is read: the
/// header length within the file and at most `maximumHeaderLength`; the header a JSON object
/// starting with `{`, with no key repeated; every entry with a known dtype, a shape and
/// `data_offsets`; the `__metadata__` a string-to-string map; the offsets, sorted, starting
/// at 0 and each beginning where the previous ended (no gap, no overlap), the last ending at
/// the end of the file (no trailing bytes); dtype × shape (checked arithmetic) equal to each
/// tensor's byte length. A header length off by one byte therefore fails, where reading on
/// would shift every tensor by a byte.
public enum Safetensors {
    /// Longest header accepted: the reference implementation's `MAX_HEADER_SIZE` (100 MB).
    public static let maximumHeaderLength = 100_000_000

    /// One tensor's entry in the header, validated.
    struct Entry {
        var name: String
        var dtypeName: String
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    /// Reads every tensor, ordered by data offset (the order they were written in), and the metadata.
    /// - Throws: `CheckpointError.fileNotFound`, or `.invalidSafetensors` naming the file, the
    ///   tensor and what was expected.
    public static func read(path: String) throws(CheckpointError)
        -> (tensors: [(name: String, array: NDArray)], metadata: [String: String]) {
        let file = try FileReader(path: path)
        func invalid(_ detail: String) -> CheckpointError { .invalidSafetensors(path: path, detail: detail) }
        guard file.size >= 8 else { throw invalid("file is \(file.size) bytes, shorter than the 8-byte header length") }
        var n: UInt64 = 0
        for (i, b) in try file.read(at: 0, count: 8).enumerated() { n |= UInt64(b) << (8 * UInt64(i)) }
        guard n <= UInt64(maximumHeaderLength) else {
            throw invalid("header length \(n) exceeds the \(maximumHeaderLength)-byte maximum")
        }
        guard n <= UInt64(file.size - 8) else {
            throw invalid("header length \(n) exceeds the \(file.size - 8) bytes after the length field (truncated?)")
        }
        let headerEnd = 8 + Int(n)
        let (entries, metadata) = try parseHeader(try file.read(at: 8, count: Int(n)), invalid: invalid)
        let dataSize = file.size - headerEnd
        var expectedBegin = 0
        for e in entries {
            guard e.begin == expectedBegin else {
                throw invalid(e.begin > expectedBegin
                    ? "tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] leave a gap after byte \(expectedBegin)"
                    : "tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] overlap the previous tensor, which ends at \(expectedBegin)")
            }
            expectedBegin = e.end
        }
        guard expectedBegin == dataSize else {
            throw invalid(expectedBegin > dataSize
                ? "data_offsets end at byte \(expectedBegin), beyond the \(dataSize)-byte data section (truncated?)"
                : "the data section has \(dataSize) bytes but the tensors cover \(expectedBegin): \(dataSize - expectedBegin) bytes unaccounted for")
        }
        var tensors: [(name: String, array: NDArray)] = []
        for e in entries {
            let raw = try file.read(at: headerEnd + e.begin, count: e.end - e.begin, entry: e.name)
            tensors.append((e.name, try array(e, raw, invalid: invalid)))
        }
        return (tensors, metadata)
    }

    /// Bytes per element of a safetensors dtype Basin reads, or nil.
    static func elementSize(_ name: String) -> Int? {
        name == "BF16" ? 2 : DType(safetensorsName: name)?.size
    }

    /// The header's tensor entries sorted by offset, and its metadata.
    static func parseHeader(_ header: [UInt8], invalid: (String) -> CheckpointError) throws(CheckpointError)
        -> (entries: [Entry], metadata: [String: String]) {
        guard header.first == UInt8(ascii: "{") else { throw invalid("header does not start with '{'") }
        if let problem = JSONKeyScan.problem(in: header) { throw invalid("header: \(problem)") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any] else {
            throw invalid("header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value as? [String: Any], let strings = map as? [String: String], strings.count == map.count else {
                    throw invalid("__metadata__ must map strings to strings")
                }
                metadata = strings
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = integers(info["shape"]), let offsets = integers(info["data_offsets"]), offsets.count == 2 else {
                throw invalid("tensor '\(name)': needs dtype, shape and data_offsets [begin, end] (non-negative integers)")
            }
            guard let size = elementSize(dtypeName) else { throw invalid("tensor '\(name)': unsupported dtype \(dtypeName)") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end else { throw invalid("tensor '\(name)': data_offsets [\(begin), \(end)] end before they begin") }
            let bytes: Int
            do {
                bytes = try ElementCount.bytes(shape, elementSize: size)
            } catch { throw invalid("tensor '\(name)': \(error)") }
            guard bytes == end - begin else {
                throw invalid("tensor '\(name)': \(dtypeName) shape \(shape) needs \(bytes) bytes, data_offsets [\(begin), \(end)] hold \(end - begin)")
            }
            entries.append(Entry(name: name, dtypeName: dtypeName, shape: shape, begin: begin, end: end))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        return (entries, metadata)
    }

    /// An array of non-negative integers: JSON numbers written without a fraction or
    /// exponent (a `2.0`, `true` or `1e3` is refused, as by the reference's `usize`) that fit in `Int`.
    static func integers(_ value: Any?) -> [Int]? {
        guard let numbers = value as? [Any] else { return nil }
        var out: [Int] = []
        for v in numbers {
            guard let number = v as? NSNumber, "ilqsILQS".contains(String(cString: number.objCType)),
                  let i = v as? Int, i >= 0 else { return nil }
            out.append(i)
        }
        return out
    }

    /// The array for a validated entry (`raw` holds exactly its bytes).
    static func array(_ e: Entry, _ raw: [UInt8], invalid: (String) -> CheckpointError) throws(CheckpointError) -> NDArray {
        do {
            if e.dtypeName == "BF16" {
                var widened = [UInt8](); widened.reserveCapacity(raw.count * 2)
                for i in stride(from: 0, to: raw.count, by: 2) {
                    let f = bfloat16ToFloat(UInt16(raw[i]) | UInt16(raw[i + 1]) << 8)
                    withUnsafeBytes(of: f.bitPattern.littleEndian) { widened += $0 }
                }
                return try NDArray(dtype: .float32, shape: e.shape, bytes: widened)
            }
            guard let dtype = DType(safetensorsName: e.dtypeName) else { throw invalid("tensor '\(e.name)': unsupported dtype \(e.dtypeName)") }
            return try NDArray(dtype: dtype, shape: e.shape, bytes: raw)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw invalid("tensor '\(e.name)': \(error)")
        }
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
