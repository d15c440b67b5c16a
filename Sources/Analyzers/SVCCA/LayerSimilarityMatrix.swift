import Foundation
import Tensors

/// Layer × layer similarity of two models on the same datapoints (paper 000, Figures 5
/// and 14): cell (i, j) compares layer i of A with layer j of B.
///
/// Each layer is centred and decomposed once; every pair then costs one small GEMM and
/// one small SVD, spread over the available cores.
public struct LayerSimilarityMatrix: Codable, Sendable {
    public var layersA: [String]
    public var layersB: [String]
    /// `[layersA.count][layersB.count]`, row-major.
    public var comparisons: [[RepresentationSimilarity.Comparison]]
    /// Neurons (channels, with `--conv dft`) dropped for zero variance, per layer (A then B),
    /// only where any were.
    public var droppedNeurons: [String: [Int]]

    public enum Metric: String, CaseIterable, Codable, Sendable {
        case svcca, pwcca, cka
        public var title: String {
            switch self {
            case .svcca: return "SVCCA (mean canonical correlation)"
            case .pwcca: return "PWCCA"
            case .cka: return "linear CKA"
            }
        }

        /// What `compare` must compute for this metric besides SVCCA.
        public var measures: RepresentationSimilarity.Measures {
            switch self {
            case .svcca: return []
            case .pwcca: return .pwcca
            case .cka: return .cka
            }
        }
    }

    /// The matrix of one metric, `[layersA.count][layersB.count]`; NaN where it was not computed.
    public func values(_ metric: Metric) -> [[Double]] {
        comparisons.map { row in row.map { c in
            switch metric {
            case .svcca: return c.mean
            case .pwcca: return c.pwcca ?? .nan
            case .cka: return c.cka ?? .nan
            }
        } }
    }

    /// Computes every pair.
    /// - Parameters:
    ///   - a, b: `(layer name, [datapoints, neurons])` in layer order.
    ///   - measures: what to compute besides SVCCA; without CKA each layer's basis is formed
    ///     only for its kept directions and each pair multiplies only those.
    ///   - inputEpsilon: unit roundoff of the stored activations (see `RepresentationSimilarity.prepare`).
    ///   - threads: worker threads for the pairs (BLAS runs single-threaded inside them).
    ///   - progress: called once per finished step (layers prepared, then pairs).
    public static func compute(_ a: [(String, Tensor<Double>)], _ b: [(String, Tensor<Double>)],
                               reduction: RepresentationSimilarity.Reduction, measures: RepresentationSimilarity.Measures = .all,
                               inputEpsilon: Double = Double.ulpOfOne,
                               threads: Int,
                               progress: @Sendable () -> Void = {}) throws -> LayerSimilarityMatrix {
        let all = a + b
        let prepared = try parallelMap(all.count, threads: threads) { i in
            defer { progress() }
            return try RepresentationSimilarity.prepare(all[i].1, name: all[i].0, inputEpsilon: inputEpsilon,
                                                        basisFor: measures.contains(.cka) ? nil : reduction)
        }
        let pa = Array(prepared[0..<a.count]), pb = Array(prepared[a.count...])
        let flat = try parallelMap(pa.count * pb.count, threads: threads) { k in
            defer { progress() }
            return try RepresentationSimilarity.compare(pa[k / pb.count], pb[k % pb.count], reduction: reduction, measures: measures)
        }
        return assemble(a, b, flat, dropped: prepared.map { ($0.name, $0.droppedNeurons) })
    }

    /// The matrix from the row-major pairs, with the dropped neurons of the layers that had any.
    private static func assemble(_ a: [(String, Tensor<Double>)], _ b: [(String, Tensor<Double>)],
                                 _ flat: [RepresentationSimilarity.Comparison], dropped: [(String, [Int])]) -> LayerSimilarityMatrix {
        var droppedNeurons: [String: [Int]] = [:]
        for (name, indices) in dropped where !indices.isEmpty { droppedNeurons[name] = indices }
        return LayerSimilarityMatrix(layersA: a.map(\.0), layersB: b.map(\.0),
                                     comparisons: (0..<a.count).map { i in Array(flat[(i * b.count)..<((i + 1) * b.count)]) },
                                     droppedNeurons: droppedNeurons)
    }

    /// The layers each side must be prepared at for `computeFourier`: side (0 = A, 1 = B),
    /// layer index, and the resolution (the smaller of each axis over its partners).
    struct SpectrumKey: Hashable { var side: Int, layer: Int, height: Int, width: Int }

    static func spectrumKeys(_ a: [(String, Tensor<Double>)], _ b: [(String, Tensor<Double>)]) -> [SpectrumKey] {
        var keys: [SpectrumKey] = [], seen = Set<SpectrumKey>()
        for (i, x) in a.enumerated() {
            for (j, y) in b.enumerated() {
                let (h, w) = FourierSimilarity.commonSize(x.1, y.1)
                for key in [SpectrumKey(side: 0, layer: i, height: h, width: w), SpectrumKey(side: 1, layer: j, height: h, width: w)]
                where seen.insert(key).inserted { keys.append(key) }
            }
        }
        return keys
    }

    /// Progress steps `compute` (or `computeFourier` with `fourier`) reports for these layers.
    public static func progressSteps(_ a: [(String, Tensor<Double>)], _ b: [(String, Tensor<Double>)], fourier: Bool) -> Int {
        (fourier ? spectrumKeys(a, b).count : a.count + b.count) + a.count * b.count
    }

    /// Every pair of convolutional maps compared frequency by frequency (`--conv dft`,
    /// `FourierSimilarity`). Each layer is transformed and prepared once per resolution it
    /// is compared at; PWCCA is not available on this route.
    /// - Parameters: as `compute`, with `[N, C, H, W]` maps (or `[N, C]`, `[N, C, L]`).
    public static func computeFourier(_ a: [(String, Tensor<Double>)], _ b: [(String, Tensor<Double>)],
                                      reduction: RepresentationSimilarity.Reduction, measures: RepresentationSimilarity.Measures,
                                      inputEpsilon: Double = Double.ulpOfOne, threads: Int,
                                      progress: @Sendable () -> Void = {}) throws -> LayerSimilarityMatrix {
        let keys = spectrumKeys(a, b)
        let spectra = try parallelMap(keys.count, threads: threads) { k in
            defer { progress() }
            let key = keys[k], layer = (key.side == 0 ? a : b)[key.layer]
            return try FourierSimilarity.prepare(layer.1, name: layer.0, height: key.height, width: key.width, inputEpsilon: inputEpsilon,
                                                 basisFor: measures.contains(.cka) ? nil : reduction)
        }
        let index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        let flat = try parallelMap(a.count * b.count, threads: threads) { k in
            defer { progress() }
            let i = k / b.count, j = k % b.count
            let (h, w) = FourierSimilarity.commonSize(a[i].1, b[j].1)
            guard let sa = index[SpectrumKey(side: 0, layer: i, height: h, width: w)],
                  let sb = index[SpectrumKey(side: 1, layer: j, height: h, width: w)] else {
                throw RepresentationSimilarity.SimilarityError.notComparable(detail: "layers '\(a[i].0)' and '\(b[j].0)' were not prepared at \(h)×\(w)")
            }
            return try FourierSimilarity.compare(spectra[sa], spectra[sb], reduction: reduction, measures: measures)
        }
        return assemble(a, b, flat, dropped: spectra.map { ($0.name, $0.droppedChannels) })
    }
}
