import Foundation
import Testing
@testable import CheckpointFormat

/// JSON refusals are one line naming the field (`describeDecoding`, `decodeJSON`).
@Suite struct DecodingProblemTests {
    struct Point: Decodable { var epoch: Int?; var rate: Double?; var shape: [Int]? }

    @Test func aFractionalNumberWhereAnIntegerBelongsIsNamedNotCalledInvalidJSON() throws {
        // Foundation's own refusal is field-less ("not valid JSON"); the search names the field,
        // past a fractional number that is allowed where it is (rate).
        for (json, line) in [(#"{"rate": 0.5, "epoch": 1.5}"#, "the field 'epoch' is 1.5, not an integer"),
                             (#"{"shape": [2, 3.25]}"#, "the field 'shape[1]' is 3.25, not an integer"),
                             (#"{"epoch": 1e30}"#, "the field 'epoch' is 1e+30, not an integer in range")] {
            #expect(throws: DecodingProblem(line: line)) { try decodeJSON(Point.self, from: Data(json.utf8)) }
        }
        #expect(throws: DecodingProblem(line: "not valid JSON")) { try decodeJSON(Point.self, from: Data(#"{"epoch": 1"#.utf8)) }
        #expect(throws: DecodingProblem(line: "the field 'epoch' is not an integer")) {
            try decodeJSON(Point.self, from: Data(#"{"epoch": "one"}"#.utf8))
        }
        #expect(throws: DecodingProblem(line: "the top level is not an object")) { try decodeJSON(Point.self, from: Data("[]".utf8)) }
        #expect(try decodeJSON(Point.self, from: Data(#"{"epoch": 2.0, "rate": 0.1}"#.utf8)).epoch == 2)
    }

    /// Each candidate costs a decode of the whole document: large documents try few, and when
    /// none is found the line still says what kind of thing is wrong.
    @Test func theSearchIsBoundedAndStillSaysWhatIsWrong() throws {
        struct Wide: Decodable { var rates: [Double]; var step: Int }
        let rates = (0..<300_000).map { _ in "0.5" }.joined(separator: ",")
        let json = #"{"rates": ["# + rates + #"], "step": 1.5}"#
        #expect(json.utf8.count > 1 << 20)
        let started = Date()
        #expect(throws: DecodingProblem(line: "a number where an integer belongs is fractional or out of range (the JSON itself parses)")) {
            try decodeJSON(Wide.self, from: Data(json.utf8))
        }
        #expect(Date().timeIntervalSince(started) < 30)
    }

    @Test func aManifestWithAFractionalEpochNamesTheField() throws {
        let text = String(decoding: try sampleManifest().encoded(), as: UTF8.self)
        #expect(text.contains(#""epoch" : 3"#))
        let bytes = Array(text.replacingOccurrences(of: #""epoch" : 3"#, with: #""epoch" : 1.5"#).utf8)
        #expect(throws: CheckpointError.invalidManifest(path: "m.ckpt", detail: "the field 'epoch' is 1.5, not an integer")) {
            try CheckpointManifest.decode(bytes, path: "m.ckpt")
        }
        let version = Array(text.replacingOccurrences(of: #""formatVersion" : 2"#, with: #""formatVersion" : 2.5"#).utf8)
        #expect(throws: CheckpointError.invalidManifest(path: "m.ckpt", detail: "the field 'formatVersion' is 2.5, not an integer")) {
            try CheckpointManifest.decode(version, path: "m.ckpt")
        }
    }
}

extension DecodingProblem: Equatable {
    public static func == (a: DecodingProblem, b: DecodingProblem) -> Bool { a.line == b.line }
}
