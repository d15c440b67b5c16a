import Foundation
import Testing

/// `--out` never destroys: an analyzer replaces only a new or empty folder or its own earlier
/// result; a run, its checkpoints/, a file or an unrelated folder is refused and left as it was.
@Suite struct OutputFolderTests {
    /// A run with epochs 1 and 2 imported from the NumPy fixture, and a notes file beside it.
    func makeRun() throws -> (dir: String, run: String) {
        let dir = temporaryDirectory("basin-out")
        for epoch in ["1", "2"] {
            let r = try analyze(["import", fixtures + "/interop/state_dict", "--run", dir + "/run", "--epoch", epoch])
            #expect(r.status == 0, "\(r.stderr)")
        }
        try Data("my notes\n".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        try FileManager.default.createDirectory(atPath: dir + "/thesis", withIntermediateDirectories: true)
        try Data("chapter 1\n".utf8).write(to: URL(fileURLWithPath: dir + "/thesis/chapter1.tex"))
        return (dir, dir + "/run")
    }

    /// Every file and folder under `path` with its bytes (nil for folders).
    func snapshot(_ path: String) -> [String: Data?] {
        var out: [String: Data?] = [:]
        guard let walker = FileManager.default.enumerator(atPath: path) else { return out }
        while let item = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: path + "/" + item, isDirectory: &isDirectory)
            out[item] = isDirectory.boolValue ? nil : FileManager.default.contents(atPath: path + "/" + item)
        }
        return out
    }

    @Test(arguments: [("run", "it is a run directory"), ("run/checkpoints", "checkpoints/ folder"),
                      ("notes.txt", "it is a file"), ("thesis", "holds other files (chapter1.tex)")])
    func refusedOutputsAreLeftUnchanged(out: String, reason: String) throws {
        let (dir, run) = try makeRun()
        let before = snapshot(dir)
        let r = try analyze(["norms", run, "--epochs", "1,2", "--out", dir + "/" + out])
        #expect(r.status == 1, "\(out): exit \(r.status) \(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("Error: ") == true && r.stderr.contains(reason), "\(out): \(r.stderr)")
        #expect(snapshot(dir) == before, "\(out): files changed")
    }

    @Test(arguments: ["run", "run/checkpoints", "run/activations", "notes.txt", "."])
    func forceNeverReplacesRunsOrFiles(out: String) throws {
        let (dir, run) = try makeRun()
        try FileManager.default.createDirectory(atPath: run + "/activations", withIntermediateDirectories: true)
        let before = snapshot(dir)
        let r = try analyze(["norms", run, "--epochs", "1,2", "--out", out, "--force"], cwd: dir)
        #expect(r.status == 1 && r.stderr.hasPrefix("Error: ") && !r.stderr.contains("--force"), "\(out): exit \(r.status) \(r.stderr)")
        #expect(snapshot(dir) == before, "\(out): files changed")
    }

    /// `--force` into a folder of someone's files adds the results beside them and deletes nothing;
    /// a result that would take a file's name is refused, and nothing changes.
    @Test func forceAddsResultsBesideOtherFilesAndNeverDeletesThem() throws {
        let (dir, run) = try makeRun()
        let chapter = try Data(contentsOf: URL(fileURLWithPath: dir + "/thesis/chapter1.tex"))
        let r = try analyze(["norms", run, "--epochs", "1,2", "--out", dir + "/thesis", "--force"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/thesis/result.json"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/thesis/chapter1.tex")) == chapter)
        // Again: result.json is there now, of norms, so the folder is its results and is replaced —
        // but chapter1.tex is no result: a second run must not delete it either.
        let before = snapshot(dir)
        let again = try analyze(["norms", run, "--epochs", "1,2", "--out", dir + "/thesis", "--force"])
        #expect(FileManager.default.fileExists(atPath: dir + "/thesis/chapter1.tex"), "\(again.stderr)")
        if again.status != 0 { #expect(snapshot(dir) == before) }
    }

    /// Staging folders left by a killed analysis (their process is gone) are removed by the next
    /// run of that output; one whose process is alive is left alone.
    @Test func stagingFoldersOfKilledRunsAreRemoved() throws {
        let (dir, run) = try makeRun()
        var dead: Int32 = 4_000_000
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let live = ProcessInfo.processInfo.processIdentifier
        for name in [".norms-out.staging-\(dead)", ".norms-out.staging-\(dead).old", ".norms-out.staging-\(live)"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
        }
        #expect(try analyze(["norms", run, "--epochs", "1,2", "--out", dir + "/norms-out"]).status == 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".norms-out") }
        #expect(left == [".norms-out.staging-\(live)"])
    }

    @Test func earlierResultOfTheSameAnalyzerIsReplaced() throws {
        let (dir, run) = try makeRun()
        let out = dir + "/norms-out"
        #expect(try analyze(["norms", run, "--epochs", "1", "--out", out]).status == 0)
        let first = try String(contentsOfFile: out + "/result.json", encoding: .utf8)
        let again = try analyze(["norms", run, "--epochs", "1,2", "--out", out])
        #expect(again.status == 0, "\(again.stderr)")
        let second = try String(contentsOfFile: out + "/result.json", encoding: .utf8)
        #expect(first != second && second.contains("epoch-0002.ckpt"))
        // The default folder under RUN/analyses/ is replaced the same way.
        #expect(try analyze(["norms", run, "--epochs", "1,2"]).status == 0)
        #expect(try analyze(["norms", run, "--epochs", "1,2"]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: run + "/analyses") == ["norms-1-2"])
    }

    /// An earlier result.json whose `outputs` was edited to list the user's own files: a listed
    /// folder, a listed file of a kind analyses never write, and an unlisted file are all kept
    /// beside the new results; a listed stale result file (a CSV) is replaced as before.
    @Test func anEditedOutputsListDeletesNoUserFiles() throws {
        let (dir, run) = try makeRun()
        let out = dir + "/norms-out"
        #expect(try analyze(["norms", run, "--epochs", "1", "--out", out]).status == 0)
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: out + "/mydata.txt"))
        try FileManager.default.createDirectory(atPath: out + "/photos/2023", withIntermediateDirectories: true)
        try Data("jpg".utf8).write(to: URL(fileURLWithPath: out + "/photos/2023/a.jpg"))
        try Data("a,b\n".utf8).write(to: URL(fileURLWithPath: out + "/stale.csv"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: out + "/unlisted.png"))
        var envelope = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/result.json"))) as? [String: Any])
        envelope["outputs"] = ((envelope["outputs"] as? [String]) ?? []) + ["mydata.txt", "photos", "stale.csv"]
        try JSONSerialization.data(withJSONObject: envelope).write(to: URL(fileURLWithPath: out + "/result.json"))
        let again = try analyze(["norms", run, "--epochs", "1,2", "--out", out])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(FileManager.default.contents(atPath: out + "/mydata.txt") == Data("precious\n".utf8))
        #expect(FileManager.default.contents(atPath: out + "/photos/2023/a.jpg") == Data("jpg".utf8))
        #expect(FileManager.default.contents(atPath: out + "/unlisted.png") == Data("x".utf8))
        #expect(!FileManager.default.fileExists(atPath: out + "/stale.csv"))
        #expect(try String(contentsOfFile: out + "/result.json", encoding: .utf8).contains("epoch-0002.ckpt"))
    }

    /// Another analyzer's results are never replaced, with or without --force (only earlier
    /// results of the same kind are).
    @Test func resultOfAnotherAnalyzerIsRefusedEvenWithForce() throws {
        let (dir, run) = try makeRun()
        let out = dir + "/norms-out"
        #expect(try analyze(["norms", run, "--epochs", "1", "--out", out]).status == 0)
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        let before = snapshot(dir)
        for force in [[], ["--force"]] {
            let r = try analyze(["barrier", run, "--pairs", "1,2", "--points", "3", "--out", out] + force)
            #expect(r.status == 1 && r.stderr.contains("results of norms, not barrier results") && !r.stderr.contains("--force"), "\(r.stderr)")
            #expect(snapshot(dir) == before)
        }
    }

    /// A result.json that does not list what it wrote (hand-made, or of another tool) makes nothing
    /// replaceable, whatever analyzer it names: the folder is refused, with or without --force,
    /// and every file in it stays.
    @Test(arguments: ["norms", "my-own-tool"])
    func aResultWithoutItsOutputsListMakesNothingReplaceable(analyzer: String) throws {
        let (dir, run) = try makeRun()
        let out = dir + "/project"
        try FileManager.default.createDirectory(atPath: out + "/data", withIntermediateDirectories: true)
        try Data(#"{"analyzer": "\#(analyzer)"}"#.utf8).write(to: URL(fileURLWithPath: out + "/result.json"))
        try Data("thesis\n".utf8).write(to: URL(fileURLWithPath: out + "/thesis.tex"))
        try Data("raw".utf8).write(to: URL(fileURLWithPath: out + "/data/raw.bin"))
        let before = snapshot(dir)
        for force in [[], ["--force"]] {
            let r = try analyze(["norms", run, "--epochs", "1,2", "--out", out] + force)
            #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1, "\(force): \(r.stderr)")
            #expect(snapshot(dir) == before, "\(force): files changed")
        }
    }

    /// Someone's website is not an earlier report: its index.html is never overwritten.
    @Test func reportRefusesAForeignIndexButReplacesItsOwn() throws {
        let (dir, run) = try makeRun()
        let site = dir + "/site"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try Data("<html>my page</html>\n".utf8).write(to: URL(fileURLWithPath: site + "/index.html"))
        let before = snapshot(dir)
        let r = try analyze(["report", run, "--out", site])
        #expect(r.status == 1 && r.stderr.hasPrefix("Error: \(site): will not write"), "\(r.stderr)")
        #expect(snapshot(dir) == before)
        #expect(try analyze(["report", run, "--out", dir + "/report"]).status == 0)
        let again = try analyze(["report", run, "--out", dir + "/report"])
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test func reportRefusesARunAndAFile() throws {
        let (dir, run) = try makeRun()
        let before = snapshot(dir)
        for out in [run, run + "/checkpoints", dir + "/notes.txt", dir + "/thesis"] {
            let r = try analyze(["report", run, "--out", out])
            #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("Error: "), "\(out): \(r.stderr)")
            #expect(!r.stderr.contains("--force"), "report has no --force: \(r.stderr)")
        }
        // A folder with nothing of a run is not made into one.
        let notARun = try analyze(["report", dir + "/thesis"])
        #expect(notARun.status == 1 && notARun.stderr.contains("no run.json"), "\(notARun.stderr)")
        #expect(snapshot(dir) == before)
        #expect(try analyze(["report", run]).status == 0)
        #expect(try analyze(["report", run]).status == 0, "an earlier report is refreshed")
    }
}
