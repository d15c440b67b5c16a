import Foundation
import Testing

/// `analyze train --walk-*` records the walk; `analyze walk RUN` reads it without per-iteration checkpoints.
@Suite struct WalkRecordingCLITests {
    @Test func trainRecordsTheWalkAndAnalyzeWalkReadsIt() throws {
        let dir = temporaryDirectory()
        let config = dir + "/tiny.json"
        try tinyMLPRunConfig(epochs: 1).write(toFile: config, atomically: true, encoding: .utf8)
        let t = try analyze(["train", "--config", config, "--out", dir + "/run", "--quiet", "--walk-epochs", "1", "--walk-points", "3",
                             "--walk-max-steps", "2", "--walk-train-limit", "40"])
        #expect(t.status == 0, "\(t.stderr)")
        let runJSON = try String(contentsOfFile: dir + "/run/run.json", encoding: .utf8)
        #expect(runJSON.contains("\"walk\" : {") && runJSON.contains("\"maxSteps\" : 2") && runJSON.contains("\"trainLimit\" : 40"))
        let w = try analyze(["walk", dir + "/run", "--json"])
        #expect(w.status == 0, "\(w.stderr)")
        #expect(w.stdout.contains("walk.jsonl (recorded during training)"), "\(w.stdout)")
        let refused = try analyze(["walk", dir + "/run", "--points", "5"])
        #expect(refused.status == 1 && refused.stderr.contains("recorded with 3 points per step, not --points 5"), "\(refused.stderr)")
    }

    @Test("bad --walk-* flags are usage errors", arguments: [
        (["--walk-epochs", "0"], "--walk-epochs takes epoch numbers ≥ 1"),
        (["--walk-epochs", "1", "--walk-points", "1"], "--walk-points must be in 2…100001, got 1"),
        (["--walk-points", "4"], "add --walk-epochs"),
        (["--walk-epochs", "1", "--walk-train-limit", "0"], "--walk-train-limit must be at least 1, got 0"),
        (["--walk-epochs", "1", "--walk-max-steps", "0"], "--walk-max-steps must be in 1…1000000, got 0"),
    ])
    func badFlags(_ flags: [String], _ expected: String) throws {
        let r = try analyze(["train", "--preset", "mlp", "--out", temporaryDirectory() + "/run"] + flags)
        #expect(r.status == 64 && r.stderr.contains(expected), "\(flags): exit \(r.status): \(r.stderr)")
    }
}
