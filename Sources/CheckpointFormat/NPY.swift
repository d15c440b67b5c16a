import Foundation

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

    /// Decodes a whole `.npy` file.
    /// - Throws: `NPYError` saying what is malformed.
    public static func decode(_ data: [UInt8]) throws(NPYError) -> NDArray {
        let header = try decodeHeader(data)
        let payload = data.count - header.dataOffset
        let elementCount = header.shape.reduce(1, *)
        let needed = elementCount * header.dtype.size
        guard payload >= needed else { throw .truncated(expectedBytes: needed, got: max(payload, 0)) }
        guard payload == needed else { throw .trailingBytes(expectedBytes: needed, got: payload) }
        var bytes = Array(data[header.dataOffset..<(header.dataOffset + needed)])
        if header.bigEndian && header.dtype.size > 1 { swapBytes(&bytes, elementSize: header.dtype.size) }
        if header.fortranOrder && header.shape.count > 1 {
            bytes = fortranToC(bytes, shape: header.shape, elementSize: header.dtype.size)
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
        public static func == (a: Header, b: Header) -> Bool {
            a.version == b.version && a.dtype == b.dtype && a.bigEndian == b.bigEndian
                && a.fortranOrder == b.fortranOrder && a.shape == b.shape && a.dataOffset == b.dataOffset
        }
    }

    /// Parses just the header (the first bytes of a file are enough).
    public static func decodeHeader(_ data: [UInt8]) throws(NPYError) -> Header {
        guard data.count >= 10 else { throw .truncated(expectedBytes: 10, got: data.count) }
        guard Array(data[0..<6]) == magic else { throw .notNPY }
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
        guard data.count >= start + headerLength else {
            throw .truncated(expectedBytes: start + headerLength, got: data.count)
        }
        guard let text = String(bytes: data[start..<(start + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw .malformedHeader("header is not text")
        }
        let dict = try PythonLiteral.parseDict(text)
        guard case let .string(descr)? = dict["descr"] else {
            throw .malformedHeader("no 'descr' string (structured dtypes are not supported)")
        }
        guard case let .bool(fortran)? = dict["fortran_order"] else { throw .malformedHeader("no 'fortran_order'") }
        guard case let .tuple(shape)? = dict["shape"] else { throw .malformedHeader("no 'shape' tuple") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw .malformedHeader("negative dimension in shape \(shape)") }
        let (dtype, bigEndian) = try parseDescr(descr)
        return Header(version: (major, minor), dtype: dtype, bigEndian: bigEndian, fortranOrder: fortran,
                      shape: shape, dataOffset: start + headerLength)
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
    static func fortranToC(_ bytes: [UInt8], shape: [Int], elementSize: Int) -> [UInt8] {
        let n = shape.reduce(1, *)
        var out = [UInt8](repeating: 0, count: bytes.count)
        let rank = shape.count
        // Fortran strides (in elements): stride[0] = 1, stride[k] = stride[k−1]·shape[k−1].
        var fstride = [Int](repeating: 1, count: rank)
        for k in 1..<rank { fstride[k] = fstride[k - 1] * shape[k - 1] }
        var index = [Int](repeating: 0, count: rank)   // C-order multi-index of destination element
        for dst in 0..<n {
            var src = 0
            for k in 0..<rank { src += index[k] * fstride[k] }
            for b in 0..<elementSize { out[dst * elementSize + b] = bytes[src * elementSize + b] }
            var k = rank - 1
            while k >= 0 { index[k] += 1; if index[k] < shape[k] { break }; index[k] = 0; k -= 1 }
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

    public var description: String {
        switch self {
        case .notNPY: return "not a NumPy .npy file (magic \\x93NUMPY missing)"
        case let .truncated(e, g): return "truncated: expected at least \(e) bytes, found \(g)"
        case let .trailingBytes(e, g): return "data has \(g) bytes where shape and dtype need \(e)"
        case let .unsupportedVersion(ma, mi): return "unsupported .npy version \(ma).\(mi) (supported: 1.0, 2.0, 3.0)"
        case let .unsupportedDType(d):
            return "unsupported dtype '\(d)' (supported: float16/32/64, int8–64, uint8–64, bool)"
        case let .malformedHeader(why): return "malformed .npy header: \(why)"
        }
    }
}

/// The tiny subset of Python literal syntax that .npy headers use.
enum PythonLiteral: Equatable {
    case string(String), bool(Bool), int(Int), tuple([Int])

    static func parseDict(_ text: String) throws(NPYError) -> [String: PythonLiteral] {
        var p = Parser(chars: Array(text.unicodeScalars))
        return try p.dict()
    }

    struct Parser {
        var chars: [Unicode.Scalar]
        var i = 0
        mutating func skip() { while i < chars.count, chars[i].properties.isWhitespace { i += 1 } }
        mutating func expect(_ c: Unicode.Scalar) throws(NPYError) {
            skip()
            guard i < chars.count, chars[i] == c else { throw .malformedHeader("expected '\(c)' at offset \(i)") }
            i += 1
        }
        mutating func peek() -> Unicode.Scalar? { skip(); return i < chars.count ? chars[i] : nil }
        mutating func dict() throws(NPYError) -> [String: PythonLiteral] {
            try expect("{")
            var out: [String: PythonLiteral] = [:]
            while peek() != "}" {
                guard case let .string(key) = try value() else { throw .malformedHeader("dict key is not a string") }
                try expect(":")
                out[key] = try value()
                if peek() == "," { i += 1 }
                if peek() == nil { throw .malformedHeader("unterminated dict") }
            }
            i += 1
            return out
        }
        mutating func value() throws(NPYError) -> PythonLiteral {
            guard let c = peek() else { throw .malformedHeader("unexpected end") }
            if c == "'" || c == "\"" {
                i += 1
                var s = ""
                while i < chars.count, chars[i] != c { s.unicodeScalars.append(chars[i]); i += 1 }
                guard i < chars.count else { throw .malformedHeader("unterminated string") }
                i += 1
                return .string(s)
            }
            if c == "(" {
                i += 1
                var items: [Int] = []
                while peek() != ")" {
                    guard case let .int(v) = try value() else { throw .malformedHeader("shape entry is not an integer") }
                    items.append(v)
                    if peek() == "," { i += 1 }
                    if peek() == nil { throw .malformedHeader("unterminated tuple") }
                }
                i += 1
                return .tuple(items)
            }
            var word = ""
            while i < chars.count, chars[i].properties.isAlphabetic || ("0"..."9").contains(chars[i]) || chars[i] == "-" {
                word.unicodeScalars.append(chars[i]); i += 1
            }
            if word == "True" { return .bool(true) }
            if word == "False" { return .bool(false) }
            if let v = Int(word.hasSuffix("L") ? String(word.dropLast()) : word) { return .int(v) }
            throw .malformedHeader("unexpected token '\(word)'")
        }
    }
}
