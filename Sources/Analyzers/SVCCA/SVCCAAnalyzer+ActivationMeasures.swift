import Foundation
import Tensors

extension SVCCAAnalyzer {
    /// The measures computed from each cell's activations (`SimilarityMeasures`): debiased or
    /// minibatch CKA, RBF CKA, Procrustes distance and google-style PWCCA, as asked, added to
    /// the cells' comparisons. Each layer is read once (the A layers one at a time, the B layers
    /// of these cells kept meanwhile); cells run in parallel with single-threaded BLAS, so a
    /// cell's numbers depend on its two layers only, as `--shard` needs.
    func activationMeasures(cells: [LayerSimilarityMatrix.Cell], comparisons: [RepresentationSimilarity.Comparison], threads: Int,
                            progress: @Sendable () -> Void,
                            layerA: (Int) throws -> Tensor<Double>, layerB: (Int) throws -> Tensor<Double>,
                            names: ([String], [String])) throws -> [RepresentationSimilarity.Comparison] {
        let metrics = options.metrics, bandwidth = options.bandwidth, batch = options.ckaBatch
        let google = options.pwccaStyle == .google && metrics.contains(.pwcca)
        var out = comparisons
        var layersB: [Int: Tensor<Double>] = [:]
        for column in Set(cells.map(\.column)).sorted() { layersB[column] = try layerB(column) }
        let frozenB = layersB
        for row in Set(cells.map(\.row)).sorted() {
            let x = try layerA(row)
            // A's RBF kernel is formed once for its row, B's once per cell (at most two [n, n] per thread).
            let kernelA = metrics.contains(.ckaRBF) ? try SimilarityMeasures.rbfKernel(x, bandwidth: bandwidth, name: names.0[row]) : nil
            let positions = cells.indices.filter { cells[$0].row == row }
            let results = try LayerSimilarityMatrix.withBLASThreads(1) {
                try parallelMap(positions.count, threads: threads) { k -> (Double?, Double?, Double?, Double?) in
                    defer { progress() }
                    let column = cells[positions[k]].column
                    guard let y = frozenB[column] else {
                        throw RepresentationSimilarity.SimilarityError.notComparable(detail: "layer '\(names.1[column])' was not loaded")
                    }
                    let pair = (names.0[row], names.1[column])
                    return (metrics.contains(.ckaDebiased) ? try SimilarityMeasures.debiasedCKA(x, y, batchSize: batch, names: pair) : nil,
                            try kernelA.map { kx in
                                _ = try SimilarityMeasures.checkPair(x, y, names: pair, minimumDatapoints: 2)
                                return SimilarityMeasures.rbfCKA(kx, try SimilarityMeasures.rbfKernel(y, bandwidth: bandwidth, name: pair.1))
                            },
                            metrics.contains(.procrustes) ? try SimilarityMeasures.procrustes(x, y, names: pair) : nil,
                            google ? try SimilarityMeasures.googlePWCCA(x, y, names: pair) : nil)
                }
            }
            for (k, position) in positions.enumerated() {
                let (debiased, rbf, procrustes, pwcca) = results[k]
                out[position].ckaDebiased = debiased
                out[position].ckaRBF = rbf
                out[position].procrustes = procrustes
                if let pwcca { out[position].pwcca = pwcca }
            }
        }
        return out
    }
}
