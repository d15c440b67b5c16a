import AnalyzerTestKit
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors

/// Issue 15 for the landscape analyzers: `barrier`, `walk` and `connect` split into shards that
/// merge to exactly the files an unsharded run writes (result.json, CSVs, figures, bend
/// checkpoints), for 1, 2, 3 and 7 shards run in reverse order.
@Suite("Shards: barrier, walk, connect merge to the unsharded result")
struct LandscapeShardingTests {
    @Test func barrierShardsOfSeveralPairsMergeBitForBit() throws {
        let run = try LandscapeFixtures.convexRun()
        let arguments = ["--pairs", "0,3", "--pairs", "1,2", "--pairs", "it:6,it:7", "--points", "5"]
        try AnalyzerTestKit.checkSharding(BarrierAnalyzer.self, options: try BarrierAnalyzer.Options.parse(arguments), run: run,
                                          arguments: [run.path] + arguments)
    }

    @Test func barrierPlansEveryPointOfEverySegmentAndCurve() throws {
        let (run, perm, connection) = try connectedSpiral()
        let arguments = ["--a", run.path + "/:40", "--b", perm, "--points", "4", "--connection", connection]
        let analyzer = BarrierAnalyzer(options: try BarrierAnalyzer.Options.parse(arguments))
        let context = AnalysisContext(run: nil, outputDirectory: LandscapeFixtures.folder("plan"), progress: .silent, threads: 1, seed: 0)
        let plan = try analyzer.plan(context)
        #expect(plan.count == 2 * 4, "four segment points and four curve points")
        #expect(plan.work.items.map { $0.path == .curve } == [false, false, false, false, true, true, true, true])
        // Seven shards of eight points: every shard gets work, none gets all.
        let owners = ShardAssignment.owners(costs: plan.costs, count: 7)
        #expect(Set(owners).count == 7)
    }

    @Test func barrierWithACurveMergesBitForBit() throws {
        let (run, perm, connection) = try connectedSpiral()
        let arguments = ["--a", run.path + "/:40", "--b", perm, "--points", "4", "--connection", connection]
        try AnalyzerTestKit.checkSharding(BarrierAnalyzer.self, options: try BarrierAnalyzer.Options.parse(arguments), run: nil,
                                          arguments: arguments)
    }

    @Test func walkShardsMergeBitForBit() throws {
        let run = try LandscapeFixtures.convexRun()
        let arguments = ["--points", "3"]
        try AnalyzerTestKit.checkSharding(WalkAnalyzer.self, options: try WalkAnalyzer.Options.parse(arguments), run: run,
                                          arguments: [run.path] + arguments)
    }

    @Test func walkStepComputedAloneEqualsTheSameStepInTheWholeWalk() throws {
        let run = try LandscapeFixtures.convexRun()
        let analyzer = WalkAnalyzer(options: try WalkAnalyzer.Options.parse(["--points", "3", "--max-steps", "4"]))
        let context = AnalysisContext(run: run, outputDirectory: LandscapeFixtures.folder("plan"), progress: .silent, threads: 1, seed: 0)
        let plan = try analyzer.plan(context)
        #expect(plan.count == 4 && plan.costs == [4, 4, 4, 4], "four steps of α = 0, ⅓, ⅔, 1")
        // One step computed alone equals the same step computed with all the others.
        let all = try analyzer.compute(Array(0..<4), of: plan, context: context)
        let third = try analyzer.compute([2], of: plan, context: context)
        #expect(third.first?.profile == all[2].profile && third.first?.distances == all[2].distances)
        #expect(all[1].distances.last == all[2].distances.first, "a step's end is the next step's start")
    }

    @Test func connectShardsMergeBitForBit() throws {
        let (run, perm) = try spiralPair()
        let arguments = ["--a", run.path + "/:40", "--b", perm, "--epochs", "2", "--batch-size", "40", "--points", "4"]
        try AnalyzerTestKit.checkSharding(ConnectAnalyzer.self, options: try ConnectAnalyzer.Options.parse(arguments), run: nil,
                                          arguments: arguments, seed: 3)
    }

    @Test func mergeRefusesValuesThatDoNotFitThePlanNamingTheShardsFolder() throws {
        let run = try LandscapeFixtures.convexRun()
        let arguments = ["--pairs", "0,3", "--points", "4"]
        let analyzer = BarrierAnalyzer(options: try BarrierAnalyzer.Options.parse(arguments))
        let out = LandscapeFixtures.folder("misfit")
        for k in 1...2 {
            _ = try ShardRunner.runShard(analyzer, shard: try #require(ShardSelector(index: k, count: 2)), run: run, outputDirectory: out,
                                     arguments: [run.path] + arguments + ["--shard", "\(k)/2"], progress: .silent)
        }
        // A point with one split value instead of two, its checksum redone: intact, but not this plan's.
        let path = out + "/shards/shard-2-of-2.json"
        let data = try #require(FileManager.default.contents(atPath: path))
        var partial = try ShardFile.decoder().decode(ShardPartial<[SplitValue]>.self, from: data)
        partial.values[0].removeLast()
        partial.header.valuesSHA256 = sha256Hex(try ShardFile.encodeValues(partial.values))
        try ShardFile.write(partial, to: path)
        #expect {
            _ = try ShardRunner.merge(analyzer, set: try ShardSet.read(out), run: run, progress: .silent)
        } throws: { error in
            let message = "\(error)"
            return message.contains(URL(fileURLWithPath: out).lastPathComponent + "/shards:") && !message.contains("staging") && message.contains("has 1 split values, expected 2")
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/result.json"))
    }

    @Test func exactFloatsRoundTripEveryBitPattern() throws {
        let special: [Float] = [0, -0.0, 1, -1.5, .pi, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity, -.infinity,
                                Float(bitPattern: 0x7fc0_1234), Float(bitPattern: 0xffa0_0001)]
        let json = try ShardFile.encodeValues([ExactFloats(special)])
        let back = try ShardFile.decoder().decode([ExactFloats].self, from: Data(json))
        #expect(back.first?.scalars.map(\.bitPattern) == special.map(\.bitPattern))
        for bad in [#"["not base64!"]"#, #"["AAAAAAA="]"#] {   // not Base64; five bytes
            #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode([ExactFloats].self, from: Data(bad.utf8)) }
        }
    }

    // MARK: fixtures

    /// The spiral run's last checkpoint and a permuted copy of it (a pair with a barrier).
    func spiralPair() throws -> (RunDirectory, String) {
        let run = try LandscapeFixtures.spiralRun()
        let out = LandscapeFixtures.folder("perm")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try LandscapeFixtures.permutedCopy(of: try run.checkpoint(.epoch(40)), to: out + "/perm.ckpt")
        return (run, out + "/perm.ckpt")
    }

    /// `spiralPair` with a two-bend Bézier connection trained for one epoch.
    func connectedSpiral() throws -> (RunDirectory, String, String) {
        let (run, perm) = try spiralPair()
        let out = LandscapeFixtures.folder("connection")
        _ = try AnalysisRunner.run(ConnectAnalyzer.self, arguments: ["--a", run.path + "/:40", "--b", perm, "--epochs", "1", "--curve", "bezier",
                                                                     "--bends", "2", "--points", "3"],
                                   run: nil, outputDirectory: out, progress: .silent)
        return (run, perm, out)
    }
}
