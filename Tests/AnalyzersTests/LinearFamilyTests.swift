import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// Points of one linear family (a segment, a plane, a surface) share the first layer's products
/// (`Network+LinearFamily.swift`, `LossEvaluator.evaluate(count:…)`): every value equals the
/// point evaluated on its own up to float rounding, a vertex of the family is the same bits,
/// and neither chunking the data nor evaluating a subset of the points changes a bit.
@Suite("Linear families: shared first-layer products")
struct LinearFamilyTests {
    static func data(_ shape: [Int], count: Int, seed: UInt64) throws -> Dataset {
        var rng = RandomGenerator(seed: seed)
        let inputs = Tensor<Float>.randomNormal(shape: [count] + shape, using: &rng)
        return try Dataset(name: "family", inputs: inputs, labels: (0..<count).map { _ in rng.nextInt(below: 10) }, classes: 10)
    }

    static func models(_ spec: ModelSpec) throws -> [Model] {
        var rng = RandomGenerator(seed: 11)
        return try (0..<3).map { i in try Model(spec: spec, rng: rng.split("m\(i)")) }
    }

    static let cases: [(name: String, spec: ModelSpec, policy: BatchNormPolicy)] = [
        ("mlp", .mlp(inputShape: [1, 8, 8], widths: [32, 16], classes: 10), .recompute),
        ("shallow cnn", .shallowCNN(inputShape: [1, 12, 12], classes: 10, widths: [4, 6, 16, 12]), .recompute),
        ("vgg with BN, interpolated statistics", .vgg(depth: 11, inputShape: [3, 32, 32], classes: 10, widthMultiplier: 0.0625, batchNorm: true), .interpolate),
        ("vgg with BN, batch statistics", .vgg(depth: 11, inputShape: [3, 32, 32], classes: 10, widthMultiplier: 0.0625, batchNorm: true), .batch),
        ("resnet-8 (the stem reads the data), interpolated statistics", .resnet(depth: 8, inputShape: [3, 8, 8], classes: 10, widthMultiplier: 0.25), .interpolate),
    ]

    @Test(arguments: 0..<5)
    func familyPointsEqualThePointsEvaluatedAlone(_ c: Int) throws {
        let (name, spec, policy) = Self.cases[c]
        let models = try Self.models(spec)
        let data = try Self.data(spec.inputShape, count: 90, seed: 3)
        let held = try Self.data(spec.inputShape, count: 40, seed: 4)
        #expect(models[0].leadingOutputCount != nil, "\(name): the first layer reads the data")
        let evaluator = LossEvaluator(model: models[0], splits: [("train", data), ("val", held)], statisticsData: data,
                                      policy: policy, batchSize: 32, threads: 2)
        let basis = models.map(\.parameters)
        let buffers = models.map(\.buffers)
        let weights: [[Double]] = [[1, 0, 0], [0, 1, 0], [0.3, 0.5, 0.2], [-0.2, 1.1, 0.1], [1.4, -0.7, 0.3]]
        func point(_ w: [Double]) -> LandscapePoint {
            LandscapePoint(combining: basis, weights: w, buffers: evaluator.combineBuffers(buffers, weights: w))
        }
        let points = weights.map(point)
        let family = try evaluator.evaluate(count: weights.count) { points[$0] }
        for (k, w) in weights.enumerated() {
            let alone = try evaluator.evaluate(LandscapePoint(parameters: point(w).parameters, buffers: point(w).buffers))
            for (f, a) in zip(family[k], alone) {
                #expect(abs(f.loss - a.loss) <= 2e-6 * max(1, abs(a.loss)), "\(name), weights \(w): \(f.loss) vs \(a.loss)")
                #expect(abs(f.accuracy - a.accuracy) <= 1.0 / 40 + 1e-12, "\(name), weights \(w): accuracy \(f.accuracy) vs \(a.accuracy)")
            }
        }
        // A vertex of the family is that model exactly.
        let vertex = try evaluator.evaluate(LandscapePoint(parameters: basis[1], buffers: buffers[1]))
        #expect(family[1] == vertex, "\(name): weight 1 on one model gives its own loss bit for bit")
        // A subset of the points (a shard) and data in chunks give the same bits.
        let subset = try evaluator.evaluate(count: 2) { points[[4, 2][$0]] }
        #expect(subset == [family[4], family[2]], "\(name): a point's value does not depend on the other points")
        evaluator.familyMemoryBudget = 1
        let chunked = try evaluator.evaluate(count: weights.count) { points[$0] }
        #expect(chunked == family, "\(name): one batch at a time gives the same bits")
    }

    @Test func pointsOfDifferentFamiliesAndSinglePointsMix() throws {
        let spec = ModelSpec.mlp(inputShape: [1, 8, 8], widths: [32, 16], classes: 10)
        let m = try Self.models(spec)
        let data = try Self.data(spec.inputShape, count: 50, seed: 5)
        let evaluator = LossEvaluator(model: m[0], splits: [("train", data)], statisticsData: data, policy: .recompute, batchSize: 16, threads: 2)
        let (a, b, c) = (m[0].parameters, m[1].parameters, m[2].parameters)
        let points = [LandscapePoint(combining: [a, b], weights: [0.5, 0.5]), LandscapePoint(parameters: c),
                      LandscapePoint(combining: [b, c], weights: [0.25, 0.75]), LandscapePoint(combining: [a, b], weights: [0, 1])]
        let mixed = try evaluator.evaluate(count: points.count) { points[$0] }
        let separately = try points.map { p in try evaluator.evaluate(count: 1) { _ in p }[0] }
        #expect(mixed == separately)
        #expect(mixed[3] == (try evaluator.evaluate(LandscapePoint(parameters: b))), "weight 1 on b is b")
    }

    @Test func recomputedStatisticsEvaluatePointsAlone() throws {
        let vgg = try Self.models(.vgg(depth: 11, inputShape: [3, 32, 32], classes: 10, widthMultiplier: 0.0625, batchNorm: true))
        let data = try Self.data([3, 32, 32], count: 20, seed: 6)
        let evaluator = LossEvaluator(model: vgg[0], splits: [("train", data)], statisticsData: data, policy: .recompute, batchSize: 8, threads: 1)
        let w = [0.4, 0.6, 0.0], basis = vgg.map(\.parameters)
        let family = try evaluator.evaluate(count: 1) { _ in LandscapePoint(combining: basis, weights: w) }
        let alone = try evaluator.evaluate(LandscapePoint(parameters: ParameterVectors.combine(basis, weights: w)))
        #expect(family == [alone], "recomputed BN statistics: the point is evaluated as before, bit for bit")
    }

    @Test func aPreparedBatchRefusesTrainModeAndWrongWeights() throws {
        let m = try Self.models(.mlp(inputShape: [4], widths: [3], classes: 10))
        let data = try Self.data([4], count: 5, seed: 7)
        let batch = data.batch(Array(0..<5))
        let prepared = try #require(try m[0].prepare(batch, family: m.map(\.parameters)))
        #expect(throws: TrainerError.self) { try m[0].evaluate(prepared, weights: [1, 0, 0], loss: .crossEntropy, mode: .train, at: m[0].parameters) }
        #expect(throws: TrainerError.self) { try m[0].evaluate(prepared, weights: [1, 0], loss: .crossEntropy, mode: .eval, at: m[0].parameters) }
        #expect(throws: TrainerError.self) { try m[0].prepare(batch, family: [Tensor(zeros: [3])]) }
    }
}
