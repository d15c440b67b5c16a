import Foundation
import Testing

/// `analyze demo` end to end at toy sizes (`--smoke`): the quick demo's runs and every
/// analyzer, the report, and resumption after an interruption.
@Suite struct DemoTests {
    func demo(_ out: String) throws -> ProcessResult {
        try analyze(["demo", "--smoke", "--out", out, "--fixtures", fixtures, "--threads", "1"])
    }

    func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    @Test func runsEveryAnalyzerWritesTheReportAndResumes() throws {
        let out = temporaryDirectory("basin-demo")
        let first = try demo(out)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("demo: report at ") && first.stdout.contains("/report/index.html"))
        let html = try String(contentsOfFile: out + "/report/index.html", encoding: .utf8)
        for name in ["norms", "barrier", "connect", "plane", "surface", "align", "walk", "svcca", "hessian", "transfer", "spectra"] {
            #expect(html.contains("\(name): \(name)"), "the report has no \(name) section")
        }
        let analyses = out + "/runs/sgdr/analyses"
        let folders = try FileManager.default.contentsOfDirectory(atPath: analyses)
        for folder in folders where !folder.hasPrefix(".") {
            #expect(FileManager.default.fileExists(atPath: "\(analyses)/\(folder)/result.json"), "\(folder) has no result.json")
        }
        let barrier = try #require(folders.first { $0.hasPrefix("barrier-") })
        let kept = modificationDate("\(analyses)/\(barrier)/result.json")

        // Again: nothing is redone.
        let second = try demo(out)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("demo: step: complete, kept") && second.stdout.contains("demo: sgdr: complete, kept"))
        #expect(modificationDate("\(analyses)/\(barrier)/result.json") == kept)

        // Interrupted after epoch 2 of 3 (its last checkpoint and one analysis missing): the run
        // continues from epoch 2, the missing analysis is made, finished ones are kept.
        try FileManager.default.removeItem(atPath: out + "/runs/sgdr/checkpoints/epoch-0003.ckpt")
        let hessian = try #require(folders.first { $0.hasPrefix("hessian-") })
        try FileManager.default.removeItem(atPath: "\(analyses)/\(hessian)")
        let third = try demo(out)
        #expect(third.status == 0, "\(third.stderr)")
        #expect(third.stdout.contains("demo: sgdr: resuming") && third.stdout.contains("demo: step: complete, kept"))
        #expect(FileManager.default.fileExists(atPath: out + "/runs/sgdr/checkpoints/epoch-0003.ckpt"))
        #expect(FileManager.default.fileExists(atPath: "\(analyses)/\(hessian)/result.json"))
        #expect(modificationDate("\(analyses)/\(barrier)/result.json") == kept)

        // A folder holding a different run (another seed) is refused, not mixed into.
        let runJSON = out + "/runs/sgdr/run.json"
        var spec = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runJSON))) as? [String: Any])
        var training = try #require(spec["training"] as? [String: Any])
        training["seed"] = 12345
        spec["training"] = training
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: runJSON))
        try FileManager.default.removeItem(atPath: out + "/runs/sgdr/checkpoints/epoch-0003.ckpt")
        let fourth = try demo(out)
        #expect(fourth.status != 0 && fourth.stderr.contains("different run"), "\(fourth.stderr)")
        #expect(modificationDate("\(analyses)/\(barrier)/result.json") == kept)
    }
}
