import CheckpointFormat
import Foundation
import Synchronization
import Testing
@testable import Analyzers
import Tensors

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures").path

/// `LayerSimilarityMatrix.compute` multiplies each A layer against all of B's bases in one
/// GEMM (`BasisStack`), loading layers as it goes; these pin it to the per-pair `compare`.
@Suite struct StackedSimilarityTests {
    typealias RS = RepresentationSimilarity

    /// Layers of a few widths sharing a latent signal, so that cells differ and correlate.
    func layers(_ prefix: String, count: Int, n: Int, seed: UInt64) throws -> [(String, Tensor<Double>)] {
        var rng = RandomGenerator(seed: seed)
        let latent = Tensor<Double>.randomNormal(shape: [n, 6], using: &rng)
        return try (0..<count).map { i in
            let p = 8 + 5 * i
            let mix = Tensor<Double>.randomNormal(shape: [6, p], using: &rng)
            let x = try Tensor.matmul(latent, mix) + Tensor<Double>.randomNormal(shape: [n, p], standardDeviation: 0.7, using: &rng)
            return ("\(prefix)\(i)", x)
        }
    }

    @Test(arguments: [RS.Reduction.variance(0.9), .dimensions(4), .none])
    func stackedProductsGiveThePerPairComparisons(reduction: RS.Reduction) throws {
        let a = try layers("a", count: 3, n: 300, seed: 1), b = try layers("b", count: 4, n: 300, seed: 2)
        let m = try LayerSimilarityMatrix.compute(a, b, reduction: reduction, measures: .all, threads: 2)
        for (i, x) in a.enumerated() {
            for (j, y) in b.enumerated() {
                let c = try RS.compare(try RS.prepare(x.1, name: x.0), try RS.prepare(y.1, name: y.0), reduction: reduction, measures: .all)
                let s = m.comparisons[i][j]
                #expect(s.keptA == c.keptA && s.keptB == c.keptB)
                #expect(abs(s.mean - c.mean) < 1e-12 && abs((s.pwcca ?? .nan) - (c.pwcca ?? .nan)) < 1e-12
                        && abs((s.cka ?? .nan) - (c.cka ?? .nan)) < 1e-12, "cell (\(i), \(j))")
            }
        }
    }

    @Test func eachLayerIsLoadedOnce() throws {
        let a = try layers("a", count: 3, n: 200, seed: 3), b = try layers("b", count: 2, n: 200, seed: 4)
        let loads = Mutex([String: Int]())
        _ = try LayerSimilarityMatrix.compute(layersA: a.map(\.0), layersB: b.map(\.0), reduction: .variance(0.99), measures: [],
                                              threads: 2) { side, i in
            let layer = (side == .a ? a : b)[i]
            loads.withLock { $0[layer.0, default: 0] += 1 }
            return layer.1
        }
        #expect(loads.withLock { $0 } == Dictionary(uniqueKeysWithValues: (a + b).map { ($0.0, 1) }))
    }

    /// Fewer A rows than threads (a pair, 1 × N): every layer is prepared first, side by side on
    /// one BLAS thread each, then each product runs on all threads. Same comparisons as the
    /// per-pair route, each layer loaded once, and one cell computed alone (as a shard would)
    /// gives the heatmap's bits.
    @Test func aSingleRowPreparesItsLayersSideBySide() throws {
        let a = try layers("a", count: 1, n: 250, seed: 11), b = try layers("b", count: 3, n: 250, seed: 12)
        #expect(LayerSimilarityMatrix.blasThreads(rows: a.count, threads: 2) == 2)
        let loads = Mutex([String: Int]())
        let m = try LayerSimilarityMatrix.compute(layersA: a.map(\.0), layersB: b.map(\.0), reduction: .variance(0.95), measures: [],
                                                  threads: 2) { side, i in
            let layer = (side == .a ? a : b)[i]
            loads.withLock { $0[layer.0, default: 0] += 1 }
            return layer.1
        }
        #expect(loads.withLock { $0 } == Dictionary(uniqueKeysWithValues: (a + b).map { ($0.0, 1) }))
        for (j, y) in b.enumerated() {
            let c = try RS.compare(try RS.prepare(a[0].1, name: a[0].0), try RS.prepare(y.1, name: y.0), reduction: .variance(0.95), measures: [])
            #expect(m.comparisons[0][j].keptA == c.keptA && m.comparisons[0][j].keptB == c.keptB)
            #expect(abs(m.comparisons[0][j].mean - c.mean) < 1e-12, "cell (0, \(j))")
            let alone = try LayerSimilarityMatrix.compute(cells: [.init(row: 0, column: j)], layersA: a.map(\.0), layersB: b.map(\.0),
                                                          reduction: .variance(0.95), measures: [], threads: 2,
                                                          blasThreads: LayerSimilarityMatrix.blasThreads(rows: a.count, threads: 2)) { side, i in
                (side == .a ? a : b)[i].1
            }
            #expect(alone.comparisons == [m.comparisons[0][j]])
        }
    }

    /// A heatmap's layers are prepared with their bases deferred and formed transposed,
    /// `Uᵀ = Wᵀ·Xᵀ` (`transposedBasis`): the transpose of the `U` that `prepare` forms, to rounding,
    /// in float64 and rounded to float32 alike.
    @Test func aDeferredBasisIsFormedTransposed() throws {
        let x = try layers("a", count: 3, n: 400, seed: 13)[2].1
        let deferred = try RS.prepare(x, name: "a", inputEpsilon: .ulpOfOne, allowGram: true, basisFor: .variance(0.9), deferBasis: true)
        let formed = try RS.prepare(x, name: "a", basisFor: .variance(0.9))
        #expect(deferred.deferred != nil && deferred.basisColumns == formed.basisColumns)
        let k = formed.basisColumns, n = 400
        let direct = try RS.transposedBasis(deferred, columns: k, as: Double.self)
        let viaU = try RS.transposedBasis(formed, columns: k, as: Double.self)
        #expect(direct.count == k * n && zip(direct, viaU).allSatisfy { abs($0 - $1) < 1e-13 })
        let single = try RS.transposedBasis(deferred, columns: k, as: Float.self)
        #expect(zip(single, direct).allSatisfy { $0 == Float($1) })
    }

    @Test func aLayerOnOtherDatapointsIsReported() throws {
        let a = try layers("a", count: 1, n: 200, seed: 5), b = try layers("b", count: 2, n: 200, seed: 6) + layers("c", count: 1, n: 150, seed: 7)
        #expect(throws: RS.SimilarityError.datapointMismatch(layerA: "a0", rowsA: 200, layerB: "c0", rowsB: 150)) {
            try LayerSimilarityMatrix.compute(a, b, reduction: .variance(0.99), measures: [], threads: 2)
        }
    }

    /// The float32 products' error in every measure, against the float64 route: on the
    /// held-out NumPy fixture and on layers of 2 000 datapoints (docs/PERFORMANCE.md states it).
    @Test func float32ProductsStayWithinOneMillionthOfFloat64() throws {
        let fa = try NPYFile.read(path: fixtures + "/svcca/a.npy").doubleTensor()
        let fb = try NPYFile.read(path: fixtures + "/svcca/b.npy").doubleTensor()
        let cases: [([(String, Tensor<Double>)], [(String, Tensor<Double>)])] = [
            ([("a", fa)], [("b", fb)]),
            (try layers("a", count: 3, n: 2000, seed: 8), try layers("b", count: 3, n: 2000, seed: 9)),
        ]
        for (a, b) in cases {
            for reduction in [RS.Reduction.none, .dimensions(10), .variance(0.99)] {
                let m64 = try LayerSimilarityMatrix.compute(a, b, reduction: reduction, measures: .all, precision: .float64, threads: 2)
                let m32 = try LayerSimilarityMatrix.compute(a, b, reduction: reduction, measures: .all, precision: .float32, threads: 2)
                for metric in LayerSimilarityMatrix.Metric.allCases where !metric.fromActivations {
                    let d = zip(m64.values(metric).joined(), m32.values(metric).joined()).map { abs($0 - $1) }.max() ?? .nan
                    #expect(d < 1e-6, "\(metric) \(reduction): \(d)")
                }
            }
        }
    }
}
