import Foundation
import Testing

/// `train --out` never writes into what is not a run directory, and a run that fails before its
/// first checkpoint leaves no folder behind.
@Suite struct TrainOutputTests {
    /// A listing of `dir` with every file's bytes: equal before and after means nothing changed.
    func snapshot(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir)
        while let p = e?.nextObject() as? String { out[p] = FileManager.default.contents(atPath: dir + "/" + p) ?? Data("<dir>".utf8) }
        return out
    }

    @Test func aFileOrAFolderOfOtherFilesIsRefusedAndUnchanged() throws {
        let dir = temporaryDirectory()
        FileManager.default.createFile(atPath: dir + "/notes.txt", contents: Data("mine\n".utf8))
        try FileManager.default.createDirectory(atPath: dir + "/papers", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/papers/draft.tex", contents: Data("\\section{}\n".utf8))
        let before = snapshot(dir)
        for target in ["notes.txt", "papers"] {
            let r = try analyze(["train", "--preset", "mlp", "--out", dir + "/" + target, "--epochs", "1", "--train-limit", "300"])
            #expect(r.status == 1, "\(target): \(r.stderr)")
            #expect(r.stderr.hasPrefix("Error: \(dir)/\(target): will not write"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
        #expect(snapshot(dir) == before)
    }

    @Test func aRunThatFailsBeforeItsFirstCheckpointLeavesNoFolder() throws {
        let dir = temporaryDirectory()
        // 256 samples cannot give the preset's 1000 validation samples: the data fails to load.
        let r = try analyze(["train", "--preset", "step", "--out", dir + "/run", "--epochs", "1", "--train-limit", "256",
                             "--fixtures", fixtures])
        #expect(r.status == 1)
        #expect(r.stderr.contains("cannot hold out 1000 of 256 samples"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/run"))
    }
}
