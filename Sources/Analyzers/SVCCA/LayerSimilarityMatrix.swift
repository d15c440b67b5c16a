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
        /// Debiased linear CKA (unbiased HSIC; minibatch CKA with `--cka-batch`).
        case ckaDebiased = "cka-debiased"
        /// CKA on RBF kernels (Kornblith et al. 2019).
        case ckaRBF = "cka-rbf"
        /// Procrustes distance `2 − 2‖XᵀY‖_*` (Ding et al. 2021): 0 for identical representations.
        case procrustes

        public var title: String {
            switch self {
            case .svcca: return "SVCCA (mean canonical correlation)"
            case .pwcca: return "PWCCA"
            case .cka: return "linear CKA"
            case .ckaDebiased: return "debiased linear CKA"
            case .ckaRBF: return "RBF CKA"
            case .procrustes: return "Procrustes distance"
            }
        }

        /// What `compare` must compute for this metric besides SVCCA.
        public var measures: RepresentationSimilarity.Measures {
            switch self {
            case .svcca: return []
            case .pwcca: return .pwcca
            case .cka: return .cka
            case .ckaDebiased, .ckaRBF, .procrustes: return []
            }
        }

        /// Computed from each pair's activations by `SimilarityMeasures` (after `compute`,
        /// which leaves them nil), not from the layers' factors.
        public var fromActivations: Bool {
            switch self {
            case .svcca, .pwcca, .cka: return false
            case .ckaDebiased, .ckaRBF, .procrustes: return true
            }
        }

        /// The range a heatmap of this metric is drawn on: nil to fit the values (linear CKA
        /// of unrelated layers sits well above 0; debiased CKA can be slightly negative).
        public var displayRange: ClosedRange<Double>? {
            switch self {
            case .svcca, .pwcca, .ckaRBF: return 0...1
            case .cka, .ckaDebiased: return nil
            case .procrustes: return 0...2
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
            case .ckaDebiased: return c.ckaDebiased ?? .nan
            case .ckaRBF: return c.ckaRBF ?? .nan
            case .procrustes: return c.procrustes ?? .nan
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

    /// One cell of a heatmap: A's layer `row` against B's layer `column`.
    public struct Cell: Hashable, Sendable {
        public var row: Int, column: Int
        public init(row: Int, column: Int) { self.row = row; self.column = column }
    }

    /// Every cell of an `a × b` heatmap, row by row.
    public static func allCells(_ a: Int, _ b: Int) -> [Cell] {
        (0..<max(a, 0)).flatMap { i in (0..<max(b, 0)).map { Cell(row: i, column: $0) } }
    }

    /// What `compute(cells:…)` returns: one comparison per cell asked, in that order, and the
    /// neurons each prepared layer dropped for zero variance (by layer index; empty lists too).
    public struct CellResults: Sendable {
        public var comparisons: [RepresentationSimilarity.Comparison]
        public var droppedA: [Int: [Int]], droppedB: [Int: [Int]]
    }

    /// Computes every pair, loading each layer's activations when it is prepared and keeping
    /// only what the comparisons need, so that at most `threads` layers' activations are in
    /// memory at once (`compute(cells:…)` over every cell).
    /// - Parameters: as the other `compute`, with the layers named; `load(side, index)` returns
    ///   layer `index` of that side as `[datapoints, neurons]`, and is called once per layer.
    public static func compute(layersA namesA: [String], layersB namesB: [String],
                               reduction: RepresentationSimilarity.Reduction, measures: RepresentationSimilarity.Measures = .all,
                               inputEpsilon: Double = Double.ulpOfOne,
                               precision: RepresentationSimilarity.ProductPrecision = .float64,
                               threads: Int,
                               progress: @Sendable () -> Void = {},
                               load: @Sendable (Side, Int) throws -> Tensor<Double>) throws -> LayerSimilarityMatrix {
        let r = try compute(cells: allCells(namesA.count, namesB.count), layersA: namesA, layersB: namesB, reduction: reduction,
                            measures: measures, inputEpsilon: inputEpsilon, precision: precision, threads: threads,
                            blasThreads: blasThreads(rows: namesA.count, threads: threads), progress: progress, load: load)
        var droppedNeurons: [String: [Int]] = [:]
        for (name, dropped) in namesA.indices.map({ (namesA[$0], r.droppedA[$0] ?? []) }) + namesB.indices.map({ (namesB[$0], r.droppedB[$0] ?? []) })
        where !dropped.isEmpty { droppedNeurons[name] = dropped }
        let width = namesB.count
        return LayerSimilarityMatrix(layersA: namesA, layersB: namesB,
                                     comparisons: namesA.indices.map { i in Array(r.comparisons[(i * width)..<((i + 1) * width)]) },
                                     droppedNeurons: droppedNeurons)
    }

    /// Computes the cells asked for, preparing each layer they touch once: B's layers first,
    /// each basis transposed and kept (its activations and float64 `U` dropped); then each A
    /// layer is loaded, prepared, multiplied against the bases of its cells' B layers and
    /// dropped. Memory: those B bases (`datapoints × Σ k_b` scalars of the product precision)
    /// plus, per thread, one layer being prepared. With fewer A rows than threads
    /// (`blasThreads > 1`: a pair, 1 × N) the A layers are prepared beside B's, before any
    /// product (see `cellProducts`).
    ///
    /// A cell's numbers depend on its two layers only, never on the other cells computed with
    /// it: each cell's product is its own GEMM (`U_aᵀ·U_b`, `[k_a, datapoints] × [datapoints, k_b]`),
    /// so no BLAS blocking or small-matrix path depends on how many B layers sit beside it, and
    /// OpenBLAS runs single-threaded throughout (parallelism is over layers), so a layer is
    /// prepared with the same arithmetic whether one or fifty are prepared with it. That is
    /// what lets `analyze svcca --shard k/N` merge to the unsharded heatmap bit for bit.
    /// - Parameter cells: distinct cells, any order; `load(side, index)` is called once for
    ///   every layer they touch.
    public static func compute(cells: [Cell], layersA namesA: [String], layersB namesB: [String],
                               reduction: RepresentationSimilarity.Reduction, measures: RepresentationSimilarity.Measures = .all,
                               inputEpsilon: Double = Double.ulpOfOne,
                               precision: RepresentationSimilarity.ProductPrecision = .float64,
                               threads: Int,
                               blasThreads: Int = 1,
                               progress: @Sendable () -> Void = {},
                               load: @Sendable (Side, Int) throws -> Tensor<Double>) throws -> CellResults {
        // Layers are always prepared in parallel with one BLAS thread each; the products run
        // either in parallel rows (one BLAS thread each) or one at a time on `blasThreads`:
        // never a mix, so a cell's arithmetic does not depend on its neighbours.
        let route = RepresentationSimilarity.productRoute(precision, measures: measures, blasThreads: blasThreads)
        // A heatmap of one A layer uses every B basis once: its cells multiply activations, not
        // bases, when that is proven accurate (decided from the whole heatmap, so a shard holding a
        // cell computes it alike).
        let crossRow = namesA.count == 1 && route == .float64 && measures.isDisjoint(with: [.pwcca, .cka])
        return try withBLASThreads(max(blasThreads, 1)) {
            try cellProducts(cells, namesA, namesB, reduction: reduction, measures: measures, inputEpsilon: inputEpsilon,
                             precision: route, threads: threads, productThreads: max(blasThreads, 1), crossRow: crossRow,
                             progress: progress, load: load)
        }
    }

    /// BLAS threads per layer for a heatmap of `rows` A layers: with fewer rows than threads (a
    /// single pair, 1 × N) the cores go to each GEMM, otherwise to parallel rows. A function of
    /// the whole heatmap, so every shard computes each cell as the unsharded run does.
    public static func blasThreads(rows: Int, threads: Int) -> Int { rows < threads ? threads : 1 }

    /// Runs `body` with OpenBLAS on `n` threads (restoring the count after): `parallelMap`
    /// sets one thread only when it runs two or more workers, which would make a layer's
    /// arithmetic depend on how many layers are prepared beside it.
    static func withBLASThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        let saved = BLAS.threadCount
        if saved != n { BLAS.setThreadCount(n) }
        defer { if saved != n { BLAS.setThreadCount(saved) } }
        return try body()
    }

    /// A layer prepared for its cells: without its `U`, and its basis as the products take it.
    private struct ReadyLayer: Sendable {
        var layer: RepresentationSimilarity.PreparedLayer
        var basis: RepresentationSimilarity.ProductBasis
        var need: Int
    }

    /// The cells: with `productThreads == 1` each A row is prepared and multiplied against the
    /// B bases on one of `threads` workers (B's layers prepared first, in parallel); with more
    /// (fewer rows than threads) every layer the cells touch is prepared first, all in parallel
    /// on one BLAS thread each (a pair's two eigendecompositions side by side instead of one
    /// after the other on both cores: `dsytrd`'s level-2 half does not scale to two threads), and
    /// then each product runs on all `productThreads`. With `crossRow` (a heatmap of one A layer,
    /// 1 × N: no basis is used twice but A's) every layer is prepared without its basis and each
    /// cell takes `RepresentationSimilarity.crossProduct` when `crossBound` allows; the others get
    /// the bases of their two layers after all.
    private static func cellProducts(_ cells: [Cell], _ namesA: [String], _ namesB: [String],
                                     reduction: RepresentationSimilarity.Reduction, measures: RepresentationSimilarity.Measures,
                                     inputEpsilon: Double, precision: RepresentationSimilarity.ProductPrecision, threads: Int,
                                     productThreads: Int, crossRow: Bool = false, progress: @Sendable () -> Void,
                                     load: @Sendable (Side, Int) throws -> Tensor<Double>) throws -> CellResults {
        typealias RS = RepresentationSimilarity
        let basisFor = measures.contains(.cka) ? nil : reduction
        // Bases deferred: the product bases are formed transposed from `X` and `W` (`transposedBasis`),
        // or not at all (`crossProduct`).
        @Sendable func prepared(_ side: Side, _ i: Int) throws -> RS.PreparedLayer {
            try RS.prepare(try load(side, i), name: (side == .a ? namesA : namesB)[i], inputEpsilon: inputEpsilon,
                           allowGram: true, basisFor: basisFor, deferBasis: true)
        }
        @Sendable func ready(_ side: Side, _ i: Int) throws -> ReadyLayer { try ready(try prepared(side, i)) }
        @Sendable func ready(_ layer: RS.PreparedLayer) throws -> ReadyLayer {
            let need = try RS.needed(layer, kept: layer.kept(reduction), measures: measures)
            let basis = try RS.ProductBasis(layer, columns: need, precision: precision, threads: productThreads)
            return ReadyLayer(layer: try layer.droppingBasis(), basis: basis, need: need)
        }
        /// A cell's comparison from its product of bases `m` (and that product's bound).
        @Sendable func comparison(_ a: RS.PreparedLayer, _ b: RS.PreparedLayer, kept: (Int, Int), product m: Tensor<Double>,
                                  bound: Double?) throws -> RS.Comparison {
            var terms = try RS.terms(product: m, a, b, keptA: kept.0, keptB: kept.1, measures: measures)
            terms.productBound = bound
            return RS.summarise(a, b, keptA: kept.0, keptB: kept.1, terms: terms)
        }
        let columns = Array(Set(cells.map(\.column))).sorted(), rowIndices = Array(Set(cells.map(\.row))).sorted()
        let slot = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, $0) })
        // Each row's cells, with their positions in `cells`.
        var grouped = [[(position: Int, column: Int)]](repeating: [], count: rowIndices.count)
        let rowSlot = Dictionary(uniqueKeysWithValues: rowIndices.enumerated().map { ($1, $0) })
        for (position, cell) in cells.enumerated() { if let r = rowSlot[cell.row] { grouped[r].append((position, cell.column)) } }
        let rowCells = grouped
        /// The comparisons of A layer `a`'s `cells` from the bases, by position in `cells`.
        @Sendable func products(_ cells: [(position: Int, column: Int)], _ a: ReadyLayer,
                                _ layerB: (Int) -> ReadyLayer?) throws -> [(Int, RS.Comparison)] {
            try cells.map { cell -> (Int, RS.Comparison) in
                defer { progress() }
                guard let b = layerB(cell.column) else {
                    throw RS.SimilarityError.notComparable(detail: "layer '\(namesB[cell.column])' was not prepared")
                }
                let kept = try RS.checkPair(a.layer, b.layer, reduction: reduction)
                let (m, bound) = try RS.product(a.basis, rows: a.need, b.basis, rows: b.need, datapoints: a.layer.datapoints, threads: productThreads)
                return (cell.position, try comparison(a.layer, b.layer, kept: kept, product: m, bound: bound))
            }
        }
        if crossRow, rowIndices.count == 1, let row = rowIndices.first {
            let all = try parallelMap(columns.count + 1, threads: threads) { k -> RS.PreparedLayer in
                defer { progress() }
                return k < columns.count ? try prepared(.b, columns[k]) : try prepared(.a, row)
            }
            let a = all[columns.count]
            var comparisons: [(Int, RS.Comparison)] = [], viaBases: [(position: Int, column: Int)] = []
            for cell in rowCells[0] {
                guard let s = slot[cell.column] else {
                    throw RS.SimilarityError.notComparable(detail: "layer '\(namesB[cell.column])' was not prepared")
                }
                let b = all[s]
                let kept = try RS.checkPair(a, b, reduction: reduction)
                let needA = try RS.needed(a, kept: kept.0, measures: measures), needB = try RS.needed(b, kept: kept.1, measures: measures)
                guard let bound = RS.crossBound(a, columns: needA, b, columns: needB), bound <= RS.crossTolerance else {
                    viaBases.append(cell)
                    continue
                }
                let m = try RS.crossProduct(a, columns: needA, b, columns: needB)
                comparisons.append((cell.position, try comparison(a, b, kept: kept, product: m, bound: bound)))
                progress()
            }
            if !viaBases.isEmpty {
                // The bases after all, as every other heatmap forms them (in parallel, one BLAS thread each).
                let formSlots = Array(Set(viaBases.compactMap { slot[$0.column] })).sorted()
                let formed = try parallelMap(formSlots.count + 1, threads: threads) { k in
                    try ready(k < formSlots.count ? all[formSlots[k]] : a)
                }
                let bySlot = Dictionary(uniqueKeysWithValues: zip(formSlots, formed))
                comparisons += try products(viaBases, formed[formSlots.count]) { column in slot[column].flatMap { bySlot[$0] } }
            }
            var ordered = [RS.Comparison?](repeating: nil, count: cells.count)
            for (position, c) in comparisons { ordered[position] = c }
            return CellResults(comparisons: ordered.compactMap { $0 }, droppedA: [row: a.droppedNeurons],
                               droppedB: Dictionary(uniqueKeysWithValues: zip(columns, all[0..<columns.count].map(\.droppedNeurons))))
        }
        let layersB: [ReadyLayer]
        let rows: [(dropped: [Int], row: [(Int, RS.Comparison)])]
        if productThreads > 1 {
            let all = try parallelMap(columns.count + rowIndices.count, threads: threads) { k -> ReadyLayer in
                defer { progress() }
                return k < columns.count ? try ready(.b, columns[k]) : try ready(.a, rowIndices[k - columns.count])
            }
            layersB = Array(all[0..<columns.count])
            let layersA = Array(all[columns.count...])
            rows = try rowIndices.indices.map { r in
                (layersA[r].layer.droppedNeurons, try products(rowCells[r], layersA[r]) { slot[$0].map { layersB[$0] } })
            }
        } else {
            let b = try parallelMap(columns.count, threads: threads) { n -> ReadyLayer in
                defer { progress() }
                return try ready(.b, columns[n])
            }
            layersB = b
            rows = try parallelMap(rowIndices.count, threads: threads) { r in
                let a = try ready(.a, rowIndices[r])
                progress()
                return (a.layer.droppedNeurons, try products(rowCells[r], a) { slot[$0].map { b[$0] } })
            }
        }
        var comparisons = [RS.Comparison?](repeating: nil, count: cells.count)
        for (_, row) in rows { for (position, c) in row { comparisons[position] = c } }
        return CellResults(comparisons: comparisons.compactMap { $0 },
                           droppedA: Dictionary(uniqueKeysWithValues: zip(rowIndices, rows.map(\.dropped))),
                           droppedB: Dictionary(uniqueKeysWithValues: zip(columns, layersB.map(\.layer.droppedNeurons))))
    }

    /// The layers each side must be prepared at for `computeFourier`: side (0 = A, 1 = B),
    /// layer index, and the resolution (the smaller of each axis over its partners).
    public struct SpectrumKey: Hashable, Sendable { public var side: Int, layer: Int, height: Int, width: Int }

    /// The spectra `cells` need, in the order they are first needed (cell by cell, A's then
    /// B's), given each layer's map resolution `(height, width)`.
    public static func spectrumKeys(_ cells: [Cell], sizesA: [Int: (Int, Int)], sizesB: [Int: (Int, Int)]) -> [SpectrumKey] {
        var keys: [SpectrumKey] = [], seen = Set<SpectrumKey>()
        for cell in cells {
            let (ha, wa) = sizesA[cell.row] ?? (1, 1), (hb, wb) = sizesB[cell.column] ?? (1, 1)
            let (h, w) = (min(ha, hb), min(wa, wb))
            for key in [SpectrumKey(side: 0, layer: cell.row, height: h, width: w), SpectrumKey(side: 1, layer: cell.column, height: h, width: w)]
            where seen.insert(key).inserted { keys.append(key) }
        }
        return keys
    }

    /// A map's resolution as `commonSize` reads it.
    static func mapSize(_ t: Tensor<Double>) -> (Int, Int) { (t.rank > 2 ? t.shape[2] : 1, t.rank > 3 ? t.shape[3] : 1) }

    static func spectrumKeys(_ a: [(String, Tensor<Double>)], _ b: [(String, Tensor<Double>)]) -> [SpectrumKey] {
        spectrumKeys(allCells(a.count, b.count), sizesA: Dictionary(uniqueKeysWithValues: a.indices.map { ($0, mapSize(a[$0].1)) }),
                     sizesB: Dictionary(uniqueKeysWithValues: b.indices.map { ($0, mapSize(b[$0].1)) }))
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
        let r = try computeFourier(cells: allCells(a.count, b.count), a: Dictionary(uniqueKeysWithValues: a.enumerated().map { ($0, $1) }),
                                   b: Dictionary(uniqueKeysWithValues: b.enumerated().map { ($0, $1) }), reduction: reduction,
                                   measures: measures, inputEpsilon: inputEpsilon, threads: threads, progress: progress)
        var droppedNeurons: [String: [Int]] = [:]
        for (_, name, indices) in r.dropped where !indices.isEmpty { droppedNeurons[name] = indices }
        return LayerSimilarityMatrix(layersA: a.map(\.0), layersB: b.map(\.0),
                                     comparisons: (0..<a.count).map { i in Array(r.comparisons[(i * b.count)..<((i + 1) * b.count)]) },
                                     droppedNeurons: droppedNeurons)
    }

    /// The cells asked for on the DFT route, each spectrum they need prepared once (OpenBLAS
    /// single-threaded, as `compute(cells:…)`): a cell depends on its two layers only.
    /// - Parameters:
    ///   - a, b: the maps of (at least) the layers the cells touch, by layer index.
    /// - Returns: one comparison per cell, in order, and each spectrum's dropped channels in
    ///   `spectrumKeys` order.
    public static func computeFourier(cells: [Cell], a: [Int: (String, Tensor<Double>)], b: [Int: (String, Tensor<Double>)],
                                      reduction: RepresentationSimilarity.Reduction, measures: RepresentationSimilarity.Measures,
                                      inputEpsilon: Double = Double.ulpOfOne, threads: Int,
                                      progress: @Sendable () -> Void = {}) throws
        -> (comparisons: [RepresentationSimilarity.Comparison], dropped: [(SpectrumKey, String, [Int])]) {
        try withBLASThreads(1) {
            let keys = spectrumKeys(cells, sizesA: a.mapValues { mapSize($0.1) }, sizesB: b.mapValues { mapSize($0.1) })
            let spectra = try parallelMap(keys.count, threads: threads) { k in
                defer { progress() }
                let key = keys[k]
                guard let layer = (key.side == 0 ? a : b)[key.layer] else {
                    throw RepresentationSimilarity.SimilarityError.notComparable(detail: "layer \(key.layer) of \(key.side == 0 ? "A" : "B") was not loaded")
                }
                return try FourierSimilarity.prepare(layer.1, name: layer.0, height: key.height, width: key.width, inputEpsilon: inputEpsilon,
                                                     basisFor: measures.contains(.cka) ? nil : reduction)
            }
            let index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
            let comparisons = try parallelMap(cells.count, threads: threads) { k in
                defer { progress() }
                let (i, j) = (cells[k].row, cells[k].column)
                guard let x = a[i], let y = b[j] else {
                    throw RepresentationSimilarity.SimilarityError.notComparable(detail: "cell (\(i), \(j)): a layer was not loaded")
                }
                let (h, w) = FourierSimilarity.commonSize(x.1, y.1)
                guard let sa = index[SpectrumKey(side: 0, layer: i, height: h, width: w)],
                      let sb = index[SpectrumKey(side: 1, layer: j, height: h, width: w)] else {
                    throw RepresentationSimilarity.SimilarityError.notComparable(detail: "layers '\(x.0)' and '\(y.0)' were not prepared at \(h)×\(w)")
                }
                return try FourierSimilarity.compare(spectra[sa], spectra[sb], reduction: reduction, measures: measures)
            }
            return (comparisons, zip(keys, spectra).map { ($0, $1.name, $1.droppedChannels) })
        }
    }
}
