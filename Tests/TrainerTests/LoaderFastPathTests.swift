import Foundation
import Testing
import Tensors
@testable import Trainer

/// The loaders' fast routes (issue 14) give exactly what the slow ones gave.
@Suite struct LoaderFastPathTests {
    func temporaryFile(_ text: String) throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory() + "/basin-csv-\(UUID().uuidString).csv")
        try Data(text.utf8).write(to: url)
        return url
    }

    /// Every field is parsed to the float32 `strtof` gives, whether it takes the short-decimal
    /// route or not: integers, `%g` and `%e` floats, signs, leading zeros, exponents at and past
    /// the exact range, 2²⁴ and beyond, hex floats.
    @Test func csvFieldsAreWhatStrtofReads() throws {
        var rng = RandomGenerator(seed: 12)
        var fields = ["0", "-0", "+1.5", "1.", ".5", "-.25", "0000012", "1e10", "1e-10", "1e11", "1E-11", "16777215",
                      "16777216", "16777217", "3.4028235e38", "1.17549435e-38", "0x1p3", "  7 ", "2.5e+3", "123456789012"]
        for _ in 0..<2000 {
            let x = rng.nextNormal() * pow(10, Double(rng.nextInt(below: 12)) - 6)
            switch rng.nextInt(below: 4) {
            case 0: fields.append(String(format: "%.6g", x))
            case 1: fields.append(String(format: "%.9e", x))
            case 2: fields.append(String(rng.nextInt(below: 256)))
            default: fields.append(String(format: "%.3f", x))
            }
        }
        let rows = stride(from: 0, to: fields.count, by: 10).map { Array(fields[$0..<min($0 + 10, fields.count)]) }
            .filter { $0.count == 10 }
        let url = try temporaryFile(rows.map { $0.joined(separator: ",") + ",1" }.joined(separator: "\n") + "\n")
        defer { try? FileManager.default.removeItem(at: url) }
        let d = try CSVDataset.read(url)
        let got = d.inputs.withUnsafeBufferPointer { Array($0) }
        let expected = rows.flatMap { $0 }.map { strtof($0.trimmingCharacters(in: .whitespaces), nil) }
        #expect(got.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    /// A CSV of `rows` rows of 40 integer features and a label (≈ 120 bytes per row), with line
    /// `badLine` (1-based, counting the header) replaced by `bad`.
    func bigCSV(rows: Int, header: Bool = true, badLine: Int? = nil, bad: String = "") -> (text: String, features: [Float], labels: [Int]) {
        var rng = RandomGenerator(seed: 3)
        var lines = header ? ["# made by the test", (0..<40).map { "px\($0)" }.joined(separator: ",") + ",label"] : []
        var features: [Float] = [], labels: [Int] = []
        for _ in 0..<rows {
            let f = (0..<40).map { _ in rng.nextInt(below: 256) }
            let l = rng.nextInt(below: 10)
            features += f.map(Float.init); labels.append(l)
            lines.append(f.map(String.init).joined(separator: ",") + ",\(l)")
        }
        if let badLine { lines[badLine - 1] = bad }
        return (lines.joined(separator: "\n") + "\n", features, labels)
    }

    /// Files above `parallelThreshold` are parsed in two halves at once: the same table as one
    /// pass, and the first error in file order with its true line number.
    @Test func twoCoreParseEqualsOnePass() throws {
        let (text, features, labels) = bigCSV(rows: 20_000)
        #expect(text.utf8.count > 2 * CSVDataset.parallelThreshold)
        let url = try temporaryFile(text)
        defer { try? FileManager.default.removeItem(at: url) }
        let d = try CSVDataset.read(url)
        #expect(d.labels == labels)
        #expect(d.inputs.withUnsafeBufferPointer { Array($0) } == features)
    }

    @Test(arguments: [
        (5, "1,2,3", "3 fields, expected 41 as on line 3"),        // the first half
        (15_000, "1,2,3", "3 fields, expected 41 as on line 3"),   // the second half (not its first row)
        (15_000, "px0,px1", "field 1 'px0' is not a number"),     // a header below the top is data, and refused
        (18_000, "1," + String(repeating: "7,", count: 38) + "x,2", "field 40 'x' is not a number"),
    ])
    func twoCoreParseNamesTheFirstBadLine(line: Int, bad: String, message: String) throws {
        let url = try temporaryFile(bigCSV(rows: 20_000, badLine: line, bad: bad).text)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect { _ = try CSVDataset.read(url) } throws: { error in
            guard case .dataset(let m) = error as? TrainerError else { return false }
            return m.hasPrefix("\(url.path):\(line): ") && m.contains(message)
        }
    }

    /// The second half's first row is checked against the first half's field count.
    @Test func twoCoreParseChecksTheSecondHalfsFirstRow() throws {
        let (text, _, _) = bigCSV(rows: 20_000)
        // Every row after the middle of the file loses a field: the first of them is the error.
        let middle = text.utf8.count / 2
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var offset = 0, firstShort = 0
        for i in lines.indices {
            let length = lines[i].utf8.count + 1
            if offset + length > middle + 1, i >= 2, !lines[i].isEmpty {
                if firstShort == 0 { firstShort = i + 1 }
                lines[i] = String(lines[i][lines[i].index(after: lines[i].firstIndex(of: ",") ?? lines[i].startIndex)...])
            }
            offset += length
        }
        let url = try temporaryFile(lines.joined(separator: "\n"))
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: TrainerError.dataset("\(url.path):\(firstShort): 40 fields, expected 41 as on line 3")) {
            _ = try CSVDataset.read(url)
        }
    }

    /// A number followed by anything but blanks and a comma is still refused, naming the field.
    @Test(arguments: ["1 2", "1.5.3", "1e", "12abc", "--1"])
    func csvFieldsThatAreNotOneNumberAreRefused(field: String) throws {
        let url = try temporaryFile("0,1,2\n3,\(field),1\n")
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: TrainerError.dataset("\(url.path):2: field 2 '\(field)' is not a number")) {
            _ = try CSVDataset.read(url)
        }
    }

    /// The table that turns bytes into [0, 1] values is the division it replaces.
    @Test func idxPixelsAreTheBytesDividedBy255() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(IDX.unitFloats(bytes).map(\.bitPattern) == bytes.map { (Float($0) / 255).bitPattern })
    }
}
