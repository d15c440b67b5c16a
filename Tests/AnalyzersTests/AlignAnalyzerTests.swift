import AnalyzerTestKit
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// Issue 16 items 3–4 through the analyzers: `align` writes a checkpoint equal to A for a permuted
/// copy of A, and `barrier --align` shows the copy's barrier vanish.
@Suite("Align and barrier --align: a trained network and its permuted copy")
struct AlignAnalyzerTests {
    /// The spiral run (an MLP 2-32-3) and a permuted copy of its last checkpoint.
    static func spiralPair() throws -> (RunDirectory, String) {
        let run = try LandscapeFixtures.spiralRun()
        let out = LandscapeFixtures.folder("align-perm")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try LandscapeFixtures.permutedCopy(of: try run.checkpoint(.epoch(40)), to: out + "/perm.ckpt")
        return (run, out + "/perm.ckpt")
    }

    @Test(arguments: AlignmentMethod.allCases)
    func alignWritesACheckpointEqualToTheOriginal(method: AlignmentMethod) throws {
        let (run, perm) = try Self.spiralPair()
        let copy = LandscapeFixtures.folder("aligned-copy") + ".ckpt"
        let options = try AlignAnalyzer.Options.parse(["--a", run.path + "/:40", "--b", perm, "--method", method.rawValue,
                                                       "--samples", "200", "--checkpoint-out", copy])
        let result = try AnalyzerTestKit.checkContract(AlignAnalyzer.self, options: options, run: nil)
        let original = try ModelCheckpoint.load(try run.checkpoint(.epoch(40))).model
        let aligned = try ModelCheckpoint.load(copy)
        #expect(aligned.model.parameters == original.parameters, "\(method): the permuted copy is aligned back onto the original exactly")
        #expect(result.alignment.distanceBefore > 1 && result.alignment.distanceAfter == 0)
        #expect(result.alignment.groups.map(\.size) == [32] && result.alignment.groups[0].moved == 32)
        // The fixture's copy has unit h = the original's (7h + 3) mod 32; aligning inverts that.
        var inverse = [Int](repeating: -1, count: 32)
        for h in 0..<32 { inverse[(h * 7 + 3) % 32] = h }
        #expect(result.permutations[0] == inverse)
        #expect(aligned.manifest.extra["alignedBy"] == .string("basin align (\(method.rawValue))"))
        #expect(result.files.contains("aligned.ckpt") && result.files.contains("groups.png") && result.files.contains("permutations.csv"))
        // The aligned checkpoint is a checkpoint like any other: the segment to it is flat, and a
        // surface is drawn around it.
        let barrier = try AnalysisRunner.run(BarrierAnalyzer.self, arguments: ["--a", run.path + "/:40", "--b", copy, "--points", "5", "--connection", "none"],
                                             run: nil, outputDirectory: LandscapeFixtures.folder("barrier-to-aligned"), progress: .silent).result
        for profile in barrier.pairs[0].segment {
            #expect(!profile.barrier.exists && profile.loss.allSatisfy { abs($0 - profile.loss[0]) < 1e-6 })
        }
        let surface = try AnalysisRunner.run(SurfaceAnalyzer.self, arguments: ["--checkpoint", copy, "--dims", "1", "--grid", "3", "--data", run.path],
                                             run: nil, outputDirectory: LandscapeFixtures.folder("surface-at-aligned"), progress: .silent)
        #expect(FileManager.default.fileExists(atPath: surface.outputDirectory + "/result.json"))
    }

    @Test func checkpointOutNeverReplacesSomethingElse() throws {
        let (run, perm) = try Self.spiralPair()
        let precious = LandscapeFixtures.folder("precious") + ".ckpt"
        try Data("not yours".utf8).write(to: URL(fileURLWithPath: precious))
        let options = try AlignAnalyzer.Options.parse(["--a", run.path + "/:40", "--b", perm, "--checkpoint-out", precious])
        let out = LandscapeFixtures.folder("align-refused")
        #expect(throws: AnalysisError.self) {
            try AnalysisRunner.run(AlignAnalyzer(options: options), run: nil, outputDirectory: out, arguments: [], progress: .silent)
        }
        #expect(try String(contentsOfFile: precious, encoding: .utf8) == "not yours")
        #expect(!FileManager.default.fileExists(atPath: out + "/result.json"))
        // A checkpoint that is not an aligned one is left alone too.
        let plain = LandscapeFixtures.folder("plain") + ".ckpt"
        try FileManager.default.copyItem(atPath: perm, toPath: plain)
        let before = try Data(contentsOf: URL(fileURLWithPath: plain))
        let again = try AlignAnalyzer.Options.parse(["--a", run.path + "/:40", "--b", perm, "--checkpoint-out", plain])
        #expect(throws: AnalysisError.self) {
            try AnalysisRunner.run(AlignAnalyzer(options: again), run: nil, outputDirectory: out, arguments: [], progress: .silent)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: plain)) == before)
        // Nor does it add a file to a run's checkpoints/, where it would pass for a saved point.
        let stray = run.path + "/checkpoints/epoch-0500.ckpt"
        let intoRun = try AlignAnalyzer.Options.parse(["--a", run.path + "/:40", "--b", perm, "--checkpoint-out", stray])
        #expect(throws: AnalysisError.self) {
            try AnalysisRunner.run(AlignAnalyzer(options: intoRun), run: nil, outputDirectory: out, arguments: [], progress: .silent)
        }
        #expect(!FileManager.default.fileExists(atPath: stray))
    }

    /// The repository's `fixtures/fashion-mnist-mini` (256 train, 128 test images).
    static var fashionMini: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/fashion-mnist-mini").path
    }

    /// An MLP 784-128-128-10 trained by the trainer on the bundled Fashion-MNIST subset; `seed`
    /// sets initialisation and shuffling, the data split is the same for every seed.
    static func fashionRun(seed: UInt64) throws -> RunDirectory {
        let run = try RunDirectory.create(path: LandscapeFixtures.folder("fashion-mlp-\(seed)"))
        let spec = RunSpec(name: "mlp-\(seed)", model: .mlp(inputShape: [1, 28, 28], widths: [128, 128], classes: 10),
                           data: DatasetSpec(source: .fashionMNIST(directory: fashionMini), validationCount: 56, seed: 1),
                           optimizer: .sgd(learningRate: 0.05, momentum: 0.9, weightDecay: 0, nesterov: false),
                           training: TrainingConfiguration(epochs: 12, batchSize: 20, schedule: .constant(0.05), seed: seed),
                           save: SavePlan(epochs: [12]))
        try RunTrainer(spec: spec, run: run).train(resume: false)
        return run
    }

    /// Issue 16's known answer on real data: two MLPs trained from different seeds have a barrier
    /// between them, and weight matching lowers it (Entezari et al. 2022; Ainsworth et al. 2023).
    @Test func twoSeedsOfFashionMNISTHaveALowerBarrierAfterWeightMatching() throws {
        let a = try Self.fashionRun(seed: 1), b = try Self.fashionRun(seed: 2)
        let options = try BarrierAnalyzer.Options.parse(["--a", a.path + "/:12", "--b", b.path + "/:12", "--points", "9",
                                                         "--align", "weights", "--connection", "none"])
        let out = LandscapeFixtures.folder("two-seeds")
        let result = try AnalysisRunner.run(BarrierAnalyzer(options: options), run: nil, outputDirectory: out, arguments: [],
                                            progress: .silent).result
        let pair = try #require(result.pairs.first)
        let aligned = try #require(pair.aligned)
        for (segment, modulo) in zip(pair.segment, aligned) {
            #expect(segment.barrier.exists, "\(segment.split): independent seeds should be separated by a barrier (\(segment.barrier.height))")
            #expect(modulo.barrier.height < 0.5 * segment.barrier.height,
                    "\(segment.split): barrier \(segment.barrier.height) before, \(modulo.barrier.height) after weight matching")
        }
        let s = try #require(pair.alignment)
        #expect(s.distanceAfter < s.distanceBefore && s.converged == true && s.functionCheckRelativeDifference <= 1e-5)
    }

    @Test func usageErrors() throws {
        #expect(throws: (any Error).self) { try AlignAnalyzer.Options.parse(["--a", "x.ckpt"]) }
        #expect(throws: (any Error).self) { try AlignAnalyzer.Options.parse(["--a", "x.ckpt", "--b", "y.ckpt", "--method", "magic"]) }
        #expect(throws: (any Error).self) { try AlignAnalyzer.Options.parse(["--a", "x.ckpt", "--b", "y.ckpt", "--samples", "0"]) }
        #expect(throws: (any Error).self) { try BarrierAnalyzer.Options.parse(["--a", "x.ckpt", "--b", "y.ckpt", "--align", "yes"]) }
    }

    @Test(arguments: [BarrierAnalyzer.BarrierAlignment.weights, .activations])
    func barrierOfThePermutedCopyVanishesOnceAligned(align: BarrierAnalyzer.BarrierAlignment) throws {
        let (run, perm) = try Self.spiralPair()
        let options = try BarrierAnalyzer.Options.parse(["--a", run.path + "/:40", "--b", perm, "--points", "11", "--align", align.rawValue,
                                                         "--align-samples", "200", "--connection", "none"])
        let result = try AnalyzerTestKit.checkContract(BarrierAnalyzer.self, options: options, run: nil)
        let pair = try #require(result.pairs.first)
        let aligned = try #require(pair.aligned)
        for (segment, modulo) in zip(pair.segment, aligned) {
            #expect(segment.barrier.exists && segment.barrier.height > 0.1, "\(segment.split): the unaligned copy has a barrier")
            #expect(!modulo.barrier.exists && abs(modulo.barrier.height) < 1e-6, "\(modulo.split): A → π(B) is A itself")
            #expect(modulo.loss.allSatisfy { abs($0 - modulo.loss[0]) < 1e-6 })
        }
        #expect(pair.alignment?.distanceAfter == 0)
        #expect(BarrierAnalyzer.barriersCSV(result.pairs).contains(",aligned,"))
    }

    @Test func barrierWithAlignmentMergesBitForBit() throws {
        let (run, perm) = try Self.spiralPair()
        let arguments = ["--a", run.path + "/:40", "--b", perm, "--points", "4", "--align", "weights", "--connection", "none"]
        try AnalyzerTestKit.checkSharding(BarrierAnalyzer.self, options: try BarrierAnalyzer.Options.parse(arguments), run: nil,
                                          arguments: arguments, counts: [2, 3])
    }
}
