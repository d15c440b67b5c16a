import Foundation
import Testing

/// A message that quotes bytes from a damaged file stays one line: control characters and
/// line separators from the file are printed escaped.
@Suite struct ErrorLineTests {
    @Test func controlCharactersFromAFileAreEscaped() throws {
        let dir = temporaryDirectory()
        // An .npy header whose key holds a line feed, a file separator (0x1C) and U+2028.
        let header = Array("{'descr': '<f4', 'fo\n\u{1C}\u{2028}': False, 'shape': (1,), }\n".utf8)
        let bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [3, 0, UInt8(header.count), 0, 0, 0] + header + [0, 0, 128, 63]
        FileManager.default.createFile(atPath: dir + "/bad.npy", contents: Data(bytes))
        let r = try analyze(["import", dir + "/bad.npy", "--out", dir + "/out.ckpt"])
        #expect(r.status == 1)
        let lines = r.stderr.split(omittingEmptySubsequences: true, whereSeparator: { $0.isNewline || $0 == "\u{1C}" })
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("Error: \(dir)/bad.npy"))
        #expect(r.stderr.contains("\\u{1c}") && r.stderr.contains("\\u{2028}"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out.ckpt"))
    }
}
