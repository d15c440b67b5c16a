import Foundation
import Testing

@Suite struct PluginAndReportTests {
    let pluginDirectory = repoRoot + "/examples/python-plugin"

    func makeRun() throws -> String {
        let dir = temporaryDirectory("basin-report")
        let run = dir + "/run"
        #expect(try analyze(["import", fixtures + "/interop/state_dict", "--run", run, "--epoch", "1"]).status == 0)
        #expect(try analyze(["import", fixtures + "/interop/state_dict_later", "--run", run, "--epoch", "2"]).status == 0)
        let metrics = (0..<5).map { #"{"iteration": \#($0 * 10), "train_loss": \#(2.0 / Double($0 + 1)), "lr": 0.1}"# }
        try (metrics.joined(separator: "\n") + "\n").write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        return run
    }

    @Test func pythonPluginIsListedRunAndAgreesWithTheBuiltIn() throws {
        guard python != nil else {
            if numpyRequired { Issue.record("python3 with NumPy is required (BASIN_STRICT_TESTS=1) but missing") }
            return
        }
        let run = try makeRun()
        let env = ["PATH": pluginDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        let list = try analyze(["list"], environment: env)
        #expect(list.stdout.contains("weightnorms") && list.stdout.contains("example plugin"))
        let r = try analyze(["weightnorms", run, "--epoch", "2"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let plugin = try JSONSerialization.jsonObject(with: try #require(FileManager.default.contents(atPath: run + "/analyses/weightnorms/result.json"))) as? [String: Any]
        let rows = (plugin?["result"] as? [String: Any])?["tensors"] as? [[String: Any]] ?? []
        #expect(rows.count == 4)
        // The built-in computes the same norms in Swift.
        let builtIn = try analyze(["norms", run, "--epochs", "2", "--json"])
        let envelope = try JSONSerialization.jsonObject(with: Data(builtIn.stdout.utf8)) as? [String: Any]
        let swiftRows = ((envelope?["result"] as? [String: Any])?["tensors"] as? [[String: Any]]) ?? []
        for row in rows {
            let name = row["name"] as? String
            let swift = swiftRows.first { $0["name"] as? String == name }
            let a = row["norm"] as? Double ?? .nan, b = (swift?["norms"] as? [Double])?.first ?? .nan
            #expect(abs(a - b) <= 1e-12 * max(1, abs(a)), "\(name ?? "?"): plugin \(a), built-in \(b)")
        }
        // Unknown commands that are not plugins are still errors.
        #expect(try analyze(["no-such-analyzer"], environment: env).status != 0)
    }

    @Test func reportGathersEverythingAndIsIdempotent() throws {
        let run = try makeRun()
        #expect(try analyze(["norms", run, "--epochs", "1,2"]).status == 0)
        #expect(try analyze(["transfer", "--from-accuracies", fixtures + "/transfer/paper003_table2.csv",
                             "--out", run + "/analyses/transfer-paper"]).status == 0)
        let first = try analyze(["report", run])
        #expect(first.status == 0, "\(first.stderr)")
        let html = try String(contentsOfFile: run + "/report/index.html", encoding: .utf8)
        for needle in ["Training", "norms: norms-1-2", "transfer: transfer-paper", "data:image/png;base64,",
                       "distance, all parameters", "Caltech256, finetune, stage 2", "0.317"] {
            #expect(html.contains(needle), "report lacks \(needle)")
        }
        #expect(!html.contains("http://") && !html.contains("https://"))
        #expect(try analyze(["report", run]).status == 0)
        #expect(try String(contentsOfFile: run + "/report/index.html", encoding: .utf8) == html)
    }

    @Test func reportOfAnEmptyRunSaysSo() throws {
        let dir = temporaryDirectory("basin-empty")
        let r = try analyze(["report", dir])
        #expect(r.status == 0)
        #expect(try String(contentsOfFile: dir + "/report/index.html", encoding: .utf8).contains("Nothing to report yet"))
        #expect(try analyze(["report", dir]).status == 0, "the earlier report is refreshed")
        #expect(try analyze(["report", dir + "/missing"]).status != 0)
    }
}

@Suite struct SwiftCustomAnalyzerTests {
    /// Built by `make test` (swift build --package-path examples/swift-custom-analyzer).
    let binary = repoRoot + "/examples/swift-custom-analyzer/.build/debug/my-analyze"

    @Test func customBuildListsRunsAndReportsItsAnalyzer() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            if numpyRequired { Issue.record("\(binary) is not built; `make test` builds it") }
            return
        }
        let dir = temporaryDirectory("basin-custom")
        #expect(try analyze(["import", fixtures + "/interop/state_dict", "--run", dir, "--epoch", "3"]).status == 0)
        let list = try runProcess(binary, ["list"])
        #expect(list.stdout.contains("parameter-count") && list.stdout.contains("norms"))
        let help = try runProcess(binary, ["parameter-count", "--help"])
        #expect(help.stdout.contains("Examples:"))
        let r = try runProcess(binary, ["parameter-count", dir, "--epoch", "3", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let result = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["result"] as? [String: Any]
        // fc1 3×4 + 3, fc2 2×3 + 2 = 23 parameters; running_mean 3 + num_batches_tracked 1 = 4 buffer elements.
        #expect(result?["parameters"] as? Int == 23 && result?["buffers"] as? Int == 4)
        #expect(try runProcess(binary, ["report", dir]).status == 0)
        let html = try String(contentsOfFile: dir + "/report/index.html", encoding: .utf8)
        #expect(html.contains("parameter-count: parameter-count-3") && html.contains("buffer elements"))
        // The shipped `analyze` does not know it (and says so).
        #expect(try analyze(["parameter-count", dir, "--epoch", "3"]).status != 0)
    }

    /// A custom analyzer that conforms to `ShardableAnalyzer` gets `--shard` and `merge`; one that
    /// does not refuses `--shard` as a usage error.
    @Test func customAnalyzersShardToo() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            if numpyRequired { Issue.record("\(binary) is not built; `make test` builds it") }
            return
        }
        let dir = temporaryDirectory("basin-custom-shards")
        for epoch in ["1", "2", "3"] {
            #expect(try analyze(["import", fixtures + "/interop/state_dict", "--run", dir + "/run", "--epoch", epoch]).status == 0)
        }
        let command = ["parameter-count-over-epochs", dir + "/run", "--quiet"]
        #expect(try runProcess(binary, command + ["--out", dir + "/whole"]).status == 0)
        for k in ["2/2", "1/2"] {
            let r = try runProcess(binary, command + ["--out", dir + "/sharded", "--shard", k])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let merged = try runProcess(binary, ["merge", dir + "/sharded"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let csv = FileManager.default.contents(atPath: dir + "/sharded/counts.csv")
        #expect(csv != nil && csv == FileManager.default.contents(atPath: dir + "/whole/counts.csv"))
        #expect(String(decoding: csv ?? Data(), as: UTF8.self) == "epoch,parameters\n1,23\n2,23\n3,23\n")
        let refused = try runProcess(binary, ["parameter-count", dir + "/run", "--epoch", "3", "--shard", "1/2"])
        #expect(refused.status == 64 && refused.stderr.contains("parameter-count cannot be sharded"), "\(refused.stderr)")
        // `submit` refuses it before submitting anything; the shardable one runs as local shards.
        let submit = try runProcess(binary, ["submit", "--local", "2", "--", "parameter-count", dir + "/run", "--epoch", "3"])
        #expect(submit.status == 64 && submit.stderr.contains("parameter-count"), "\(submit.stderr)")
        let local = try runProcess(binary, ["submit", "--local", "2", "--", "parameter-count-over-epochs", dir + "/run", "--out", dir + "/local"])
        #expect(local.status == 0, "\(local.stderr)")
        #expect(FileManager.default.contents(atPath: dir + "/local/counts.csv") == csv)
    }
}
