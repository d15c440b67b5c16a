import AnalyzerTestKit
import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors

@Suite struct NormsAnalyzerTests {
    /// A run with two checkpoints whose norms are known by hand.
    func makeRun() throws -> RunDirectory {
        let run = try RunDirectory.create(path: NSTemporaryDirectory() + "/basin-norms-\(UUID().uuidString)")
        let points: [(Int, [Float], [Float])] = [(1, [3, 4], [0]), (2, [0, 0], [2])]
        for (epoch, w, b) in points {
            try CheckpointWriter.write([TensorSource(name: "fc.weight", tensor: Tensor(vector: w)),
                                        TensorSource(name: "bn.running_mean", tensor: Tensor(vector: b), role: .buffer)],
                                       manifest: CheckpointManifest(kind: .checkpoint, createdBy: "test", epoch: epoch),
                                       to: run.checkpointPath(for: .epoch(epoch)))
        }
        return run
    }

    func options(_ arguments: [String]) throws -> NormsAnalyzer.Options {
        try NormsAnalyzer.Options.parse(arguments)
    }

    @Test func keepsTheAnalyzerContract() throws {
        let run = try makeRun()
        let result = try AnalyzerTestKit.checkContract(NormsAnalyzer.self, options: try options(["--epochs", "1,2"]), run: run)
        let weight = try #require(result.tensors.first { $0.name == "fc.weight" })
        #expect(weight.norms == [5, 0] && weight.distance == 5 && weight.relativeDistance == 1)
        let buffer = try #require(result.tensors.first { $0.name == "bn.running_mean" })
        #expect(buffer.norms == [0, 2] && buffer.distance == 2 && buffer.relativeDistance == nil)
    }

    /// Optimizer state may be absent from one checkpoint (no momentum before the first step);
    /// a missing model tensor is still an error.
    @Test func optimizerStateMayDifferButModelTensorsMayNot() throws {
        let run = try makeRun()
        try CheckpointWriter.write([TensorSource(name: "fc.weight", tensor: Tensor(vector: [Float(6), 8])),
                                    TensorSource(name: "bn.running_mean", tensor: Tensor(vector: [Float(0)]), role: .buffer),
                                    TensorSource(name: "optimizer.momentum_buffer", tensor: Tensor(vector: [Float(1), 1]), role: .optimizer)],
                                   manifest: CheckpointManifest(kind: .checkpoint, createdBy: "test", epoch: 3),
                                   to: run.checkpointPath(for: .epoch(3)))
        let result = try AnalyzerTestKit.checkContract(NormsAnalyzer.self, options: try options(["--epochs", "1,3"]), run: run)
        let weight = try #require(result.tensors.first { $0.name == "fc.weight" })
        #expect(weight.norms == [5, 10] && weight.distance == 5)
        #expect(!result.tensors.contains { $0.role == .optimizer })
        try CheckpointWriter.write([TensorSource(name: "fc.weight", tensor: Tensor(vector: [Float(6), 8]))],
                                   manifest: CheckpointManifest(kind: .checkpoint, createdBy: "test", epoch: 4),
                                   to: run.checkpointPath(for: .epoch(4)))
        let context = AnalysisContext(run: run, outputDirectory: NSTemporaryDirectory() + "/basin-norms-out-\(UUID().uuidString)",
                                      progress: .silent, threads: 1, seed: 0)
        #expect(throws: CheckpointError.self) { try NormsAnalyzer(options: try options(["--epochs", "1,4"])).run(context) }
    }

    @Test func singleCheckpointHasNoDistance() throws {
        let result = try AnalyzerTestKit.checkContract(NormsAnalyzer.self, options: try options(["--epochs", "1"]), run: try makeRun())
        #expect(result.tensors.allSatisfy { $0.distance == nil && $0.norms.count == 1 })
    }

    @Test func totalsCombineSquares() {
        let rows = [WeightNorms.Row(name: "a", role: .parameter, shape: [2], norms: [3, 1], distance: 1, relativeDistance: nil),
                    WeightNorms.Row(name: "b", role: .parameter, shape: [3], norms: [4, 1], distance: 1, relativeDistance: nil)]
        let total = WeightNorms.total(rows, role: .parameter)
        #expect(total?.norms == [5, 2.0.squareRoot()])
        #expect(total?.distance == 2.0.squareRoot() && total?.relativeDistance == 2.0.squareRoot() / 5)
        #expect(total?.shape == [5])
        #expect(WeightNorms.total(rows, role: .buffer) == nil)
    }

    @Test(arguments: [([String](), "name checkpoints with --epochs"), (["--epochs", "1,2,3"], "one or two checkpoints"),
                      (["--epochs", "1,x"], "one or two checkpoints"), (["--epochs", "1", "--a", "x.ckpt"], "not both"),
                      (["--b", "x.ckpt"], "name checkpoints with --epochs")])
    func invalidOptionsAreRejected(arguments: [String], expected: String) {
        let message = usageError(NormsAnalyzer.Options.self, arguments)
        #expect(message?.contains(expected) == true, "\(arguments): \(message ?? "accepted")")
    }

    @Test func outputFolderNamesTheSettings() throws {
        #expect(NormsAnalyzer(options: try options(["--epochs", "10,it:200"])).outputName == "norms-10-it200")
    }

    @Test func everyBuiltInHasAUniqueNameSummaryAndExamples() {
        let names = BuiltInAnalyzers.all.map { $0.name }
        #expect(Set(names).count == names.count)
        for a in BuiltInAnalyzers.all {
            #expect(!a.summary.isEmpty && !a.summary.contains("\n"), "\(a.name)")
            #expect(a.discussion.contains("Examples:"), "\(a.name)")
        }
    }
}
