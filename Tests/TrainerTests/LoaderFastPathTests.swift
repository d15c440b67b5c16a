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
