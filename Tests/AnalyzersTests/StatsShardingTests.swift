import AnalyzerTestKit
import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors

/// svcca, hessian, transfer and norms merged from 1, 2, 3 and 7 shards write the files an
/// unsharded run writes, byte for byte (issue 15); a cell, checkpoint, stage or tensor gives
/// the same bits whatever is computed beside it.
@Suite("Shards: svcca, hessian, transfer, norms")
struct StatsShardingTests {
    @Test(arguments: 0..<5)
    func svccaCellsMergeToTheUnshardedHeatmapBitForBit(variant: Int) throws {
        let run = try StatsShardingFixtures.svccaRun()
        let arguments = StatsShardingFixtures.svccaArguments(run)[variant]
        try AnalyzerTestKit.checkSharding(SVCCAAnalyzer.self, options: try SVCCAAnalyzer.Options.parse(arguments), run: run,
                                          arguments: [run.path] + arguments)
    }

    @Test func svccaShardsReadAndPrepareOnlyTheLayersOfTheirCells() throws {
        let run = try StatsShardingFixtures.svccaRun()
        let analyzer = SVCCAAnalyzer(options: try SVCCAAnalyzer.Options.parse(["--epochs", "1,2"]))
        let out = NSTemporaryDirectory() + "/basin-stats-svcca-plan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let context = AnalysisContext(run: run, outputDirectory: out, progress: .silent, threads: 2, seed: 0)
        let plan = try analyzer.plan(context)
        #expect(plan.count == 16, "4 × 4 cells")
        // The flattened 30-neuron layer's cells cost more than the 7-neuron noise layer's.
        #expect(plan.costs[5] > plan.costs[15])
        // A shard of the last row's cells leaves the other rows' layers unread.
        let lastRow = Array(12..<16)
        #expect(throws: CheckpointError.missingEntry(path: run.activationsPath(for: .epoch(1)), entry: "wide.npy")) {
            try plan.work.dumpA.loading(["noise"]).matrix("wide")
        }
        let alone = try analyzer.compute(lastRow, of: plan, context: context)
        let all = try analyzer.compute(Array(0..<16), of: plan, context: context)
        for (n, k) in lastRow.enumerated() { #expect(alone[n].comparison == all[k].comparison, "cell \(k)") }
    }

    @Test func aCellsProductDoesNotDependOnTheOtherCells() throws {
        typealias RS = RepresentationSimilarity
        var rng = RandomGenerator(seed: 8)
        let layers = try (0..<4).map { k in ("l\(k)", try Tensor<Double>(shape: [300, 20 + 13 * k], scalars: (0..<(300 * (20 + 13 * k))).map { _ in rng.nextNormal() })) }
        func cells(_ subset: [LayerSimilarityMatrix.Cell], _ precision: RS.ProductPrecision) throws -> [RS.Comparison] {
            try LayerSimilarityMatrix.compute(cells: subset, layersA: layers.map(\.0), layersB: layers.map(\.0), reduction: .variance(0.99),
                                              measures: .all, precision: precision, threads: 2) { _, i in layers[i].1 }.comparisons
        }
        for precision in RS.ProductPrecision.allCases {
            let every = LayerSimilarityMatrix.allCells(4, 4)
            let whole = try cells(every, precision)
            for (k, cell) in every.enumerated() { #expect(try cells([cell], precision) == [whole[k]], "cell \(cell), \(precision)") }
        }
    }

    @Test(arguments: 0..<2)
    func hessianCheckpointsMergeToTheUnshardedSpectraBitForBit(variant: Int) throws {
        let run = try StatsShardingFixtures.blobsRun()
        let arguments = StatsShardingFixtures.hessianArguments[variant]
        try AnalyzerTestKit.checkSharding(HessianAnalyzer.self, options: try HessianAnalyzer.Options.parse(arguments), run: run,
                                          arguments: [run.path] + arguments, counts: [1, 2, 3, 7])
    }

    @Test(arguments: 0..<2)
    func transferStagesMergeToTheUnshardedResultBitForBit(variant: Int) throws {
        let run = try StatsShardingFixtures.transferRun()
        let arguments = StatsShardingFixtures.transferArguments[variant]
        try AnalyzerTestKit.checkSharding(TransferAnalyzer.self, options: try TransferAnalyzer.Options.parse(arguments), run: run,
                                          arguments: [run.path] + arguments)
    }

    @Test func transferFromAccuraciesHasNoItemsAndStillMerges() throws {
        let table = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/transfer/paper003_table2.csv").path
        let arguments = ["--from-accuracies", table]
        try AnalyzerTestKit.checkSharding(TransferAnalyzer.self, options: try TransferAnalyzer.Options.parse(arguments), run: nil,
                                          arguments: arguments, counts: [1, 3])
    }

    @Test(arguments: 0..<3)
    func normsTensorsMergeToTheUnshardedTableBitForBit(variant: Int) throws {
        let run = try StatsShardingFixtures.normsRun()
        let arguments = StatsShardingFixtures.normsArguments[variant]
        try AnalyzerTestKit.checkSharding(NormsAnalyzer.self, options: try NormsAnalyzer.Options.parse(arguments), run: run,
                                          arguments: [run.path] + arguments)
    }

    @Test func normsShardWithANaNTensorNamesItAsTheUnshardedRunDoes() throws {
        let run = try StatsShardingFixtures.normsRun()
        try CheckpointWriter.write([TensorSource(name: "fc.weight", tensor: Tensor<Float>(vector: [1, .nan])),
                                    TensorSource(name: "fc.bias", tensor: Tensor<Float>(vector: [0]))],
                                   manifest: CheckpointManifest(kind: .checkpoint, createdBy: "test", epoch: 5), to: run.checkpointPath(for: .epoch(5)))
        let analyzer = NormsAnalyzer(options: try NormsAnalyzer.Options.parse(["--epochs", "5"]))
        let path = run.checkpointPath(for: .epoch(5))
        #expect(throws: CheckpointError.nonFinite(path: path, entry: "fc.weight.npy", index: 1)) {
            try AnalysisRunner.run(analyzer, run: run, outputDirectory: NSTemporaryDirectory() + "/basin-norms-nan-\(UUID().uuidString)",
                                   arguments: [], progress: .silent)
        }
        let out = NSTemporaryDirectory() + "/basin-norms-nan-shards-\(UUID().uuidString)"
        let shard = try #require(ShardSelector(index: 1, count: 2))
        #expect(throws: CheckpointError.nonFinite(path: path, entry: "fc.weight.npy", index: 1)) {
            try ShardRunner.runShard(analyzer, shard: shard, run: run, outputDirectory: out, arguments: [], progress: .silent)
        }
    }
}
