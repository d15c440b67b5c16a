import Foundation
import Testing
@testable import Trainer

/// docs/FORMAT.md §8's examples are what the readers accept.
@Suite("docs/FORMAT.md §8: the dataset examples")
struct DataFormatDocTests {
    static func section() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/FORMAT.md"), encoding: .utf8)
        let start = try #require(text.range(of: "## 8. Datasets"))
        return String(text[start.lowerBound...])
    }

    static func block(_ language: String, in text: String) throws -> String {
        let open = try #require(text.range(of: "```" + language + "\n"))
        let close = try #require(text[open.upperBound...].range(of: "```"))
        return String(text[open.upperBound..<close.lowerBound])
    }

    @Test func everyDatasetSpecExampleDecodes() throws {
        let lines = try Self.block("json", in: try Self.section()).split(separator: "\n")
        #expect(lines.count == 6)
        for line in lines {
            let spec = try JSONDecoder().decode(DatasetSpec.self, from: Data(line.utf8))
            try spec.validate()
            // What run.json would write decodes to the same value.
            #expect(try JSONDecoder().decode(DatasetSpec.self, from: JSONEncoder().encode(spec)) == spec, "\(line)")
        }
    }

    @Test func theCSVExampleReadsAsDocumented() throws {
        let csv = try Self.block("", in: try Self.section().components(separatedBy: "### 8.1")[1])
        let path = NSTemporaryDirectory() + "/basin-doc-\(UUID().uuidString).csv"
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        let d = try CSVDataset.read(URL(fileURLWithPath: path))
        #expect(d.count == 2 && d.sampleShape == [4] && d.labels == [7, 2] && d.classes == 8)
        #expect(d.inputs.scalars == [0, 1.5, 3, 2, 4, 0, 0, 1])
    }
}
