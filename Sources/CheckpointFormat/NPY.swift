import Foundation
import Tensors

/// The NumPy `.npy` format, versions 1.0, 2.0 and 3.0
/// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
///
/// Layout: the magic `\x93NUMPY`, major and minor version bytes, the header length
/// (uint16 LE in 1.0, uint32 LE in 2.0/3.0), then an ASCII (3.0: UTF-8) Python dict
/// literal `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with
/// spaces and a newline so the data starts at a multiple of 64 bytes, then the data.
///
/// Decoding normalises to little-endian, C-order bytes; encoding always writes version
/// 1.0 (2.0 when the header would not fit), little-endian, C order — the files
/// `numpy.save` itself writes.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// Longest header accepted (bytes of dict text). NumPy itself refuses headers over
    /// 10 000 bytes by default; a real one is under 200 bytes even at 64 dimensions.
    public static let maximumHeaderLength = 1 << 20
    /// Most dimensions accepted: NumPy's own limit (`NPY_MAXDIMS` in NumPy 2).
    public static let maximumRank = 64

    /// Decodes a whole `.npy` file.
    /// - Throws: `NPYError` saying what is malformed.
    public static func decode(_ data: [UInt8]) throws(NPYError) -> NDArray {
        let header = try decodeHeader(data)
        let payload = data.count - header.dataOffset
        let needed = header.dataByteCount
        guard payload >= needed else { throw .truncated(expectedBytes: needed, got: max(payload, 0)) }
        guard payload == needed else { throw .trailingBytes(expectedBytes: needed, got: payload) }
        return try array(header: header, data: Array(data[header.dataOffset...]))
    }

    /// The array a header describes, from exactly `header.dataByteCount` data bytes in the
    /// file's byte order and memory order (normalised here to little-endian, C order).
    static func array(header: Header, data: [UInt8]) throws(NPYError) -> NDArray {
        guard data.count == header.dataByteCount else {
            throw data.count < header.dataByteCount ? .truncated(expectedBytes: header.dataByteCount, got: data.count)
                                                    : .trailingBytes(expectedBytes: header.dataByteCount, got: data.count)
        }
        var bytes = data
        if header.bigEndian && header.dtype.size > 1 { swapBytes(&bytes, elementSize: header.dtype.size) }
        if header.fortranOrder && header.shape.count > 1 {
            bytes = try fortranToC(bytes, shape: header.shape, elementSize: header.dtype.size)
        }
        do { return try NDArray(dtype: header.dtype, shape: header.shape, bytes: bytes) } catch {
            throw .malformedHeader(error.description)
        }
    }

    /// What an .npy header says.
    public struct Header: Equatable, Sendable {
        public var version: (UInt8, UInt8)
        public var dtype: DType
        public var bigEndian: Bool
        public var fortranOrder: Bool
        public var shape: [Int]
        /// Offset of the first data byte.
        public var dataOffset: Int
        /// Bytes of data the shape and dtype need (checked: it did not overflow).
        public var dataByteCount: Int
        public static func == (a: Header, b: Header) -> Bool {
            a.version == b.version && a.dtype == b.dtype && a.bigEndian == b.bigEndian
                && a.fortranOrder == b.fortranOrder && a.shape == b.shape && a.dataOffset == b.dataOffset
        }
    }

    /// Parses just the header (the first bytes of a file are enough).
    ///
    /// Everything is checked before anything is sized by it: the header length against
    /// `maximumHeaderLength` and the bytes present, the nesting depth, the rank, and the
    /// shape's byte size (overflow-checked, `ElementCount`). When `data` is too short the
    /// error is `.truncated` with the number of bytes needed, so a streaming reader can
    /// read exactly that many and try again.
    public static func decodeHeader(_ data: [UInt8]) throws(NPYError) -> Header {
        guard data.count >= 6 else { throw .truncated(expectedBytes: 10, got: data.count) }
        guard Array(data[0..<6]) == magic else { throw .notNPY }
        guard data.count >= 10 else { throw .truncated(expectedBytes: 10, got: data.count) }
        let major = data[6], minor = data[7]
        let headerLength: Int, start: Int
        switch major {
        case 1:
            headerLength = Int(data[8]) | Int(data[9]) << 8
            start = 10
        case 2, 3:
            guard data.count >= 12 else { throw .truncated(expectedBytes: 12, got: data.count) }
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            start = 12
        default:
            throw .unsupportedVersion(major: major, minor: minor)
        }
        guard headerLength <= maximumHeaderLength else {
            throw .headerTooLong(length: headerLength, maximum: maximumHeaderLength)
        }
        guard data.count >= start + headerLength else {
            throw .truncated(expectedBytes: start + headerLength, got: data.count)
        }
        guard let text = String(bytes: data[start..<(start + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw .malformedHeader("header is not text")
        }
        let dict = try PythonLiteral.parseDict(text)
        let keys = Set(dict.keys)
        guard keys == ["descr", "fortran_order", "shape"] else {
            throw .malformedHeader("keys [\(keys.sorted().map { "'\($0)'" }.joined(separator: ", "))], expected ['descr', 'fortran_order', 'shape']")
        }
        guard case let .string(descr)? = dict["descr"] else {
            throw .malformedHeader("'descr' is not a string (structured dtypes are not supported)")
        }
        guard case let .bool(fortran)? = dict["fortran_order"] else { throw .malformedHeader("'fortran_order' is not True or False") }
        guard case let .tuple(items)? = dict["shape"] else { throw .malformedHeader("'shape' is not a tuple") }
        var shape: [Int] = []
        for item in items {
            guard case let .int(d) = item else { throw .malformedHeader("'shape' holds something other than integers") }
            shape.append(d)
        }
        guard shape.count <= maximumRank else { throw .tooManyDimensions(rank: shape.count, maximum: maximumRank) }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw .malformedHeader("negative dimension in shape \(shape)") }
        let (dtype, bigEndian) = try parseDescr(descr)
        // `ElementCount` refuses `[2^62, 4, 0]` too: empty, but `shape.reduce(1, *)` over part of
        // it anywhere downstream would trap.
        let byteCount: Int
        do {
            byteCount = try ElementCount.bytes(shape, elementSize: dtype.size)
        } catch { throw .tooLarge(shape: shape, elementSize: dtype.size) }
        return Header(version: (major, minor), dtype: dtype, bigEndian: bigEndian, fortranOrder: fortran,
                      shape: shape, dataOffset: start + headerLength, dataByteCount: byteCount)
    }

    /// `<f4`, `>i8`, `|u1`, `=f8` … → dtype and byte order.
    static func parseDescr(_ descr: String) throws(NPYError) -> (DType, Bool) {
        guard let first = descr.first, descr.count >= 2 else { throw .unsupportedDType(descr) }
        var code = descr
        var bigEndian = false
        switch first {
        case "<", "|", "=": code.removeFirst()
        case ">": code.removeFirst(); bigEndian = true
        default: break
        }
        if code == "?" { code = "b1" }
        guard let dtype = DType(numpyCode: code) else { throw .unsupportedDType(descr) }
        return (dtype, bigEndian && dtype.size > 1)
    }

    /// Encodes an array as a version 1.0 (or 2.0 for huge headers) `.npy` header.
    public static func encodeHeader(dtype: DType, shape: [Int]) -> [UInt8] {
        let shapeText = shape.isEmpty ? "()" : shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(dtype.numpyDescr)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Version 1.0 stores the header length in 16 bits; 2.0 only when that overflows.
        let v1 = (10 + dict.utf8.count + 1 + 63) / 64 * 64 - 10 <= 65535
        let prefix = v1 ? 10 : 12
        let total = prefix + dict.utf8.count + 1
        let padded = (total + 63) / 64 * 64
        dict += String(repeating: " ", count: padded - total) + "\n"
        var out = magic + [v1 ? 1 : 2, 0]
        let len = dict.utf8.count
        out += v1 ? [UInt8(len & 0xFF), UInt8(len >> 8)]
                  : [UInt8(len & 0xFF), UInt8((len >> 8) & 0xFF), UInt8((len >> 16) & 0xFF), UInt8(len >> 24)]
        out += Array(dict.utf8)
        return out
    }

    /// The complete `.npy` file for an array.
    public static func encode(_ array: NDArray) -> [UInt8] {
        encodeHeader(dtype: array.dtype, shape: array.shape) + array.bytes
    }

    static func swapBytes(_ bytes: inout [UInt8], elementSize: Int) {
        bytes.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i < p.count {
                var lo = i, hi = i + elementSize - 1
                while lo < hi { p.swapAt(lo, hi); lo += 1; hi -= 1 }
                i += elementSize
            }
        }
    }

    /// Reorders Fortran-order (column-major) bytes into C order.
    /// - Throws: `.trailingBytes` when `bytes` does not hold exactly `shape` × `elementSize`
    ///   bytes (the caller checked it; checked again here so no index can leave the buffer).
    static func fortranToC(_ bytes: [UInt8], shape: [Int], elementSize: Int) throws(NPYError) -> [UInt8] {
        let n: Int
        do { n = try ElementCount.of(shape) } catch { throw .tooLarge(shape: shape, elementSize: elementSize) }
        let (size, overflow) = n.multipliedReportingOverflow(by: elementSize)
        guard !overflow, elementSize > 0, size == bytes.count else {
            throw .trailingBytes(expectedBytes: overflow ? Int.max : size, got: bytes.count)
        }
        let rank = shape.count
        guard rank > 1, n > 0 else { return bytes }
        // Fortran strides (in elements): stride[0] = 1, stride[k] = stride[k−1]·shape[k−1];
        // every partial product is at most n, so none overflows.
        var fstride = [Int](repeating: 1, count: rank)
        for k in 1..<rank { fstride[k] = fstride[k - 1] * shape[k - 1] }
        var out = [UInt8](repeating: 0, count: bytes.count)
        var index = [Int](repeating: 0, count: rank)   // C-order multi-index of destination element
        bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for d in 0..<n {
                    var s = 0
                    for k in 0..<rank { s += index[k] * fstride[k] }
                    for b in 0..<elementSize { dst[d * elementSize + b] = src[s * elementSize + b] }
                    var k = rank - 1
                    while k >= 0 { index[k] += 1; if index[k] < shape[k] { break }; index[k] = 0; k -= 1 }
                }
            }
        }
        return out
    }
}

/// Why an .npy file could not be read.
public enum NPYError: Error, Equatable, CustomStringConvertible {
    case notNPY
    case truncated(expectedBytes: Int, got: Int)
    case trailingBytes(expectedBytes: Int, got: Int)
    case unsupportedVersion(major: UInt8, minor: UInt8)
    case unsupportedDType(String)
    case malformedHeader(String)
    /// The header length field exceeds `NPY.maximumHeaderLength`.
    case headerTooLong(length: Int, maximum: Int)
    /// Containers in the header nest deeper than `PythonLiteral.maximumDepth`.
    case nestingTooDeep(limit: Int)
    /// More dimensions than NumPy allows.
    case tooManyDimensions(rank: Int, maximum: Int)
    /// A shape whose byte size overflows `Int`.
    case tooLarge(shape: [Int], elementSize: Int)
    /// A stream (an .npz entry) that goes on beyond the bytes its header implies; reading
    /// stopped at the first extra byte, so how many follow is not known.
    case excessData(expectedBytes: Int)

    public var description: String {
        switch self {
        case .notNPY: return "not a NumPy .npy file (magic \\x93NUMPY missing)"
        case let .truncated(e, g): return "truncated: expected at least \(e) bytes, found \(g)"
        case let .trailingBytes(e, g): return "data has \(g) bytes where shape and dtype need \(e)"
        case let .unsupportedVersion(ma, mi): return "unsupported .npy version \(ma).\(mi) (supported: 1.0, 2.0, 3.0)"
        case let .unsupportedDType(d):
            return "unsupported dtype '\(d)' (supported: float16/32/64, int8–64, uint8–64, bool)"
        case let .malformedHeader(why): return "malformed .npy header: \(why)"
        case let .headerTooLong(length, maximum):
            return "malformed .npy header: header length \(length) bytes exceeds the \(maximum)-byte maximum"
        case let .nestingTooDeep(limit): return "malformed .npy header: brackets nested deeper than \(limit) levels"
        case let .tooManyDimensions(rank, maximum): return "shape has \(rank) dimensions; at most \(maximum) are allowed"
        case let .excessData(e): return "data goes on beyond the \(e) bytes shape and dtype need (read stopped there)"
        case let .tooLarge(shape, size): return "shape \(shape) of \(size)-byte elements is larger than any file or memory can hold"
        }
    }
}
