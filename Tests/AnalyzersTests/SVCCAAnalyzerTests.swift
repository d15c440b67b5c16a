import AnalyzerTestKit
import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

@Suite struct SVCCAAnalyzerTests {
    /// Dumps at epochs 1 and 2: layer `shared` is an invertible transform of the same
    /// signal in both (similarity 1), `noise` is independent (similarity near the
    /// baseline), `conv` is an NCHW map that pools to `shared`'s signal.
    func makeRun(probeSeed: UInt64 = 0) throws -> RunDirectory {
        let run = try RunDirectory.create(path: NSTemporaryDirectory() + "/basin-svcca-\(UUID().uuidString)")
        var rng = RandomGenerator(seed: 9)
        let n = 300
        let signal = Tensor<Float>.randomNormal(shape: [n, 6], using: &rng)
        for epoch in [1, 2] {
            var mix = Tensor<Float>.randomNormal(shape: [6, 6], using: &rng)
            for i in 0..<6 { mix[i, i] += 4 }
            let shared = try Tensor.matmul(signal, mix)
            let noise = Tensor<Float>.randomNormal(shape: [n, 8], using: &rng)
            var conv = Tensor<Float>(zeros: [n, 6, 2, 2])
            for i in 0..<n { for c in 0..<6 { for k in 0..<4 { conv[flat: (i * 6 + c) * 4 + k] = signal[i, c] + (k.isMultiple(of: 2) ? 1 : -1) * Float(epoch) } } }
            let manifest = CheckpointManifest(kind: .activations, createdBy: "test", epoch: epoch,
                                              probe: ProbeSet(dataset: "synthetic", split: "val", count: n, seed: epoch == 2 ? probeSeed : 0))
            try CheckpointWriter.write([TensorSource(name: "conv", tensor: conv, role: .activation),
                                        TensorSource(name: "shared", tensor: shared, role: .activation),
                                        TensorSource(name: "noise", tensor: noise, role: .activation)],
                                       manifest: manifest, to: run.activationsPath(for: .epoch(epoch)))
        }
        return run
    }

    @Test func heatmapFindsTheSharedLayerAndKeepsTheContract() throws {
        let run = try makeRun()
        let options = try SVCCAAnalyzer.Options.parse(["--epochs", "1,2", "--no-reduction"])
        let result = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: options, run: run)
        let m = result.similarity
        #expect(m.layersA == ["conv", "shared", "noise"] && m.layersB == m.layersA)
        let svcca = m.values(.svcca)
        #expect(abs(svcca[1][1] - 1) < 1e-5)          // shared vs shared: invertible transform
        #expect(abs(svcca[0][0] - 1) < 1e-5)          // pooled conv maps: the same signal
        #expect(abs(svcca[0][1] - 1) < 1e-5)          // conv (pooled) spans the same space as shared
        #expect(svcca[2][2] < 0.3)                     // independent noise
        #expect(result.diagonal?.count == 3)
        #expect(Set(result.files).isSuperset(of: ["matrix.csv", "pairs.csv", "heatmap.png", "heatmap.svg", "diagonal.csv"]))
    }

    @Test func flattenedConvolutionsSeeTheSpatialPattern() throws {
        let run = try makeRun()
        let options = try SVCCAAnalyzer.Options.parse(["--epochs", "1,2", "--conv", "flatten", "--layers", "conv", "--no-reduction"])
        let result = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: options, run: run)
        // 24 flattened neurons; the ±epoch offsets are constant per position, so after
        // centring each position is the signal again: 6 directions, all correlations 1.
        #expect(result.similarity.comparisons[0][0].keptA == 6)
        #expect(abs(result.similarity.values(.svcca)[0][0] - 1) < 1e-5)
    }

    @Test func fourierRouteComparesChannelsPerFrequency() throws {
        let run = try makeRun()
        let options = try SVCCAAnalyzer.Options.parse(["--epochs", "1,2", "--conv", "dft", "--metric", "svcca,cka", "--no-reduction"])
        let result = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: options, run: run)
        let svcca = result.similarity.values(.svcca), cka = result.similarity.values(.cka)
        // conv [N, 6, 2, 2] is the signal plus a per-position offset: after centring every
        // position is the signal, so only the DC term has variance and it equals the signal.
        #expect(abs(svcca[0][0] - 1) < 1e-6)
        #expect(result.similarity.comparisons[0][0].keptA == 6)
        // conv against shared (a [N, 6] layer, a 1 × 1 map): the DC term again.
        #expect(abs(svcca[0][1] - 1) < 1e-6)
        #expect(svcca[2][2] < 0.3 && cka[2][2] < 0.3)
        #expect(result.settings.metrics == ["svcca", "cka"] && result.settings.conv == "dft")
        #expect(result.similarity.comparisons[0][0].pwcca == nil)
        #expect(Set(result.files).isSuperset(of: ["matrix-cka.csv", "heatmap-cka.png", "heatmap-cka.svg"]))
        #expect {
            try SVCCAAnalyzer.Options.parse(["--epochs", "1,2", "--conv", "dft", "--metric", "pwcca"])
        } throws: { error in SVCCAAnalyzer.Options.message(for: error).contains("not defined with --conv dft") }
    }

    @Test func metricListComputesWhatItNames() throws {
        let run = try makeRun()
        let svccaOnly = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: try SVCCAAnalyzer.Options.parse(["--epochs", "1,2"]), run: run)
        #expect(svccaOnly.similarity.comparisons.joined().allSatisfy { $0.pwcca == nil && $0.cka == nil })
        let all = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: try SVCCAAnalyzer.Options.parse(["--epochs", "1,2", "--metric", "all"]), run: run)
        #expect(all.settings.metrics == ["svcca", "pwcca", "cka"])
        #expect(all.similarity.comparisons.joined().allSatisfy { $0.pwcca != nil && $0.cka != nil })
        for (r1, r2) in zip(all.similarity.values(.svcca), svccaOnly.similarity.values(.svcca)) {
            for (x, y) in zip(r1, r2) { #expect(abs(x - y) < 1e-12) }
        }
        let typo = usageError(SVCCAAnalyzer.Options.self, ["--epochs", "1,2", "--metric", "svcca,cca"])
        #expect(typo?.contains("'cca' is not a measure") == true && typo?.contains("svcca, pwcca, cka") == true, "\(typo ?? "accepted")")
        let conv = usageError(SVCCAAnalyzer.Options.self, ["--epochs", "1,2", "--conv", "pooled"])
        #expect(conv?.contains("'pool', 'flatten' or 'dft'") == true, "\(conv ?? "accepted")")
    }

    @Test func eachSideCanNameItsOwnLayers() throws {
        let run = try makeRun()
        let a = run.activationsPath(for: .epoch(1)), b = run.activationsPath(for: .epoch(2))
        let options = try SVCCAAnalyzer.Options.parse(["--a", a, "--b", b, "--layers-a", "shared", "--layers-b", "conv,noise", "--no-reduction"])
        let result = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: options, run: nil)
        #expect(result.similarity.layersA == ["shared"] && result.similarity.layersB == ["conv", "noise"])
        #expect(abs(result.similarity.values(.svcca)[0][0] - 1) < 1e-5)    // shared vs pooled conv: same signal
        #expect(result.diagonal == nil)
    }

    @Test func differenceOfTwoComparisons() throws {
        let run = try makeRun()
        let a = run.activationsPath(for: .epoch(1)), b = run.activationsPath(for: .epoch(2))
        let options = try SVCCAAnalyzer.Options.parse(["--a", a, "--b", b, "--diff-b", a, "--no-reduction"])
        let result = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: options, run: nil)
        let second = try #require(result.diffSimilarity)
        // a against itself: every diagonal cell is 1.
        for i in 0..<3 { #expect(abs(second.values(.svcca)[i][i] - 1) < 1e-9) }
        #expect(result.files.contains("difference.png"))
        // --diff is the same option.
        #expect(try SVCCAAnalyzer.Options.parse(["--a", a, "--b", b, "--diff", a]).diffB == a)
    }

    @Test func differentProbeSetsAreRefused() throws {
        let run = try makeRun(probeSeed: 5)
        let context = AnalysisContext(run: run, outputDirectory: NSTemporaryDirectory(), progress: .silent, threads: 1, seed: 0)
        #expect {
            try SVCCAAnalyzer(options: try SVCCAAnalyzer.Options.parse(["--epochs", "1,2"])).run(context)
        } throws: { error in "\(error)".contains("different probe sets") }
    }

    @Test func missingDumpListsWhatExists() throws {
        let run = try makeRun()
        let context = AnalysisContext(run: run, outputDirectory: NSTemporaryDirectory(), progress: .silent, threads: 1, seed: 0)
        #expect {
            try SVCCAAnalyzer(options: try SVCCAAnalyzer.Options.parse(["--epochs", "1,9"])).run(context)
        } throws: { error in "\(error)".contains("available: activations at epoch 1, activations at epoch 2") }
    }
}

@Suite struct SVCCAOnTrainedRunsTests {
    @Test func missingDumpIsComputedOnTheRecordedProbeSet() throws {
        let path = NSTemporaryDirectory() + "/basin-svcca-run-\(UUID().uuidString)"
        let run = try RunDirectory.create(path: path)
        let spec = RunSpec(name: "blobs", model: .mlp(inputShape: [6], widths: [12, 8], classes: 3),
                           data: DatasetSpec(source: .blobs(classes: 3, perClass: 60, dimensions: 6), validationCount: 60, seed: 2),
                           optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false),
                           training: TrainingConfiguration(epochs: 3, batchSize: 20, schedule: .constant(0.1), seed: 2),
                           save: SavePlan(epochs: [1, 2, 3], activationEpochs: [1, 3], probeCount: 50))
        try RunTrainer(spec: spec, run: run).train(resume: false)
        let options = try SVCCAAnalyzer.Options.parse(["--epochs", "1,3", "--no-reduction"])
        let saved = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: options, run: run)
        try FileManager.default.removeItem(atPath: run.activationsPath(for: .epoch(3)))
        let computed = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: options, run: run)
        #expect(computed.similarity.layersA == saved.similarity.layersA)
        for (r1, r2) in zip(saved.similarity.values(.svcca), computed.similarity.values(.svcca)) {
            for (x, y) in zip(r1, r2) { #expect(abs(x - y) < 1e-9) }
        }
        #expect(computed.settings.b.contains("computed on the run's probe set"))
        #expect(!FileManager.default.fileExists(atPath: run.activationsPath(for: .epoch(3))))   // nothing written into the run
    }
}
