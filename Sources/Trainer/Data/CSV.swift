import CheckpointFormat
import Foundation
import Tensors

/// Reader for numeric CSV datasets such as the UCI optical digits (`optdigits.tra`): one sample
/// per line, comma-separated features, the integer class label in the last (or first) column.
///
/// The file is parsed as bytes (each field converted in place by `strtof`/`strtod`, no
/// `String` per line or field), so a 10 000 × 785 MNIST-style CSV reads in well under a
/// second. Every value is checked where it is read, and the first bad one stops the read with
/// one line naming the file, the line and the field: a feature that is not a finite number, a
/// row whose field count differs from the first row's, a label that is not an integer class
/// index in range (`2.5`, `-1`, `1e30`, `inf`, `nan`).
public enum CSVDataset {
    /// Where the label is.
    public enum LabelColumn: String, Codable, Sendable { case first, last }

    /// Largest number of classes a label may imply when `classes` is not given: a label of
    /// 10⁹ would otherwise ask for a billion-way classifier.
    public static let maximumClasses = 65_536

    /// Reads `url`; blank lines and lines starting with `#` are skipped, a first line that holds
    /// no number is taken as a header (a first row with some numbers is data, and a damaged one
    /// is refused). Features are multiplied by `scale` (1/16 for optdigits).
    /// - Parameter classes: the number of classes, when known (a test set takes its training
    ///   set's); labels must lie in `0..<classes` (else `0..<maximumClasses`).
    /// - Throws: `TrainerError.dataset` naming the file and line of the first malformed row.
    public static func read(_ url: URL, name: String? = nil, labelColumn: LabelColumn = .last, scale: Float = 1,
                            sampleShape: [Int]? = nil, classes: Int? = nil) throws(TrainerError) -> Dataset {
        let path = url.path
        guard scale.isFinite else { throw .dataset("\(path): scale \(scale) is not a finite number") }
        if let classes, classes <= 0 { throw .dataset("\(path): classes must be positive, got \(classes)") }
        // A 0 byte after the file: strtof/strtod stop at it after the last field.
        let bytes: [UInt8]
        do { bytes = try FileReader.contentsTerminated(of: path) } catch { throw .dataset(error.description) }
        let table = try bytes.withUnsafeBufferPointer { (buffer) throws(TrainerError) -> Table in
            let parser = Parser(path: path, bytes: buffer, labelColumn: labelColumn, scale: scale, labelLimit: classes ?? maximumClasses)
            return try parseOnTwoCores(parser)
        }
        guard let w = table.width else { throw .dataset("\(path): no data rows") }
        let shape = sampleShape ?? [w - 1]
        let perSample: Int
        do { perSample = try ElementCount.of(shape) } catch { throw .dataset("\(path): sample shape: \(error)") }
        guard perSample == w - 1 else { throw .dataset("\(path): \(w - 1) features do not fit sample shape \(shape)") }
        let k = classes ?? ((table.labels.max() ?? 0) + 1)
        return try Dataset(name: name ?? url.deletingPathExtension().lastPathComponent,
                           inputs: IDX.tensor([table.labels.count] + shape, table.features), labels: table.labels, classes: k)
    }

    /// Files smaller than this are parsed on one core (starting a thread costs more than it saves).
    static let parallelThreshold = 1 << 20

    /// Parses the two halves of the file (split at a line end) at once and joins them, with the
    /// same result and the same first error, in file order, as one pass: the second half's line
    /// numbers continue the first's, its first row must have the first half's field count, and a
    /// header is allowed only at the top of the file. Falls back to one pass for small files and
    /// when the file holds no data row.
    static func parseOnTwoCores(_ whole: Parser) throws(TrainerError) -> Table {
        let bytes = whole.bytes
        let end = bytes.count - 1
        guard end >= parallelThreshold, let base = bytes.baseAddress,
              let lf = memchr(base + end / 2, Int32(Parser.newline), end - end / 2) else {
            var p = whole
            return try p.parse()
        }
        let split = UnsafeRawPointer(lf) - UnsafeRawPointer(base) + 1
        // The file's first data row (after any blank, comment and header lines) fixes the field
        // count and the line messages cite; reading it first lets the second half check its rows
        // exactly as one pass would.
        var probe = whole
        probe.rowLimit = 1
        _ = try probe.parse()
        guard let width = probe.table.width, probe.firstDataLine > 0 else { return probe.table }
        guard probe.firstDataOffset < split else {   // half a file of comments: one pass
            var p = whole
            return try p.parse()
        }
        var first = whole, second = whole
        first.end = split
        second.start = split
        second.headerAllowed = false
        second.table.width = width
        second.firstDataLine = probe.firstDataLine
        second.table.features.reserveCapacity((end - split) / 2)   // at least 2 bytes per field
        second.table.labels.reserveCapacity((end - split) / (2 * width))
        final class Outcome: @unchecked Sendable {
            var first: Parser, second: Parser
            var firstError: TrainerError?, secondError: TrainerError?
            init(_ a: Parser, _ b: Parser) { first = a; second = b }
        }
        let box = Outcome(first, second)
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            do throws(TrainerError) {
                if half == 0 { _ = try box.first.parse() } else {
                    // Line numbers continue from the first half's.
                    var lines = 0, p = 0
                    if let start = box.second.bytes.baseAddress {
                        while p < split, let hit = memchr(start + p, Int32(Parser.newline), split - p) {
                            lines += 1
                            p = UnsafeRawPointer(hit) - UnsafeRawPointer(start) + 1
                        }
                    }
                    box.second.lineOffset = lines
                    _ = try box.second.parse()
                }
            } catch {
                if half == 0 { box.firstError = error } else { box.secondError = error }
            }
        }
        if let e = box.firstError ?? box.secondError { throw e }
        var table = box.first.table
        box.first.table = Table()
        table.features.append(contentsOf: box.second.table.features)
        table.labels.append(contentsOf: box.second.table.labels)
        return table
    }

    struct Table {
        var features: [Float] = []
        var labels: [Int] = []
        /// Fields per row (features + label), set by the first data row.
        var width: Int?
    }

    /// One pass over the bytes (terminated by a 0 byte that is not part of the file).
    struct Parser {
        let path: String
        let bytes: UnsafeBufferPointer<UInt8>
        let labelColumn: LabelColumn
        let scale: Float
        let labelLimit: Int
        var table = Table()
        var firstDataLine = 0
        /// Where the first data row starts in the file.
        var firstDataOffset = 0
        /// The byte range parsed (`end` at most the terminator's index) and the number of lines
        /// before `start`, for parsing a file in parts.
        var start = 0
        lazy var end = bytes.count - 1
        var lineOffset = 0
        /// Whether the first non-blank, non-comment line may be a header (only at the file's top).
        var headerAllowed = true
        /// Stop after this many data rows (nil: read to the end).
        var rowLimit: Int?

        static let comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")
        static func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

        mutating func parse() throws(TrainerError) -> Table {
            guard let base = bytes.baseAddress else { return table }
            let end = self.end  // the terminator, or the end of this part
            var start = self.start, line = lineOffset
            while start < end {
                line += 1
                // Lines end in LF or CRLF; memchr keeps the scan fast even in debug builds.
                let lf = memchr(base + start, Int32(Self.newline), end - start)
                    .map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? end
                defer { start = lf + 1 }
                var a = start, b = lf
                if b > a, base[b - 1] == Self.carriageReturn { b -= 1 }
                while a < b, Self.isBlank(base[a]) { a += 1 }
                while b > a, Self.isBlank(base[b - 1]) { b -= 1 }
                if a == b || base[a] == UInt8(ascii: "#") { continue }
                let isHeader = headerAllowed && !anyFieldIsNumeric(a, b)
                headerAllowed = false
                if isHeader { continue }
                try parseRow(base, a, b, line: line)
                if let rowLimit, table.labels.count >= rowLimit { break }
            }
            return table
        }

        /// Whether any field of the line parses as a number. A header has none; a first data
        /// row with one damaged field still has numbers, so it is parsed (and refused), not
        /// silently skipped as a header.
        func anyFieldIsNumeric(_ a: Int, _ b: Int) -> Bool {
            var start = a
            while start <= b {
                let e = fieldEnd(start, b)
                if number(start, e) != nil { return true }
                start = e + 1
            }
            return false
        }

        /// The text of bytes `a..<b`, for messages.
        func text(_ a: Int, _ b: Int) -> String {
            let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[a..<min(b, a + 40)]), as: UTF8.self)
            return b - a > 40 ? s + "…" : s
        }

        /// The end of the field starting at `a` in a line ending at `b` (the next comma or `b`).
        func fieldEnd(_ a: Int, _ b: Int) -> Int {
            var e = a
            while e < b, bytes[e] != Self.comma { e += 1 }
            return e
        }

        /// The float32 in bytes `a..<b` (blanks around it allowed), or nil when it is not one
        /// number. `inf` and `nan` parse; the caller refuses them.
        func number(_ a: Int, _ b: Int) -> Float? {
            var a = a, b = b
            while a < b, Self.isBlank(bytes[a]) { a += 1 }
            while b > a, Self.isBlank(bytes[b - 1]) { b -= 1 }
            guard a < b, let base = bytes.baseAddress else { return nil }
            let first = UnsafeRawPointer(base + a).assumingMemoryBound(to: CChar.self)
            var stop: UnsafeMutablePointer<CChar>?
            let v = strtof(first, &stop)
            guard let stop, UnsafePointer(stop) - first == b - a else { return nil }
            return v
        }

        /// One data row in bytes `a..<b` (trimmed, not empty). Each field is converted where
        /// it lies: `strtof` reports where the number ended, and only blanks may follow it
        /// before the comma or the end of the line.
        mutating func parseRow(_ base: UnsafePointer<UInt8>, _ a: Int, _ b: Int, line: Int) throws(TrainerError) {
            // Features go straight into the table; a row that fails a check ends the read, so
            // what it appended does not matter. A feature whose scaled value overflows is
            // reported after the row's field-count and label checks, as it always was.
            var fields = 0
            var overflow: Float?
            var f = a
            var labelText = (a, a)
            while true {
                fields += 1
                let field = fields
                var p = f
                while p < b, Self.isBlank(base[p]) { p += 1 }
                var value: Float?
                var e = p
                // A field must start with a character strtof would not skip (it skips newlines).
                if p < b, let (v, end) = Self.shortDecimal(base, p, b) {
                    // The common case (`0`, `255`, `0.0313725`): no strtof call.
                    value = v
                    e = end
                } else if p < b, base[p] != Self.comma, isspace(Int32(base[p])) == 0 {
                    let first = UnsafeRawPointer(base + p).assumingMemoryBound(to: CChar.self)
                    var stop: UnsafeMutablePointer<CChar>?
                    let v = strtof(first, &stop)
                    if let stop { e = p + (UnsafePointer(stop) - first) }
                    var q = e
                    while q < b, Self.isBlank(base[q]) { q += 1 }
                    if e > p, q == b || base[q] == Self.comma { value = v; e = q }
                }
                if value == nil { e = fieldEnd(p, b) }
                let isLabel = labelColumn == .first ? field == 1 : e == b
                if isLabel {
                    labelText = (f, e)  // checked by `label`, as an integer class index
                } else {
                    guard let v = value else {
                        throw .dataset("\(path):\(line): field \(field) '\(text(f, e))' is not a number")
                    }
                    guard v.isFinite else {
                        throw .dataset("\(path):\(line): field \(field) '\(text(f, e))' is not a finite number")
                    }
                    let x = v * scale
                    if overflow == nil, !x.isFinite { overflow = v }
                    table.features.append(x)
                }
                if e == b { break }
                f = e + 1
            }
            guard fields >= 2 else { throw .dataset("\(path):\(line): one field; expected features and a label") }
            if let w = table.width, w != fields {
                throw .dataset("\(path):\(line): \(fields) fields, expected \(w) as on line \(firstDataLine)")
            }
            if table.width == nil {
                table.width = fields
                firstDataLine = line
                firstDataOffset = a
                // Room for as many rows as the file can hold at this row's length (an
                // estimate: never more values than the file has bytes).
                let rows = (end - start) / max(b - a + 1, 1) + 1
                let (values, overflowed) = rows.multipliedReportingOverflow(by: fields - 1)
                table.features.reserveCapacity(overflowed ? bytes.count : min(values, bytes.count))
                table.labels.reserveCapacity(min(rows, bytes.count))
            }
            table.labels.append(try label(labelText.0, labelText.1, line: line))
            if let v = overflow {
                throw .dataset("\(path):\(line): feature \(v) × scale \(scale) is not a finite float32")
            }
        }

        /// Powers of ten that float32 holds exactly (5¹⁰ < 2²⁴).
        @inline(__always)
        static func exactPower(_ k: Int) -> Float {
            var p: Float = 1
            for _ in 0..<k { p *= 10 }  // exact: every 10^k up to 10^10 is a float32
            return p
        }

        /// A decimal number starting at `p` whose float32 value one exact multiplication or
        /// division gives — at most 2²⁴ in its digits, a power of ten up to 10¹⁰ — and that is
        /// followed by blanks, then a comma or the end of the line (returned as the field's
        /// end): then the value is the correctly
        /// rounded one, the same as `strtof`'s (Clinger's fast path). Anything else (more digits,
        /// larger exponents, hex, `inf`, `nan`, a stray character) is nil, and the caller asks
        /// `strtof`, so what is accepted and refused does not change.
        @inline(__always)
        static func shortDecimal(_ base: UnsafePointer<UInt8>, _ p: Int, _ b: Int) -> (Float, Int)? {
            var i = p
            var negative = false
            if base[i] == UInt8(ascii: "-") || base[i] == UInt8(ascii: "+") { negative = base[i] == UInt8(ascii: "-"); i += 1 }
            var m: UInt32 = 0, digits = 0, exponent = 0
            while i < b, case let d = base[i] &- 48, d < 10 {
                m = m &* 10 &+ UInt32(d); digits += 1; i += 1
                if m >= 1 << 24 { return nil }
            }
            if i < b, base[i] == UInt8(ascii: ".") {
                i += 1
                while i < b, case let d = base[i] &- 48, d < 10 {
                    m = m &* 10 &+ UInt32(d); digits += 1; exponent -= 1; i += 1
                    if m >= 1 << 24 { return nil }
                }
            }
            guard digits > 0 else { return nil }
            if i < b, base[i] | 0x20 == UInt8(ascii: "e") {
                i += 1
                var negativeExponent = false
                if i < b, base[i] == UInt8(ascii: "-") || base[i] == UInt8(ascii: "+") { negativeExponent = base[i] == UInt8(ascii: "-"); i += 1 }
                var e = 0, exponentDigits = 0
                while i < b, case let d = base[i] &- 48, d < 10 {
                    e = e * 10 + Int(d); exponentDigits += 1; i += 1
                    if exponentDigits > 3 { return nil }
                }
                guard exponentDigits > 0 else { return nil }
                exponent += negativeExponent ? -e : e
            }
            var q = i
            while q < b, isBlank(base[q]) { q += 1 }
            guard q == b || base[q] == comma, exponent >= -10, exponent <= 10 else { return nil }
            var v = Float(m)
            if exponent > 0 { v *= exactPower(exponent) } else if exponent < 0 { v /= exactPower(-exponent) }
            return (negative ? -v : v, q)
        }

        /// The integer class index in bytes `a..<b`, read as a double so `2.5` and `1e30` are
        /// seen for what they are before any integer conversion.
        func label(_ a: Int, _ b: Int, line: Int) throws(TrainerError) -> Int {
            var a = a, b = b
            while a < b, Self.isBlank(bytes[a]) { a += 1 }
            while b > a, Self.isBlank(bytes[b - 1]) { b -= 1 }
            var value: Double?
            if a < b, let base = bytes.baseAddress {
                var stop: UnsafeMutablePointer<CChar>?
                let first = UnsafeRawPointer(base + a).assumingMemoryBound(to: CChar.self)
                let v = strtod(first, &stop)
                if let stop, UnsafePointer(stop) - first == b - a { value = v }
            }
            guard let v = value, v.isFinite, v == v.rounded(), v >= 0, v < Double(labelLimit) else {
                throw .dataset("\(path):\(line): label '\(text(a, b))' is not an integer class index in 0..<\(labelLimit)")
            }
            return Int(v)
        }
    }
}
