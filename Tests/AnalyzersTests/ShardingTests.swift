import AnalyzerTestKit
import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors

@Suite("Shards: assignment")
struct ShardAssignmentTests {
    @Test func shardSelectorParsesOneBasedShares() {
        #expect(ShardSelector(argument: "2/3") == ShardSelector(index: 2, count: 3))
        #expect(ShardSelector(argument: "1/1") != nil)
        for bad in ["0/3", "4/3", "1/0", "-1/2", "a/b", "3", "1/2/3", "", "1/100001"] {
            #expect(ShardSelector(argument: bad) == nil, "\(bad) should be refused")
        }
    }

    @Test(arguments: [1, 2, 3, 7, 40])
    func everyItemBelongsToExactlyOneShardInContiguousRuns(n: Int) throws {
        var g = RandomGenerator(seed: 9)
        let costs = (0..<31).map { _ in 0.5 + Double(g.next() % 100) / 10 }
        let owners = ShardAssignment.owners(costs: costs, count: n)
        #expect(owners.count == costs.count)
        #expect(zip(owners, owners.dropFirst()).allSatisfy { $0 <= $1 }, "shards take contiguous runs in order")
        var union: [Int] = []
        for k in 1...n { union += ShardAssignment.items(costs: costs, shard: try #require(ShardSelector(index: k, count: n))) }
        #expect(union == Array(costs.indices))
        // Balance: each shard's cost is within one item's cost of the mean.
        let total = costs.reduce(0, +), largest = costs.max() ?? 0
        for k in 1...n {
            let load = costs.indices.filter { owners[$0] == k }.map { costs[$0] }.reduce(0, +)
            #expect(abs(load - total / Double(n)) <= largest + 1e-9, "shard \(k) of \(n) carries \(load), mean \(total / Double(n))")
        }
    }

    @Test func costsDecideTheSplitNotTheItemCount() {
        // One expensive item and nine cheap ones over two shards: the expensive one is a shard alone.
        let costs = [9.0] + Array(repeating: 1.0, count: 9)
        #expect(ShardAssignment.owners(costs: costs, count: 2) == [1] + Array(repeating: 2, count: 9))
    }
}

@Suite("Shards: merged equals unsharded, refusals")
struct ShardMergeTests {
    @Test func planeShardsMergeToTheUnshardedResultBitForBit() throws {
        let run = try LandscapeFixtures.convexRun()
        let arguments = ["--pair", "1,3", "--third", "2", "--grid", "5", "--iterates", "all"]
        let options = try PlaneAnalyzer.Options.parse(arguments)
        try AnalyzerTestKit.checkSharding(PlaneAnalyzer.self, options: options, run: run, arguments: [run.path] + arguments)
    }

    /// Shards 1…n of a 4×4 plane into a fresh folder; returns the folder.
    func shardedPlane(_ run: RunDirectory, n: Int, only: [Int]? = nil, grid: Int = 4, seed: UInt64 = 0) throws -> String {
        let out = LandscapeFixtures.folder("shards")
        let arguments = ["--pair", "1,3", "--third", "2", "--grid", "\(grid)", "--iterates", "none"]
        let analyzer = PlaneAnalyzer(options: try PlaneAnalyzer.Options.parse(arguments))
        for k in only ?? Array(1...n) {
            try ShardRunner.runShard(analyzer, shard: try #require(ShardSelector(index: k, count: n)), run: run, outputDirectory: out,
                                     arguments: [run.path] + arguments + ["--shard", "\(k)/\(n)"], seed: seed, progress: .silent)
        }
        return out
    }

    func refusal(_ out: String) -> String {
        do { _ = try ShardSet.read(out); return "" } catch { return "\(error)" }
    }

    @Test func mergeNamesTheMissingShard() throws {
        let run = try LandscapeFixtures.convexRun()
        let out = try shardedPlane(run, n: 4, only: [1, 2, 4])
        let message = refusal(out)
        #expect(message.contains("shard 3 of 4 is missing") && message.contains("shard-3-of-4.json"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: out + "/result.json"))
    }

    @Test func mergeRefusesShardsOfDifferentSettings() throws {
        let run = try LandscapeFixtures.convexRun()
        let out = try shardedPlane(run, n: 2, only: [1])
        let other = try shardedPlane(run, n: 2, only: [2], seed: 5)   // same grid, another seed
        try FileManager.default.copyItem(atPath: other + "/shards/shard-2-of-2.json", toPath: out + "/shards/shard-2-of-2.json")
        let message = refusal(out)
        #expect(message.contains("shard-2-of-2.json") && message.contains("other settings"), "\(message)")
    }

    @Test func mergeRefusesAShardOfAnotherBasinVersion() throws {
        let run = try LandscapeFixtures.convexRun()
        let out = try shardedPlane(run, n: 2)
        let path = out + "/shards/shard-2-of-2.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let edited = text.replacingOccurrences(of: "\"basinVersion\" : \"\(BasinVersion.string)\"", with: "\"basinVersion\" : \"0.0.1\"")
        #expect(edited != text)
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        let message = refusal(out)
        #expect(message.contains("shard-2-of-2.json") && message.contains("Basin 0.0.1"), "\(message)")
    }

    @Test func mergeRefusesACorruptedPartialResult() throws {
        let run = try LandscapeFixtures.convexRun()
        let out = try shardedPlane(run, n: 2)
        let path = out + "/shards/shard-1-of-2.json"
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let analyzer = PlaneAnalyzer(options: try PlaneAnalyzer.Options.parse(["--pair", "1,3", "--third", "2", "--grid", "4", "--iterates", "none"]))
        func merge() -> String {
            do { _ = try ShardRunner.merge(analyzer, set: try ShardSet.read(out), run: run, progress: .silent); return "" } catch { return "\(error)" }
        }
        // A changed number: the checksum of the values no longer matches.
        let range = try #require(original.range(of: "\"loss\" : ", options: .backwards))
        let digit = try #require(original[range.upperBound...].firstIndex { $0.isNumber && $0 != "0" })
        var changed = original
        changed.replaceSubrange(digit...digit, with: original[digit] == "9" ? "8" : "9")
        try changed.write(toFile: path, atomically: true, encoding: .utf8)
        var message = merge()
        #expect(message.contains("shard-1-of-2.json") && message.contains("SHA-256"), "\(message)")
        // A truncated file: not readable at all.
        try String(original.prefix(original.count / 2)).write(toFile: path, atomically: true, encoding: .utf8)
        message = merge()
        #expect(message.contains("shard-1-of-2.json") && message.contains("not a readable shard result"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: out + "/result.json"))
        // Restored, it merges — and the shards stay beside the result.
        try original.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(merge() == "")
        #expect(FileManager.default.fileExists(atPath: out + "/result.json"))
        #expect(FileManager.default.fileExists(atPath: out + "/shards/shard-2-of-2.json"))
    }

    @Test func mergeRefusesWhenTheInputsChangedSinceTheShardsRan() throws {
        let run = try LandscapeFixtures.convexRun()
        let out = try shardedPlane(run, n: 2, grid: 4)
        let bigger = PlaneAnalyzer(options: try PlaneAnalyzer.Options.parse(["--pair", "1,3", "--third", "2", "--grid", "5", "--iterates", "none"]))
        #expect(throws: AnalysisError.self) { _ = try ShardRunner.merge(bigger, set: try ShardSet.read(out), run: run, progress: .silent) }
    }

    @Test func aShardNeverReplacesSomeoneElsesFolder() throws {
        let run = try LandscapeFixtures.convexRun()
        let out = LandscapeFixtures.folder("shards-foreign")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "notes".write(toFile: out + "/notes.txt", atomically: true, encoding: .utf8)
        let analyzer = PlaneAnalyzer(options: try PlaneAnalyzer.Options.parse(["--pair", "1,3", "--third", "2", "--grid", "3"]))
        #expect(throws: AnalysisError.self) {
            try ShardRunner.runShard(analyzer, shard: try #require(ShardSelector(index: 1, count: 2)), run: run, outputDirectory: out,
                                     arguments: [], progress: .silent)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["notes.txt"])
    }
}
