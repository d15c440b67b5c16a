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
    ///   - precision: of the products of bases (`ProductPrecision`; float64 unless asked).
    ///   - threads: worker threads for the pairs (BLAS runs single-threaded inside them).
    ///   - progress: called once per finished step (layers prepared, then pairs).
    public static func compute(_ a: [(String, Tensor<Double>)], _ b: [(String, Tensor<Double>)],
                               reduction: RepresentationSimilarity.Reduction, measures: RepresentationSimilarity.Measures = .all,
                               inputEpsilon: Double = Double.ulpOfOne,
                               precision: RepresentationSimilarity.ProductPrecision = .float64,
                               threads: Int,
                               progress: @Sendable () -> Void = {}) throws -> LayerSimilarityMatrix {
        try compute(layersA: a.map(\.0), layersB: b.map(\.0), reduction: reduction, measures: measures, inputEpsilon: inputEpsilon,
                    precision: precision, threads: threads, progress: progress) { side, i in (side == .a ? a : b)[i].1 }
    }

    /// Which model a layer belongs to, for `compute`'s loader.
    public enum Side: Sendable { case a, b }

    /// Computes every pair, loading each layer's activations when it is prepared and keeping
    /// only what the comparisons need, so that at most `threads` layers' activations are in
    /// memory at once.
    ///
    /// B's layers are prepared first and their bases stacked, transposed, in one buffer
    /// (`BasisStack`); then each A layer is loaded, prepared, multiplied against the whole stack
    /// in one GEMM (`U_aᵀ·[U_b1 | U_b2 | …]`) and dropped. Memory: B's bases (`datapoints ×
    /// Σ k_b` scalars of the product precision) plus, per thread, one layer being prepared.
    /// - Parameters: as the other `compute`, with the layers named; `load(side, index)` returns
    ///   layer `index` of that side as `[datapoints, neurons]`, and is called once per layer.
    public static func compute(layersA namesA: [String], layersB namesB: [String],
                               reduction: RepresentationSimilarity.Reduction, measures: RepresentationSimilarity.Measures = .all,
                               inputEpsilon: Double = Double.ulpOfOne,
                               precision: RepresentationSimilarity.ProductPrecision = .float64,
                               threads: Int,
                               progress: @Sendable () -> Void = {},
                               load: @Sendable (Side, Int) throws -> Tensor<Double>) throws -> LayerSimilarityMatrix {
        switch precision {
        case .float64:
            return try stacked(namesA, namesB, reduction: reduction, measures: measures, inputEpsilon: inputEpsilon,
                               scalar: Double.self, threads: threads, progress: progress, load: load)
        case .float32:
            return try stacked(namesA, namesB, reduction: reduction, measures: measures, inputEpsilon: inputEpsilon,
                               scalar: Float.self, threads: threads, progress: progress, load: load)
        }
    }

    private static func stacked<S: BLASScalar>(_ namesA: [String], _ namesB: [String],
                                               reduction: RepresentationSimilarity.Reduction, measures: RepresentationSimilarity.Measures,
                                               inputEpsilon: Double, scalar: S.Type, threads: Int,
                                               progress: @Sendable () -> Void,
                                               load: @Sendable (Side, Int) throws -> Tensor<Double>) throws -> LayerSimilarityMatrix {
        typealias RS = RepresentationSimilarity
        let basisFor = measures.contains(.cka) ? nil : reduction
        @Sendable func prepare(_ side: Side, _ i: Int) throws -> RS.PreparedLayer {
            try RS.prepare(try load(side, i), name: (side == .a ? namesA : namesB)[i], inputEpsilon: inputEpsilon, basisFor: basisFor)
        }
        // B: prepared, each basis transposed and rounded, then appended to the stack as the
        // layers are released (the stack is the only full copy once this loop is done).
        var parts = try parallelMap(namesB.count, threads: threads) { j in
            defer { progress() }
            let layer = try prepare(.b, j)
            let need = try RS.needed(layer, kept: layer.kept(reduction), measures: measures)
            return (layer: try layer.droppingBasis(), basis: RS.transposedBasis(layer, columns: need, as: S.self), need: need)
        }
        var stack = RS.BasisStack<S>(datapoints: parts.first?.layer.datapoints ?? 0, reservingRows: parts.reduce(0) { $0 + $1.need })
        for j in parts.indices {
            // A layer whose datapoints differ is reported by `checkPair`; it is not stacked.
            if parts[j].layer.datapoints == stack.datapoints { stack.append(parts[j].basis, count: parts[j].need) }
            parts[j].basis = []
        }
        let layersB = parts.map(\.layer)
        let frozen = stack
        let rows = try parallelMap(namesA.count, threads: threads) { i -> (RS.PreparedLayer, [RS.Comparison]) in
            let layer = try prepare(.a, i)
            progress()
            let kept = try layersB.map { try RS.checkPair(layer, $0, reduction: reduction) }
            let need = try RS.needed(layer, kept: layer.kept(reduction), measures: measures)
            let product = RS.stackedProduct(RS.transposedBasis(layer, columns: need, as: S.self), rows: need, frozen)
            let stripped = try layer.droppingBasis()
            let row = try layersB.indices.map { j -> RS.Comparison in
                defer { progress() }
                let m = try RS.block(product, width: frozen.height, rows: need, offset: frozen.offsets[j], count: frozen.counts[j])
                let (ka, kb) = kept[j]
                return RS.summarise(stripped, layersB[j], keptA: ka, keptB: kb,
                                    terms: try RS.terms(product: m, stripped, layersB[j], keptA: ka, keptB: kb, measures: measures))
            }
            return (stripped, row)
        }
        var droppedNeurons: [String: [Int]] = [:]
        for layer in rows.map(\.0) + layersB where !layer.droppedNeurons.isEmpty { droppedNeurons[layer.name] = layer.droppedNeurons }
        return LayerSimilarityMatrix(layersA: namesA, layersB: namesB, comparisons: rows.map(\.1), droppedNeurons: droppedNeurons)
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
