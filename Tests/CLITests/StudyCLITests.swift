import Foundation
import Testing

/// `analyze study`: the list with run times, usage errors before any work, a refused folder kept.
@Suite struct StudyCLITests {
    static let names = ["paper000-sgdr-barrier", "paper000-warmup-freeze", "paper000-distillation", "paper002-walk", "paper003-ps10"]

    @Test func listShowsEveryStudyWithItsTime() throws {
        let r = try analyze(["study", "--list"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        for name in Self.names {
            let line = try #require(lines.first { $0.hasPrefix(name + " ") }, "\(name) missing from --list: \(r.stdout)")
            #expect(line.contains("quick ≈") && line.contains("full ≈"), "\(line)")
        }
        let help = try analyze(["study", "--help"])
        #expect(help.status == 0 && help.stdout.contains("Examples:") && help.stdout.contains("--budget"))
    }

    @Test("usage errors exit 64 before any work", arguments: [
        (["study"], "name a study"),
        (["study", "paper999-nothing"], "unknown study 'paper999-nothing'"),
        (["study", "paper000-sgdr-barrier", "--budget", "huge"], "huge"),
        (["study", "paper000-sgdr-barrier", "--threads", "0"], "--threads must be in 1…64, got 0"),
    ])
    func usageErrors(_ arguments: [String], _ expected: String) throws {
        let r = try analyze(arguments)
        #expect(r.status == 64 && r.stderr.contains(expected), "\(arguments): exit \(r.status): \(r.stderr)")
    }

    @Test func aFileAsTheFolderIsRefusedOnOneLineAndKept() throws {
        let dir = temporaryDirectory()
        let file = dir + "/page.md"
        try "mine\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try analyze(["study", "paper000-sgdr-barrier", "--budget", "quick", "--out", file, "--quiet"])
        #expect(r.status == 1 && r.stderr.hasPrefix("Error: ") && r.stderr.contains(file), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "mine\n")
    }
}
