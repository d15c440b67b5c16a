import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// `analyze svcca`: which layers' representations changed (paper 000, section 4 and
/// Figures 4–6, 14): a layer × layer similarity heatmap of two activation dumps, its
/// diagonal, and optionally the difference of two such heatmaps.
public struct SVCCAAnalyzer: ShardableAnalyzer {
    public struct Options: ParsableArguments {
        @Option(help: "Two activation dumps of the run, e.g. 10,150.")
        public var epochs: String?
        @Option(name: .customLong("a"), help: "First model's activations: an .acts file or run/:EPOCH.")
        public var a: String?
        @Option(name: .customLong("b"), help: "Second model's activations: an .acts file or run/:EPOCH.")
        public var b: String?
        @Option(name: [.customLong("diff-b"), .customLong("diff")],
                help: "Also compare --a with this dump and draw |sim(a,b) − sim(a,diff-b)| (paper 000 Figure 6).")
        public var diffB: String?
        @Option(help: ArgumentHelp("The measures to compute: svcca, pwcca, cka, cka-debiased, cka-rbf, procrustes, a comma-separated list (the first is drawn as heatmap.png, the others as heatmap-NAME.png), or all (svcca, pwcca and cka). Each costs extra time: PWCCA the canonical directions, CKA the full product of the two bases; cka-debiased, cka-rbf and procrustes are computed from each pair's activations (cka-rbf forms two datapoints × datapoints kernels).", valueName: "metric[,metric…]"),
                transform: MetricSelection.parse)
        public var metric = MetricSelection([.svcca])
        @Option(help: ArgumentHelp("With --metric cka-rbf: the kernel width σ as a fraction of the median distance between datapoints (default 0.5; Kornblith et al. 2019 use 0.2–0.8).", valueName: "fraction"))
        public var rbfBandwidth: Double?
        @Option(help: ArgumentHelp("With --metric cka-debiased: minibatch CKA (Nguyen et al. 2021), the unbiased HSIC summed over consecutive batches of about N datapoints; N ≥ the probe set gives debiased CKA.", valueName: "N"))
        public var ckaBatch: Int?
        @Option(help: ArgumentHelp("With --metric pwcca: basin (Basin's definition, the default) or google (google/svcca's pwcca.py, for comparison with numbers computed with it; see the discussion).", valueName: "basin|google"))
        public var pwccaStyle: PWCCAStyle = .basin
        @Option(help: "Keep the fewest SVD directions explaining this fraction of variance (the paper's 0.99).")
        public var keepVariance: Double = 0.99
        @Option(help: "Keep this many SVD directions instead (google/svcca's tutorial uses 20).")
        public var keepDims: Int?
        @Flag(help: "No SVD reduction: plain CCA on all neurons.")
        public var noReduction = false
        @Option(help: ArgumentHelp("How the products of two layers' kept bases are computed: auto (the default: int8 on CPUs whose int8 products run on AMX tiles, float64 elsewhere), int8 (the float64 bases split into int8 slices multiplied exactly on AMX or VNNI units, every canonical correlation within a proven bound of at most 1e-7 of the float64 route, the bound in result.json as productBound; float64 without such units and whenever pwcca or cka is asked for), float64 (the reference route), or float32 (faster; its error is measured, not proven). result.json's settings.precision says which ran.", valueName: "auto|int8|float64|float32"))
        public var products: RepresentationSimilarity.ProductPrecision = .auto
        @Option(help: ArgumentHelp("Convolutional activations [N, C, H, W]: pool (average over space, one neuron per channel), flatten (every channel × position a neuron), or dft (2-D DFT over space, CCA of the channels at each spatial frequency, summarised over all of them; exact flattened CCA for shift-invariant data, C neurons instead of C·H·W; svcca and cka only).", valueName: "pool|flatten|dft"))
        public var conv: ActivationDump.ConvReduction = .pool
        @Option(help: "Comma-separated layer names to use (default: all, in dump order).")
        public var layers: String?
        @Option(name: .customLong("layers-a"), help: "Layers of --a only (the heatmap's rows), when the two models name their layers differently.")
        public var layersA: String?
        @Option(name: .customLong("layers-b"), help: "Layers of --b and --diff-b only (the heatmap's columns).")
        public var layersB: String?
        @Option(help: ArgumentHelp("With --epochs: compute the activations at the checkpoints on this data (same forms as barrier's --data), also where the run saved dumps on its own probe set (an imported run has none); its validation, else test, else training split is the probe set.", valueName: "source"),
                transform: DataSource.parse)
        public var data: DataSource?
        @Option(help: "With --data: the probe set is the split's first N samples, in file order (default 1000).")
        public var probeFirst: Int?
        @Option(help: "With --data: multiply npy:, npz: and csv: inputs by this (e.g. 1/255 for uint8 images).")
        public var scale: Double = 1

        public init() {}

        public mutating func validate() throws {
            if epochs == nil && (a == nil || b == nil) { throw ValidationError("name two dumps: --epochs 10,150 with a run, or --a and --b") }
            if epochs != nil && (a != nil || b != nil) { throw ValidationError("use either --epochs or --a/--b, not both") }
            if let e = epochs, (try? RunDirectory.parsePoints(e))?.count != 2 { throw ValidationError("--epochs takes two points of the run, e.g. 10,150; got '\(e)'") }
            if !(keepVariance > 0 && keepVariance <= 1) { throw ValidationError("--keep-variance must be in (0, 1], got \(keepVariance)") }
            if let k = keepDims, !(1...(1 << 24)).contains(k) { throw ValidationError("--keep-dims must be in 1…16777216, got \(k)") }
            if data != nil && epochs == nil { throw ValidationError("--data computes activations at a run's checkpoints: give --epochs too") }
            if let n = probeFirst, !(1...(1 << 24)).contains(n) { throw ValidationError("--probe-first must be in 1…16777216, got \(n)") }
            if probeFirst != nil && data == nil { throw ValidationError("--probe-first applies to --data (the run's own dumps keep their probe set)") }
            if !(scale.isFinite && scale != 0) { throw ValidationError("--scale must be a finite nonzero number, got \(scale)") }
            if conv == .dft && metrics.contains(.pwcca) {
                throw ValidationError("--metric pwcca is not defined with --conv dft (complex canonical variates have no real neuron weights); use svcca or cka, or --conv pool/flatten for PWCCA")
            }
            if conv == .dft, let m = metrics.first(where: \.fromActivations) {
                throw ValidationError("--metric \(m.rawValue) is not available with --conv dft (it is computed from the activations, not per frequency); use --conv pool or flatten")
            }
            if let h = rbfBandwidth {
                if !(h.isFinite && h > 0) { throw ValidationError("--rbf-bandwidth must be a positive number, got \(h)") }
                if !metrics.contains(.ckaRBF) { throw ValidationError("--rbf-bandwidth applies to --metric cka-rbf, which is not among the metrics asked for") }
            }
            if let n = ckaBatch {
                if !(4...(1 << 24)).contains(n) { throw ValidationError("--cka-batch must be in 4…16777216 (the unbiased HSIC needs 4 datapoints), got \(n)") }
                if !metrics.contains(.ckaDebiased) { throw ValidationError("--cka-batch applies to --metric cka-debiased, which is not among the metrics asked for") }
            }
            if pwccaStyle == .google && !metrics.contains(.pwcca) {
                throw ValidationError("--pwcca-style google applies to --metric pwcca, which is not among the metrics asked for")
            }
        }

        /// The measures named by `--metric`, in order, without repeats.
        var metrics: [LayerSimilarityMatrix.Metric] { metric.metrics }

        var reduction: RepresentationSimilarity.Reduction {
            noReduction ? .none : keepDims.map { .dimensions($0) } ?? .variance(keepVariance)
        }

        /// `--rbf-bandwidth`, or its default.
        var bandwidth: Double { rbfBandwidth ?? SVCCAAnalyzer.defaultRBFBandwidth }

        /// Whether any measure is computed from each pair's activations (a second pass over the cells).
        var needsActivations: Bool { metrics.contains(where: \.fromActivations) || (pwccaStyle == .google && metrics.contains(.pwcca)) }
    }

    /// `--rbf-bandwidth` when not given: σ = half the median distance between datapoints.
    public static let defaultRBFBandwidth = 0.5

    /// `--pwcca-style`: whose definition of PWCCA.
    public enum PWCCAStyle: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
        /// Canonical variates on centred data, weighted by their absolute correlations with the neurons.
        case basin
        /// google/svcca's `pwcca.py` (`SimilarityMeasures.googlePWCCA`).
        case google
    }

    public struct Settings: Codable, Sendable {
        public var a: String, b: String, diffB: String?
        /// The measure drawn in heatmap.png (the first of `metrics`).
        public var metric: String
        /// Every measure computed (result.json and pairs.csv carry all of them).
        public var metrics: [String]
        public var reduction: RepresentationSimilarity.Reduction
        public var conv: String
        public var probe: ProbeSet?
        public var precision = "float64"
        /// `--rbf-bandwidth`, when cka-rbf was computed.
        public var rbfBandwidth: Double? = nil
        /// `--cka-batch`, when debiased CKA was computed in minibatches.
        public var ckaBatch: Int? = nil
        /// `--pwcca-style`, when PWCCA was computed.
        public var pwccaStyle: String? = nil
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 2
        public var settings: Settings
        public var similarity: LayerSimilarityMatrix
        public var diffSimilarity: LayerSimilarityMatrix?
        /// The metric's diagonal (layer i vs layer i) when both sides have the same layers.
        public var diagonal: [Double]?
        public var warnings: [String]
        public var files: [String]
    }

    public static let name = "svcca"
    public static let summary = "Layer × layer representation similarity (SVCCA, PWCCA, CKA) of two activation dumps."
    public static let discussion = """
        Examples:
          analyze svcca run/ --epochs 10,150
          analyze svcca --a teacher/:150 --b student/:150 --metric pwcca,cka
          analyze svcca --a T.acts --b S_distilled.acts --diff-b S_independent.acts
          analyze svcca run/ --epochs 10,150 --keep-dims 20 --conv flatten
          analyze svcca run/ --epochs 10,150 --conv dft --metric svcca,cka
          analyze svcca run/ --epochs 1,4 --data npy:val-X.npy,val-y.npy --probe-first 500
          analyze svcca run/ --epochs 10,150 --metric svcca,cka,cka-debiased,procrustes
          analyze svcca run/ --epochs 10,150 --metric cka-rbf --rbf-bandwidth 0.4
          analyze svcca run/ --epochs 10,150 --metric cka-debiased --cka-batch 256
          analyze svcca --a T.acts --b S.acts --metric pwcca --pwcca-style google

        Both dumps must hold activations on the same probe set (same datapoints, same order). \
        Layers are centred, constant neurons dropped (and reported), reduced by SVD to \
        the directions explaining --keep-variance of the variance, then compared by CCA. \
        Convolutional maps are average-pooled over space unless --conv says otherwise; paper 000 \
        (after Raghu et al. 2017) compares them per spatial frequency, --conv dft. \
        A run imported from PyTorch has no dumps: with --data, Basin computes every layer's \
        outputs at the two checkpoints (for an ONNX graph, the outputs of its Conv, Gemm, \
        MatMul, activation, pooling, normalisation and Add nodes, named by module path). \
        Computed in float64. Writes result.json, matrix.csv, pairs.csv and heatmap figures; \
        --metric svcca (the default) is the fastest, PWCCA and CKA are computed when named. \
        For SVCCA alone each pair's correlations come from the Gram of the product of its bases \
        when that is provably within 1e-8 of its SVD (the bound per cell in result.json as \
        correlationBound), else from the SVD. With one layer of A (a pair, or one layer against \
        several of B) each cell multiplies the two layers' activations once instead of forming \
        their bases, when that is provably within 1e-7 of the bases' product (the bound in \
        result.json as productBound). \
        --shard k/N splits the heatmap's cells (with --diff-b, both heatmaps'), balanced by their \
        products' cost; each shard reads and prepares only the layers its cells use.

        Measures from the activations (centred; never SV-reduced): cka-debiased is linear \
        CKA with the unbiased HSIC estimator of Song et al. 2012 (Nguyen et al. 2021), near 0 for \
        unrelated layers where plain CKA is not; --cka-batch N sums that estimator over batches of \
        about N datapoints (minibatch CKA; one batch gives debiased CKA exactly). cka-rbf uses \
        Gaussian kernels of width σ = --rbf-bandwidth × the median distance between datapoints \
        (default 0.5; Kornblith et al. 2019). procrustes is Ding et al. 2021's distance \
        2 − 2‖XᵀY‖_* of the Frobenius-normalised layers: 0 for identical representations up to \
        rotation and scale, 2 at most; drawn on 0…2.

        PWCCA (Morcos et al. 2018), Basin's definition: on the side with fewer kept directions, \
        the canonical variates h_i (unit vectors over datapoints) are weighted by \
        α_i = Σ_j |⟨h_i, x_j⟩| over that side's centred neurons x_j, and PWCCA = Σ α_i ρ_i / Σ α_i. \
        This is the paper's formula: α_i is how much of the layer's activity the i-th canonical \
        variate accounts for, and it does not change when a constant is added to a neuron. \
        google/svcca's pwcca.py (--pwcca-style google) computes something else: its "directions" \
        rotate the centred neurons by the left singular vectors without the whitening \
        Σxx^-1/2 (so they are not the canonical variates), add the neuron means back, and weight \
        by inner products with the uncentred neurons; its numbers are reproduced for \
        comparison only (no SV reduction; the side with fewer neurons is weighted).
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public var runDirectoryNeed: String? { options.epochs == nil ? nil : "--epochs names activation dumps of a run" }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        var out = [("metric shown", r.settings.metric), ("layers", "\(r.similarity.layersA.count) × \(r.similarity.layersB.count)")]
        if let d = r.diagonal {
            out += zip(r.similarity.layersA, d).map { ("\(r.settings.metric), \($0) vs \($0)", String(format: "%.4f", $1)) }
        }
        return out
    }

    public var outputName: String {
        let parts = options.epochs.map { $0.split(separator: ",").map(String.init) }
            ?? [options.a, options.b].compactMap { $0 }.map(Self.shortName)
        return (["svcca"] + parts + (options.diffB.map { ["vs", Self.shortName($0)] } ?? [])
                + (options.metrics.first.map { $0 == .svcca ? [] : [$0.rawValue] } ?? [])).joined(separator: "-")
    }

    static func shortName(_ spec: String) -> String {
        spec.split(separator: "/").filter { !$0.isEmpty && $0 != "activations" }.suffix(2)
            .joined(separator: "_").replacingOccurrences(of: ":", with: "").replacingOccurrences(of: ".acts", with: "")
    }

    /// What every cell needs: the dumps (opened; layers are read by the shards that use them)
    /// and which cell each item is.
    public struct Work {
        var dumpA: ActivationDump
        /// B, and `--diff-b`'s dump: the columns of heatmap 0 and 1.
        var dumpsB: [ActivationDump]
        var pathB2: String?
        var epsilon: Double
        var measures: RepresentationSimilarity.Measures
        /// Item k: its heatmap (0, or 1 for --diff-b) and cell.
        var items: [(heatmap: Int, cell: LayerSimilarityMatrix.Cell)]
        /// Whether item k is the first (row by row) to use its A (B) layer's preparation: that
        /// item carries the layer's dropped neurons, which `finish` reports.
        var introduces: [(a: Bool, b: Bool)]
    }

    /// One cell's comparison, and the dropped neurons of the layers it introduces.
    public struct CellValue: Codable, Sendable {
        public var comparison: RepresentationSimilarity.Comparison
        public var droppedA: [Int]?
        public var droppedB: [Int]?
    }

    /// The items are the heatmap's cells row by row (A layer × B layer), then, with --diff-b,
    /// the second heatmap's; a cell costs its product, `datapoints · k_a · k_b` (per spatial
    /// frequency with `--conv dft`), with each side's directions bounded by its neurons.
    public func plan(_ context: AnalysisContext) throws -> ShardPlan<Work> {
        let conv = options.conv
        func names(_ list: String?) -> [String]? { list.map { $0.split(separator: ",").map(String.init) } }
        let layerNames = names(options.layers)
        let (layersA, layersB) = (names(options.layersA) ?? layerNames, names(options.layersB) ?? layerNames)
        let (dumpA, dumpB) = try loadDumps(context, layersA: layersA, layersB: layersB, conv: conv)
        let pathB2 = try options.diffB.map { try CheckpointLocator.resolveActivations($0) }
        let dumpB2 = try pathB2.map { try ActivationDump(opening: $0, layers: layersB, conv: conv) }
        for other in [dumpB] + (dumpB2.map { [$0] } ?? []) {
            guard let x = dumpA.probe, let y = other.probe, !x.selectsSameDatapoints(as: y) else { continue }
            throw CheckpointError.incompatible(pathA: dumpA.path, pathB: other.path, detail: "activations were computed on different probe sets")
        }
        var measures = options.metrics.reduce(into: RepresentationSimilarity.Measures()) { $0.formUnion($1.measures) }
        if options.pwccaStyle == .google { measures.remove(.pwcca) }     // computed from the activations instead
        let epsilon = max(dumpA.inputEpsilon, dumpB.inputEpsilon, dumpB2?.inputEpsilon ?? 0)
        let dumpsB = [dumpB] + (dumpB2.map { [$0] } ?? [])
        func shape(_ d: ActivationDump, _ i: Int) -> (datapoints: Int, neurons: Int, height: Int, width: Int) {
            let s = d.shapes[d.layers[i]] ?? []
            let (neurons, height, width) = ActivationDump.neurons(s, conv: conv)
            return (s.first ?? 0, neurons, height, width)
        }
        var items: [(heatmap: Int, cell: LayerSimilarityMatrix.Cell)] = [], introduces: [(a: Bool, b: Bool)] = [], costs: [Double] = []
        for (heatmap, b) in dumpsB.enumerated() {
            var seen = Set<LayerSimilarityMatrix.SpectrumKey>()
            for cell in LayerSimilarityMatrix.allCells(dumpA.layers.count, b.layers.count) {
                let x = shape(dumpA, cell.row), y = shape(b, cell.column)
                let (h, w) = conv == .dft ? (min(x.height, y.height), min(x.width, y.width)) : (0, 0)
                let keyA = LayerSimilarityMatrix.SpectrumKey(side: 0, layer: cell.row, height: h, width: w)
                let keyB = LayerSimilarityMatrix.SpectrumKey(side: 1, layer: cell.column, height: h, width: w)
                items.append((heatmap, cell))
                introduces.append((seen.insert(keyA).inserted, seen.insert(keyB).inserted))
                let n = Double(max(x.datapoints, 1))
                costs.append(n * Double(min(x.neurons, x.datapoints) + 1) * Double(min(y.neurons, y.datapoints) + 1) * Double(max(h * w, 1)))
            }
        }
        let work = Work(dumpA: dumpA, dumpsB: dumpsB, pathB2: pathB2, epsilon: epsilon, measures: measures, items: items, introduces: introduces)
        return ShardPlan(work: work, costs: costs, itemName: "cell")
    }

    /// The cells asked for, each layer they touch read and prepared once.
    public func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [CellValue] {
        let w = plan.work
        let fourier = options.conv == .dft
        let rows = Set(items.map { w.items[$0].cell.row }).sorted()
        let a = try w.dumpA.loading(rows.map { w.dumpA.layers[$0] })
        let byHeatmap = w.dumpsB.indices.map { h in items.indices.filter { w.items[items[$0]].heatmap == h } }
        let cellsOf = byHeatmap.map { $0.map { w.items[items[$0]].cell } }
        func sizes(_ d: ActivationDump, _ indices: Set<Int>) -> [Int: (Int, Int)] {
            Dictionary(uniqueKeysWithValues: indices.map { i in
                let s = ActivationDump.neurons(d.shapes[d.layers[i]] ?? [], conv: .dft)
                return (i, (s.height, s.width))
            })
        }
        let steps = zip(cellsOf, w.dumpsB).reduce(0) { total, heatmap in
            let (cells, b) = heatmap
            let prepared = fourier
                ? LayerSimilarityMatrix.spectrumKeys(cells, sizesA: sizes(w.dumpA, Set(cells.map(\.row))), sizesB: sizes(b, Set(cells.map(\.column)))).count
                : Set(cells.map(\.row)).count + Set(cells.map(\.column)).count
            return total + prepared + cells.count * (options.needsActivations ? 2 : 1)
        }
        context.progress.start("svcca" + (items.count < plan.count ? " (\(items.count) cells of this shard)" : ""), total: steps)
        let progress = context.progress
        var values = [CellValue?](repeating: nil, count: items.count)
        for (heatmap, positions) in byHeatmap.enumerated() where !positions.isEmpty {
            let cells = cellsOf[heatmap]
            let b = try w.dumpsB[heatmap].loading(Set(cells.map(\.column)).sorted().map { w.dumpsB[heatmap].layers[$0] })
            if fourier {
                func maps(_ d: ActivationDump, _ indices: [Int]) throws -> [Int: (String, Tensor<Double>)] {
                    Dictionary(uniqueKeysWithValues: try indices.map { ($0, (d.layers[$0], try d.matrix(d.layers[$0]))) })
                }
                let mapsA = try maps(a, Set(cells.map(\.row)).sorted()), mapsB = try maps(b, Set(cells.map(\.column)).sorted())
                let r = try LayerSimilarityMatrix.computeFourier(cells: cells, a: mapsA, b: mapsB, reduction: options.reduction, measures: w.measures,
                                                                 inputEpsilon: w.epsilon, threads: context.threads) { progress.advance() }
                let dropped = Dictionary(r.dropped.map { ($0.0, $0.2) }, uniquingKeysWith: { x, _ in x })
                for (n, position) in positions.enumerated() {
                    let cell = cells[n], k = items[position]
                    guard let x = mapsA[cell.row]?.1, let y = mapsB[cell.column]?.1 else { continue }
                    let (h, wd) = FourierSimilarity.commonSize(x, y)
                    values[position] = CellValue(
                        comparison: r.comparisons[n],
                        droppedA: w.introduces[k].a ? dropped[.init(side: 0, layer: cell.row, height: h, width: wd)] ?? [] : nil,
                        droppedB: w.introduces[k].b ? dropped[.init(side: 1, layer: cell.column, height: h, width: wd)] ?? [] : nil)
                }
            } else {
                // Decided from the whole plan (all A layers), so every shard computes a cell alike.
                let blasThreads = LayerSimilarityMatrix.blasThreads(rows: a.layers.count, threads: context.threads)
                let r = try LayerSimilarityMatrix.compute(cells: cells, layersA: a.layers, layersB: b.layers, reduction: options.reduction,
                                                          measures: w.measures, inputEpsilon: w.epsilon, precision: options.products,
                                                          threads: context.threads, blasThreads: blasThreads,
                                                          progress: { progress.advance() }) { side, i in
                    side == .a ? try a.matrix(a.layers[i]) : try b.matrix(b.layers[i])
                }
                var comparisons = r.comparisons
                if options.needsActivations {
                    comparisons = try activationMeasures(cells: cells, comparisons: comparisons, threads: context.threads,
                                                         progress: { progress.advance() },
                                                         layerA: { try a.matrix(a.layers[$0]) }, layerB: { try b.matrix(b.layers[$0]) },
                                                         names: (a.layers, b.layers))
                }
                for (n, position) in positions.enumerated() {
                    let cell = cells[n], k = items[position]
                    values[position] = CellValue(comparison: comparisons[n],
                                                 droppedA: w.introduces[k].a ? r.droppedA[cell.row] ?? [] : nil,
                                                 droppedB: w.introduces[k].b ? r.droppedB[cell.column] ?? [] : nil)
                }
            }
        }
        context.progress.finish()
        let complete = values.compactMap { $0 }
        guard complete.count == items.count else {
            throw AnalysisError.unusable(path: w.dumpA.path, detail: "computed \(complete.count) of \(items.count) cells")
        }
        return complete
    }

    /// Heatmap `heatmap` from its cells' values: comparisons row by row, and the dropped
    /// neurons in the order an unsharded computation records them (A's layers then B's; per
    /// spectrum, as they are first needed, with `--conv dft`), the last preparation of a name winning.
    func matrix(_ heatmap: Int, _ plan: ShardPlan<Work>, values: [CellValue]) -> LayerSimilarityMatrix {
        let w = plan.work
        let b = w.dumpsB[heatmap]
        let ks = w.items.indices.filter { w.items[$0].heatmap == heatmap }
        let width = b.layers.count
        let comparisons = w.dumpA.layers.indices.map { i in ks[(i * width)..<((i + 1) * width)].map { values[$0].comparison } }
        let entriesA = ks.compactMap { k in values[k].droppedA.map { (w.dumpA.layers[w.items[k].cell.row], $0) } }
        let entriesB = ks.compactMap { k in values[k].droppedB.map { (b.layers[w.items[k].cell.column], $0) } }
        let ordered = options.conv == .dft
            ? ks.flatMap { k in [values[k].droppedA.map { (w.dumpA.layers[w.items[k].cell.row], $0) },
                                 values[k].droppedB.map { (b.layers[w.items[k].cell.column], $0) }].compactMap { $0 } }
            : entriesA + entriesB
        var dropped: [String: [Int]] = [:]
        for (name, indices) in ordered where !indices.isEmpty { dropped[name] = indices }
        return LayerSimilarityMatrix(layersA: w.dumpA.layers, layersB: b.layers, comparisons: comparisons, droppedNeurons: dropped)
    }

    public func finish(_ plan: ShardPlan<Work>, values cellValues: [CellValue], context: AnalysisContext) throws -> Result {
        let w = plan.work
        let (dumpA, pathB2) = (w.dumpA, w.pathB2)
        let (pathA, pathB) = (dumpA.path, w.dumpsB[0].path)
        let metrics = options.metrics
        let metric = metrics[0]
        let fourier = options.conv == .dft
        let main = matrix(0, plan, values: cellValues)
        let second = w.dumpsB.count > 1 ? matrix(1, plan, values: cellValues) : nil

        var files: [String] = []
        var warnings: [String] = main.droppedNeurons.sorted { $0.key < $1.key }.map { "layer '\($0.key)': dropped \($0.value.count) constant \(fourier ? "channel" : "neuron")(s)" }
        let values = main.values(metric)
        let via = fourier ? ", conv by DFT" : ""
        files.append(try context.write(Self.pairsCSV(main), to: "pairs.csv"))
        let labelA = Self.label(options.epochs, index: 0, spec: options.a)
        let labelB = Self.label(options.epochs, index: 1, spec: options.b)
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": Self.name, "basin:run": context.run?.path ?? ""]
        // The first measure is matrix.csv and heatmap.*, the others matrix-NAME.csv and heatmap-NAME.*.
        for (index, shown) in metrics.enumerated() {
            let suffix = index == 0 ? "" : "-\(shown.rawValue)"
            files.append(try context.write(Self.matrixCSV(main, metric: shown), to: "matrix\(suffix).csv"))
            let heat = Heatmap(title: "\(shown.title)\(via): \(labelA) vs \(labelB)", xLabel: labelB, yLabel: labelA,
                               values: main.values(shown), rowLabels: main.layersA, columnLabels: main.layersB,
                               range: shown.displayRange.map { .fixed(min: $0.lowerBound, max: $0.upperBound) } ?? .automatic,
                               annotate: main.layersA.count * main.layersB.count <= 400, colorBarLabel: shown.rawValue)
            warnings += try heat.render(to: .files(base: context.outputDirectory + "/heatmap\(suffix)", metadata: metadata)).warnings
            files += ["heatmap\(suffix).png", "heatmap\(suffix).svg"]
        }

        var diagonal: [Double]?
        if main.layersA == main.layersB {
            let d = (0..<values.count).map { values[$0][$0] }
            diagonal = d
            files.append(try context.write("layer,\(metric.rawValue)\n" + zip(main.layersA, d).map { "\(csvField($0)),\($1)" }.joined(separator: "\n") + "\n", to: "diagonal.csv"))
            var plot = LinePlot(title: "\(metric.title) per layer: \(labelA) vs \(labelB)", xLabel: "layer", yLabel: metric.rawValue,
                                series: [Series(name: "\(labelA) vs \(labelB)", x: d.indices.map(Double.init), y: d, marker: .circle)])
            plot.yRange = metric.displayRange ?? (min(d.min() ?? 0, 0)...max(d.max() ?? 1, 1))
            plot.xCategories = main.layersA
            try plot.render(to: .files(base: context.outputDirectory + "/diagonal", metadata: metadata))
            files += ["diagonal.png", "diagonal.svg"]
        }
        if let second, let spec = options.diffB {
            let v2 = second.values(metric)
            let diff = zip(values, v2).map { zip($0, $1).map { abs($0 - $1) } }
            files.append(try context.write(Self.matrixCSV(second, metric: metric), to: "matrix-diff-b.csv"))
            let h2 = Heatmap(title: "\(metric.title)\(via): \(labelA) vs \(Self.shortName(spec))", xLabel: Self.shortName(spec), yLabel: labelA,
                             values: v2, rowLabels: second.layersA, columnLabels: second.layersB,
                             range: metric.displayRange.map { .fixed(min: $0.lowerBound, max: $0.upperBound) } ?? .automatic, annotate: v2.count * (v2.first?.count ?? 0) <= 400, colorBarLabel: metric.rawValue)
            try h2.render(to: .files(base: context.outputDirectory + "/heatmap-diff-b", metadata: metadata))
            var hd = Heatmap(title: "|\(labelB) − \(Self.shortName(spec))| against \(labelA)", xLabel: "layer", yLabel: labelA + " layer",
                             values: diff, rowLabels: main.layersA, columnLabels: main.layersB, colormap: .magma,
                             range: .automatic, annotate: diff.count * (diff.first?.count ?? 0) <= 400, colorBarLabel: "absolute difference")
            hd.annotationDigits = 2
            try hd.render(to: .files(base: context.outputDirectory + "/difference", metadata: metadata))
            files += ["heatmap-diff-b.png", "heatmap-diff-b.svg", "difference.png", "difference.svg"]
        }
        var settings = Settings(a: pathA, b: pathB, diffB: pathB2, metric: metric.rawValue, metrics: metrics.map(\.rawValue),
                                reduction: options.reduction,
                                conv: options.conv.rawValue, probe: dumpA.probe,
                                rbfBandwidth: metrics.contains(.ckaRBF) ? options.bandwidth : nil,
                                ckaBatch: metrics.contains(.ckaDebiased) ? options.ckaBatch : nil,
                                pwccaStyle: metrics.contains(.pwcca) ? options.pwccaStyle.rawValue : nil)
        let blasThreads = LayerSimilarityMatrix.blasThreads(rows: main.layersA.count, threads: context.threads)
        settings.precision = options.conv == .dft ? "float64"
            : RepresentationSimilarity.productRoute(options.products, measures: plan.work.measures, blasThreads: blasThreads).rawValue
        return Result(settings: settings, similarity: main, diffSimilarity: second, diagonal: diagonal, warnings: warnings, files: files)
    }

    /// The two dumps, opened (`ActivationDump(opening:)`: their layers are read when needed).
    /// With `--epochs`, a dump the run did not save is computed from the checkpoint on the
    /// run's recorded probe set (the one training would have used).
    func loadDumps(_ context: AnalysisContext, layersA: [String]?, layersB: [String]?,
                   conv: ActivationDump.ConvReduction) throws -> (ActivationDump, ActivationDump) {
        guard let epochs = options.epochs else {
            return (try ActivationDump(opening: try CheckpointLocator.resolveActivations(options.a ?? ""), layers: layersA, conv: conv),
                    try ActivationDump(opening: try CheckpointLocator.resolveActivations(options.b ?? ""), layers: layersB, conv: conv))
        }
        guard let run = context.run else { throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: "--epochs names activation dumps of a run") }
        var probe: (ProbeSet, Dataset)?
        var dumps: [ActivationDump] = []
        for (index, point) in try RunDirectory.parsePoints(epochs).enumerated() {
            let layers = index == 0 ? layersA : layersB
            let saved = run.activationsPath(for: point)
            let checkpoint = run.checkpointPath(for: point)
            // --data asks for activations on that data: a dump saved on the run's probe set is not them.
            if FileManager.default.fileExists(atPath: saved) && (options.data == nil || !FileManager.default.fileExists(atPath: checkpoint)) {
                dumps.append(try ActivationDump(opening: saved, layers: layers, conv: conv))
                continue
            }
            if let source = options.data, FileManager.default.fileExists(atPath: checkpoint) {
                if probe == nil { probe = try Self.probe(source, first: options.probeFirst ?? 1000, scale: options.scale, seed: context.seed) }
                guard let (p, data) = probe else { continue }
                let model = try ModelCheckpoint.load(checkpoint).model
                let fitted = try EvaluationData.fit(data, model: model, modelPath: checkpoint, label: source.text)
                dumps.append(try ActivationDump(label: checkpoint + " (activations computed on \(source.text))", probe: p,
                                                layers: try ActivationRecorder.activations(model: model, data: fitted), only: layers, conv: conv))
                continue
            }
            guard FileManager.default.fileExists(atPath: checkpoint), FileManager.default.fileExists(atPath: run.runJSONPath) else {
                if FileManager.default.fileExists(atPath: checkpoint) {
                    throw AnalysisError.unusable(path: run.path, detail: "the run saved no activations at \(point) and has no run.json naming its probe data; give --data (e.g. npy:val-X.npy,val-y.npy) to compute them at the checkpoints")
                }
                _ = try run.activations(point)   // throws, listing the dumps that exist
                continue
            }
            if probe == nil {
                let spec = try RunSpec.load(run)
                probe = RunTrainer.probeSet(spec: spec, data: try RunData.load(spec.data))
            }
            guard let (p, data) = probe else { continue }
            let model = try ModelCheckpoint.load(checkpoint).model
            dumps.append(try ActivationDump(label: checkpoint + " (activations computed on the run's probe set)", probe: p,
                                            layers: try ActivationRecorder.activations(model: model, data: data), only: layers, conv: conv))
        }
        guard dumps.count == 2 else { throw AnalysisError.unusable(path: run.path, detail: "--epochs \(epochs) does not name two activation dumps") }
        return (dumps[0], dumps[1])
    }

    /// The probe set `--data` names: the validation (else test, else training) split's first N samples.
    static func probe(_ source: DataSource, first: Int, scale: Double, seed: UInt64) throws -> (ProbeSet, Dataset) {
        let argument = try source.resolve(seed: seed, scale: scale)
        let data = try argument.load()
        let (split, set) = data.validation.map { ("val", $0) } ?? data.test.map { ("test", $0) } ?? ("train", data.train)
        let count = min(first, set.count)
        return (ProbeSet(dataset: argument.spec.identity, split: split, count: count, indices: Array(0..<count)),
                set.subset(Array(0..<count)))
    }

    static func label(_ epochs: String?, index: Int, spec: String?) -> String {
        if let e = epochs?.split(separator: ","), index < e.count { return "epoch " + e[index] }
        return spec.map(shortName) ?? "?"
    }

    static func matrixCSV(_ m: LayerSimilarityMatrix, metric: LayerSimilarityMatrix.Metric) -> String {
        let values = m.values(metric)
        var lines = [(["layer"] + m.layersB).map(csvField).joined(separator: ",")]
        for (i, name) in m.layersA.enumerated() { lines.append(([csvField(name)] + values[i].map { String($0) }).joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }

    static func pairsCSV(_ m: LayerSimilarityMatrix) -> String {
        var lines = ["layer_a,layer_b,kept_a,kept_b,svcca,pwcca,cka,google_threshold_mean,cka_debiased,cka_rbf,procrustes"]
        for (i, a) in m.layersA.enumerated() {
            for (j, b) in m.layersB.enumerated() {
                let c = m.comparisons[i][j]
                // Measures not asked for are empty cells.
                let pwcca = c.pwcca.map { String($0) } ?? "", cka = c.cka.map { String($0) } ?? ""
                let extra = [c.ckaDebiased, c.ckaRBF, c.procrustes].map { $0.map { String($0) } ?? "" }.joined(separator: ",")
                lines.append("\(csvField(a)),\(csvField(b)),\(c.keptA),\(c.keptB),\(c.mean),\(pwcca),\(cka),\(c.googleThresholdMean),\(extra)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `--metric`: one or more of svcca, pwcca, cka, cka-debiased, cka-rbf, procrustes (comma-separated, in order, no repeats),
/// or `all`: the measures computed from the layers' factors (svcca, pwcca, cka); the others are named.
public struct MetricSelection: Equatable, Sendable, CustomStringConvertible {
    public var metrics: [LayerSimilarityMatrix.Metric]
    public init(_ metrics: [LayerSimilarityMatrix.Metric]) { self.metrics = metrics }
    public init(parsing text: String) throws(MetricSelectionError) {
        if text == "all" { metrics = LayerSimilarityMatrix.Metric.allCases.filter { !$0.fromActivations }; return }
        var out: [LayerSimilarityMatrix.Metric] = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let m = LayerSimilarityMatrix.Metric(rawValue: name) else { throw MetricSelectionError(text: text, item: name) }
            if !out.contains(m) { out.append(m) }
        }
        metrics = out
    }

    @Sendable public static func parse(_ text: String) throws -> MetricSelection { try MetricSelection(parsing: text) }

    public var description: String { metrics.map(\.rawValue).joined(separator: ",") }
}

/// A `--metric` value naming an unknown measure (a usage error).
public struct MetricSelectionError: Error, Equatable, CustomStringConvertible {
    public var text: String, item: String
    public var description: String {
        "'\(item)' is not a measure; --metric takes \(LayerSimilarityMatrix.Metric.allCases.map(\.rawValue).joined(separator: ", ")), a comma-separated list of them, or all"
    }
}

extension RepresentationSimilarity.ProductPrecision: ExpressibleByArgument {}
