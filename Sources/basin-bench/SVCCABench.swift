import Analyzers
import CheckpointFormat
import Foundation
import Tensors

/// `basin-bench svcca` (issues 6 and 14): a layer × layer SVCCA heatmap of two models of 10
/// layers of 512 neurons on 10 000 datapoints (keep-variance 0.99), and one 2048-neuron pair.
///
/// Model A's layer j is `(0.6·Z₀ + 0.8·Z_j)·D` with `D = diag(1/(1 + k/32))` (a decaying
/// spectrum, and a shared Z₀ so that A's layers resemble each other); model B's layer j is
/// `A_j·M_j + 0.5·N_j` with `M_j = I + G_j/√p`. Z, G, N standard normal, seeded. The layers are
/// generated one at a time and written as .npy to `$BASIN_BENCH_DIR/basin-bench-svcca`, which
/// bench/numpy_reference.py reads for the peer (google/svcca's `get_cca_similarity` on NumPy).
///
/// Each Basin measurement runs in a child process (`basin-bench --svcca-child=…`) that loads
/// the layers from those files as `analyze svcca` would, so its peak resident memory is the
/// computation's own, comparable with the peer's; runs of the three product precisions (int8
/// slices, the default; float64; float32) are interleaved and the median reported. Values and timings go to `basin.json` there.
/// --quick: 4 layers of 128 neurons on 2 000 datapoints, and a 512-neuron pair.
enum SVCCABench {
    struct Sizes { var n: Int, width: Int, layers: Int, wide: Int }

    /// What one child run reports.
    struct ChildResult: Codable {
        /// Wall-clock and CPU (user + system) seconds of the computation, peak resident memory.
        var seconds: Double, cpuSeconds: Double, peakMB: Double
        var heatmap: [[Double]], keptA: [[Int]], keptB: [[Int]]
        /// The largest proven bound over the cells (int8 slices), nil when none was sliced.
        var maxBound: Double? = nil
        /// Cells whose correlations came from the Gram of the product, and the largest bound of those.
        var gramCells: Int? = nil, maxCorrelationBound: Double? = nil
    }

    struct Record: Encodable {
        var heatmap: [String: [[Double]]], keptA: [[Int]], keptB: [[Int]]
        var pair: [String: Double], pairKept: [Int]
        var seconds: [String: Double], secondsRange: [String: [Double]], cpuSeconds: [String: Double], peakMB: [String: Double]
        var maxFloat32Difference: [String: Double]
        var maxInt8Difference: [String: Double]
        var before: [String: Double]
    }

    static func run(directory: String, quick: Bool) throws {
        let s = quick ? Sizes(n: 2_000, width: 128, layers: 4, wide: 512) : Sizes(n: 10_000, width: 512, layers: 10, wide: 2048)
        let dir = directory + "/basin-bench-svcca"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try generate(s, into: dir)
        let repeats = quick ? 3 : 3
        var runs: [String: [ChildResult]] = [:]
        for r in 0..<repeats {
            if r == 0 { runs["heatmap-before", default: []].append(try child(job: "heatmap-before", precision: .float64, sizes: s, dir: dir)) }
            for precision in RepresentationSimilarity.ProductPrecision.allCases {
                for job in ["heatmap", "pair"] {
                    runs["\(job)-\(precision.rawValue)", default: []].append(try child(job: job, precision: precision, sizes: s, dir: dir))
                }
            }
        }
        func median(_ key: String) -> ChildResult {
            let sorted = (runs[key] ?? []).sorted { $0.seconds < $1.seconds }
            return sorted[sorted.count / 2]
        }
        func range(_ key: String) -> [Double] { let t = (runs[key] ?? []).map(\.seconds); return [t.min() ?? 0, t.max() ?? 0] }
        let keys = ["heatmap-float64", "heatmap-float32", "heatmap-int8", "pair-float64", "pair-float32", "pair-int8"]
        let m = Dictionary(uniqueKeysWithValues: keys.map { ($0, median($0)) })
        func maxDiff(_ x: [[Double]], _ y: [[Double]]) -> Double { zip(x, y).map { zip($0, $1).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0 }
        let h64 = median("heatmap-float64"), h32 = median("heatmap-float32"), p64 = median("pair-float64"), p32 = median("pair-float32")
        let h8 = median("heatmap-int8"), p8 = median("pair-int8")
        let label = "\(s.layers)×\(s.layers) of \(s.width)×\(s.n / 1000)k"
        let heatmapDefault = RepresentationSimilarity.productRoute(.auto, measures: [], blasThreads: 1)
        func heatmapName(_ p: RepresentationSimilarity.ProductPrecision) -> String { p == heatmapDefault ? " (default here)" : "" }
        for (key, name) in [("heatmap-int8", "SVCCA heatmap \(label), int8 slices\(heatmapName(.int8))"),
                            ("heatmap-float64", "  the same, float64 products\(heatmapName(.float64))"),
                            ("heatmap-float32", "  the same, float32 products"),
                            ("pair-int8", "SVCCA pair \(s.wide)×\(s.n / 1000)k, int8 asked (float64: one pair)"), ("pair-float64", "  the same, float64 products (default)"),
                            ("pair-float32", "  the same, float32 products")] {
            let r = range(key), c = median(key)
            row(name, String(format: "%7.2f s  (%.2f–%.2f, CPU %.1f s, peak %.0f MB)", c.seconds, r[0], r[1], c.cpuSeconds, c.peakMB))
        }
        // The table's rows: what `analyze svcca` runs by default (int8-sliced products where the
        // CPU runs them on AMX and layers are prepared in parallel, each canonical correlation
        // within a proven 1e-7 of float64's; float64 for the single pair and without AMX).
        let threads = BLAS.threadCount
        for (job, rows, workload) in [("heatmap", s.layers, "SVCCA heatmap \(label), 99% variance"), ("pair", 1, "SVCCA one pair \(s.wide) × \(s.n)")] {
            let route = RepresentationSimilarity.productRoute(.auto, measures: [],
                                                               blasThreads: LayerSimilarityMatrix.blasThreads(rows: rows, threads: threads))
            Results.record(section: "svcca", key: job, workload: "\(workload) (\(route.rawValue) products, the default)",
                           seconds: (runs["\(job)-\(route.rawValue)"] ?? []).map(\.seconds))
        }
        let b = median("heatmap-before")
        row("  before issue 14 (per-cell dgemm, all layers held)", String(format: "%7.2f s  (one run, peak %.0f MB, max |Δ| vs float64 %.1e)",
                                                                     b.seconds, b.peakMB, maxDiff(b.heatmap, h64.heatmap)))
        row("  max |float32 − float64| heatmap / pair", String(format: "%.1e / %.1e", maxDiff(h32.heatmap, h64.heatmap), maxDiff(p32.heatmap, p64.heatmap)))
        row("  max |int8 − float64| heatmap / pair", String(format: "%.1e / %.1e", maxDiff(h8.heatmap, h64.heatmap), maxDiff(p8.heatmap, p64.heatmap)))
        row("  int8's proven bound (largest over the cells)", h8.maxBound.map { String(format: "%.1e", $0) } ?? "— (no layer sliced)")
        row("  pair: product from the activations (X_aᵀX_b), proven bound", p64.maxBound.map { String(format: "%.1e", $0) } ?? "— (bases' product)")
        for (name, r) in [("heatmap", h8), ("pair", p64)] {
            row("  \(name): correlations from the product's Gram", String(format: "%d of %d cells, largest proven bound %.1e", r.gramCells ?? 0,
                                                                       r.heatmap.joined().count, r.maxCorrelationBound ?? 0))
        }
        for (i, j) in [(0, 0), (0, s.layers - 1), (s.layers / 2, s.layers / 2 - 1), (s.layers - 1, s.layers - 1)] {
            row("  mean CCA cell (a\(i), b\(j))", String(format: "%.12f  (kept %d/%d)", h64.heatmap[i][j], h64.keptA[i][j], h64.keptB[i][j]))
        }
        row("  mean CCA pair", String(format: "%.12f  (kept %d/%d)", p64.heatmap[0][0], p64.keptA[0][0], p64.keptB[0][0]))
        let record = Record(heatmap: ["float64": h64.heatmap, "float32": h32.heatmap, "int8": h8.heatmap], keptA: h64.keptA, keptB: h64.keptB,
                            pair: ["float64": p64.heatmap[0][0], "float32": p32.heatmap[0][0], "int8": p8.heatmap[0][0]],
                            pairKept: [p64.keptA[0][0], p64.keptB[0][0]],
                            seconds: m.mapValues(\.seconds), secondsRange: Dictionary(uniqueKeysWithValues: keys.map { ($0, range($0)) }),
                            cpuSeconds: m.mapValues(\.cpuSeconds), peakMB: m.mapValues(\.peakMB),
                            maxFloat32Difference: ["heatmap": maxDiff(h32.heatmap, h64.heatmap), "pair": maxDiff(p32.heatmap, p64.heatmap)],
                            maxInt8Difference: ["heatmap": maxDiff(h8.heatmap, h64.heatmap), "pair": maxDiff(p8.heatmap, p64.heatmap)],
                            before: ["seconds": b.seconds, "peakMB": b.peakMB])
        try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: dir + "/basin.json"))
    }

    /// Writes every layer as .npy, one at a time (only Z₀ and the layer at hand in memory).
    static func generate(_ s: Sizes, into dir: String) throws {
        var rng = RandomGenerator(seed: 6)
        func decaying(_ x: Tensor<Double>, _ halfAt: Double) -> Tensor<Double> {
            var x = x
            let rows = x.shape[0], p = x.shape[1]
            x.withUnsafeMutableBufferPointer { b in for i in 0..<rows { for k in 0..<p { b[i * p + k] /= 1 + Double(k) / halfAt } } }
            return x
        }
        func related(_ a: Tensor<Double>, _ rng: inout RandomGenerator) throws -> Tensor<Double> {
            let p = a.shape[1]
            var m = Tensor<Double>.randomNormal(shape: [p, p], standardDeviation: 1 / Double(p).squareRoot(), using: &rng)
            for i in 0..<p { m[i, i] += 1 }
            return try Tensor.matmul(a, m) + Tensor<Double>.randomNormal(shape: [a.shape[0], p], standardDeviation: 0.5, using: &rng)
        }
        func write(_ x: Tensor<Double>, _ name: String) throws { try NPYFile.write(NDArray(x), to: dir + "/\(name).npy") }
        let z0 = Tensor<Double>.randomNormal(shape: [s.n, s.width], using: &rng)
        for j in 0..<s.layers {
            let zj = Tensor<Double>.randomNormal(shape: [s.n, s.width], using: &rng)
            let a = decaying(try 0.6 * z0 + 0.8 * zj, 32)
            try write(a, "a\(j)")
            try write(try related(a, &rng), "b\(j)")
        }
        let pairA = decaying(Tensor<Double>.randomNormal(shape: [s.n, s.wide], using: &rng), 128)
        try write(pairA, "pair_a")
        try write(try related(pairA, &rng), "pair_b")
    }

    /// Runs one measurement in a fresh process and reads its result.
    static func child(job: String, precision: RepresentationSimilarity.ProductPrecision, sizes s: Sizes, dir: String) throws -> ChildResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        let out = dir + "/child-\(job)-\(precision.rawValue).json"
        process.arguments = ["--svcca-child=\(job),\(precision.rawValue),\(s.layers),\(dir),\(out)"]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CheckpointError.invalidInput(path: out, detail: "basin-bench SVCCA child (\(job), \(precision.rawValue)) exited with \(process.terminationStatus)")
        }
        return try JSONDecoder().decode(ChildResult.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
    }

    /// The child: `--svcca-child=JOB,PRECISION,LAYERS,DIR,OUT`. Loads the layers from DIR as it
    /// needs them (`LayerSimilarityMatrix.compute(layersA:layersB:…load:)`), times the whole
    /// computation including the loading, and writes a `ChildResult` to OUT.
    static func childMain(_ spec: String) throws {
        let parts = spec.split(separator: ",", maxSplits: 4).map(String.init)
        guard parts.count == 5, let precision = RepresentationSimilarity.ProductPrecision(rawValue: parts[1]), let layers = Int(parts[2]) else {
            throw CheckpointError.invalidInput(path: spec, detail: "expected JOB,PRECISION,LAYERS,DIR,OUT")
        }
        let dir = parts[3]
        // JOB: pair (the wide pair), row (a0 against every B layer: 1 × LAYERS), or a heatmap.
        let namesB = parts[0].hasPrefix("pair") ? ["pair_b"] : (0..<layers).map { "b\($0)" }
        let namesA = parts[0].hasPrefix("pair") ? ["pair_a"] : parts[0].hasPrefix("row") ? ["a0"] : (0..<layers).map { "a\($0)" }
        var comparisons: [[RepresentationSimilarity.Comparison]]?
        let cpuBefore = cpuSeconds()
        let time = try seconds {
            if parts[0].hasSuffix("before") {
                comparisons = try before(namesA, namesB, dir: dir)
                return
            }
            comparisons = try LayerSimilarityMatrix.compute(layersA: namesA, layersB: namesB, reduction: .variance(0.99), measures: [],
                                                       precision: precision, threads: BLAS.threadCount) { side, i in
                try NPYFile.read(path: dir + "/\((side == .a ? namesA : namesB)[i]).npy").doubleTensor()
            }.comparisons
        }
        guard let m = comparisons else { return }
        let cpu = cpuSeconds() - cpuBefore
        let result = ChildResult(seconds: time, cpuSeconds: cpu, peakMB: peakResidentMB(), heatmap: m.map { $0.map(\.mean) },
                                 keptA: m.map { $0.map(\.keptA) }, keptB: m.map { $0.map(\.keptB) },
                                 maxBound: m.joined().compactMap(\.productBound).max(),
                                 gramCells: m.joined().filter { $0.correlationBound != nil }.count,
                                 maxCorrelationBound: m.joined().compactMap(\.correlationBound).max())
        try JSONEncoder().encode(result).write(to: URL(fileURLWithPath: parts[4]))
    }

    /// This process's peak resident memory (`VmHWM`). Not `getrusage`'s `ru_maxrss`, which
    /// keeps the high-water mark of the process that forked this one (the bench, after
    /// generating every layer) across `exec`.
    static func peakResidentMB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kB = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "")
        else { return .nan }
        return kB / 1024
    }

    /// User + system CPU seconds of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(usage.ru_utime) + s(usage.ru_stime)
    }

    /// The heatmap as Basin computed it before issue 14 (for the record of what changed): every
    /// layer loaded and prepared first, then one `dgemm` and one SVD per cell.
    static func before(_ namesA: [String], _ namesB: [String], dir: String) throws -> [[RepresentationSimilarity.Comparison]] {
        let names = namesA + namesB
        let layers = try names.map { try NPYFile.read(path: dir + "/\($0).npy").doubleTensor() }
        let reduction = RepresentationSimilarity.Reduction.variance(0.99)
        let prepared = try parallelMap(names.count, threads: BLAS.threadCount) { i in
            try RepresentationSimilarity.prepare(layers[i], name: names[i], basisFor: reduction)
        }
        let pa = Array(prepared[0..<namesA.count]), pb = Array(prepared[namesA.count...])
        let flat = try parallelMap(pa.count * pb.count, threads: BLAS.threadCount) { k in
            try RepresentationSimilarity.compare(pa[k / pb.count], pb[k % pb.count], reduction: reduction, measures: [])
        }
        return (0..<pa.count).map { i in Array(flat[(i * pb.count)..<((i + 1) * pb.count)]) }
    }
}
