import Analyzers
import CheckpointFormat
import Foundation
import Tensors
import Trainer

// `make bench`: throughput of Basin's hot paths, in release mode. Compare with
// bench/numpy_reference.py and the PyTorch references (run by the Makefile right after) on the
// same inputs. Every section also appends its timings to $BASIN_BENCH_DIR/results/<section>.jsonl
// (Results.swift; format at the top of bench/summary.py), where the reference scripts append
// their peers' and bench/summary.py prints the one table. Results are recorded in docs/PERFORMANCE.md.

// OpenBLAS's AVX-512 kernels where it misdetects the CPU (re-executes once; Tensors/BLASCore.swift).
BLASCore.preferAVX512Kernels()
BLAS.setThreadCount(Int(ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "") ?? 2)
let arguments = CommandLine.arguments.dropFirst()
let quick = arguments.contains("--quick")

/// Runs a section that reads or writes files; what it throws (a missing input, a full disk)
/// ends the benchmark with one line on stderr and exit code 1 instead of a trap.
func section(_ name: String, _ body: () throws -> Void) {
    do { try body() } catch {
        FileHandle.standardError.write(Data("basin-bench: \(name): \(error)\n".utf8))
        exit(1)
    }
}

if let spec = arguments.first(where: { $0.hasPrefix("--svcca-child=") }) {
    section("svcca child") { try SVCCABench.childMain(String(spec.dropFirst("--svcca-child=".count))) }
    exit(0)
}
// Sections to run (`basin-bench svcca hessian`); all when none is named.
let sections = Set(arguments.filter { !$0.hasPrefix("--") })
func enabled(_ section: String) -> Bool { sections.isEmpty || sections.contains(section) }
let parameters = quick ? 5_000_000 : 50_000_000
let tensorCount = 50
let directory = ProcessInfo.processInfo.environment["BASIN_BENCH_DIR"] ?? NSTemporaryDirectory()

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Best of `repeats` runs: the least disturbed by the rest of the machine.
func best(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
    var t = Double.infinity
    for _ in 0..<repeats { t = min(t, try seconds(body)) }
    return t
}

func row(_ name: String, _ value: String) {
    print(name.padding(toLength: 52, withPad: " ", startingAt: 0) + value)
}

print("Basin benchmarks (release, OPENBLAS threads \(BLAS.threadCount))")
print(String(repeating: "-", count: 72))

// Checkpoint write and read, and the data loaders: IOBench.swift.
var rng = RandomGenerator(seed: 1)
if enabled("checkpoint") { section("checkpoint") { try IOBench.checkpoint(directory: directory, parameters: parameters, count: tensorCount, quick: quick) } }
if sections.contains("checkpoint-round") { section("checkpoint-round") { try IOBench.checkpointRound(directory: directory, parameters: parameters, count: tensorCount) } }
if enabled("loaders") { section("loaders") { try IOBench.loaders(directory: directory, quick: quick) } }

// Matrix products (sgemm), the kernel of dense and im2col-convolution layers.
if enabled("numerics") {
for n in [256, 1024] {
    let a = Tensor<Float>.randomNormal(shape: [n, n], using: &rng)
    let b = Tensor<Float>.randomNormal(shape: [n, n], using: &rng)
    let ts = try timings(5) { _ = try Tensor.matmul(a, b) }
    let t = ts.min() ?? .nan
    Results.record(section: "numerics", key: "sgemm-\(n)", workload: "sgemm \(n)×\(n) (float32 matmul)", seconds: ts,
                   per: (2 * pow(Double(n), 3) / 1e9, "GFLOP"))
    row("sgemm \(n)×\(n)", String(format: "%7.1f GFLOP/s (%.4f s)", 2 * pow(Double(n), 3) / t / 1e9, t))
}

// SVD of an activation-sized matrix (float64), the first step of SVCCA.
let acts = Tensor<Double>.randomNormal(shape: [2000, 256], using: &rng)
let svds = try timings(3) { _ = try LinearAlgebra.svd(acts) }
let svd = svds.min() ?? .nan
Results.record(section: "numerics", key: "svd-2000x256", workload: "SVD 2000×256 float64 (SVCCA's reduction)", seconds: svds)
row("dgesdd 2000×256 (SVCCA reduction)", String(format: "%7.3f s", svd))
}

// Training throughput (samples/s) at batch 128: SGD steps and full Hessian-vector products.
// Three repetitions each; the table takes the median. The MLP's key is what the NumPy and
// PyTorch references time (bench/numpy_reference.py, bench/torch_hessian_reference.py).
for (name, spec, steps) in TrainerBenchmark.standardModels where enabled("train") && !(quick && name.contains("ResNet")) {
    let count = quick ? max(1, steps / 4) : steps
    var train: [Double] = [], hvp: [Double] = []
    for _ in 0..<(quick ? 1 : 3) {
        let r = try TrainerBenchmark.run(spec, batchSize: 128, steps: count)
        train.append(Double(128 * count) / r.trainSamplesPerSecond)
        hvp.append(Double(128 * max(1, count / 2)) / r.hessianVectorSamplesPerSecond)
    }
    row("train \(name), batch 128", String(format: "%7.0f samples/s", Double(128 * count) / median(train)))
    row("Hessian-vector product \(name), batch 128", String(format: "%7.0f samples/s", Double(128 * max(1, count / 2)) / median(hvp)))
    let key = name.replacingOccurrences(of: " ", with: "-")
    Results.record(section: "train", key: "train-\(key)-\(count)x128", workload: "training step (SGD, momentum), \(name), \(count) steps of batch 128",
                   seconds: train, per: (Double(128 * count), "samples"))
    Results.record(section: "train", key: "hvp-\(key)", workload: "Hessian-vector product, \(name), \(max(1, count / 2)) × batch 128",
                   seconds: hvp, per: (Double(128 * max(1, count / 2)), "samples"))
}

// Landscape analyzers' loss evaluator (issues 5, 14): MLP 784-512-256-10 on 10 000 samples,
// 61 points on the segment between two models (as `analyze barrier`) and a 25×25 grid of the
// plane through three, θ(x, y) = (1 − x − y)·a + x·b + y·c for x, y in −0.2…1.2 (as `analyze
// plane`), both cores (points in parallel, BLAS single-threaded inside each worker), batches of
// 500. The three parameter vectors (flat, state-dict order), inputs, labels and Basin's losses
// go to $BASIN_BENCH_DIR/basin-bench-landscape for bench/torch_hessian_reference.py, which
// checks its losses agree and times the same points. --quick: 9 points, 5×5.
let landscapeDirectory = directory + "/basin-bench-landscape"
if enabled("landscape") {
    try FileManager.default.createDirectory(atPath: landscapeDirectory, withIntermediateDirectories: true)
    var lrng = RandomGenerator(seed: 7)
    let spec = ModelSpec.mlp(inputShape: [784], widths: [512, 256], classes: 10)
    let modelA = try Model(spec: spec, rng: lrng.split("a")), modelB = try Model(spec: spec, rng: lrng.split("b"))
    let modelC = try Model(spec: spec, rng: lrng.split("c"))
    let samples = 10_000
    let inputs = Tensor<Float>.randomUniform(shape: [samples, 784], using: &lrng)
    let labels = (0..<samples).map { _ in lrng.nextInt(below: 10) }
    let data = try Dataset(name: "bench", inputs: inputs, labels: labels, classes: 10)
    let evaluator = LossEvaluator(model: modelA, splits: [("train", data)], statisticsData: data, policy: .recompute,
                                  batchSize: 500, threads: 2)
    let a = modelA.parameters, b = modelB.parameters, c = modelC.parameters
    let points = quick ? 9 : 61, grid = quick ? 5 : 25
    let coordinates = (0..<grid).map { -0.2 + 1.4 * Double($0) / Double(grid - 1) }
    var segmentValues: [LossProfile] = [], planeValues: [[SplitValue]] = []
    var segmentTimes: [Double] = [], planeTimes: [Double] = []
    // Interleaved: segment, plane, segment, segment (the plane is 10× the work).
    for round in 0..<(quick ? 1 : 3) {
        segmentTimes.append(try seconds {
            segmentValues = try BarrierFinder.profiles(evaluator: evaluator, shape: .segment, controls: [a, b],
                                                       buffers: [modelA.buffers, modelB.buffers], points: points,
                                                       relativeTolerance: 1e-3, progress: nil)
        })
        if round == 0 {
            planeTimes.append(try seconds {
                planeValues = try evaluator.evaluate(count: grid * grid) { k in
                    let x = coordinates[k % grid], y = coordinates[k / grid]
                    return LandscapePoint(combining: [a, b, c], weights: [1 - x - y, x, y])
                }
            })
        }
    }
    // The loss surface around a (Li et al. 2018, as `analyze surface`): a + α·d₁ + β·d₂ with
    // filter-normalised Gaussian directions (biases zeroed), 11×11 points on [−1, 1]².
    let side = quick ? 5 : 11
    let slots = SurfaceDirections.slots(names: modelA.namedParameters, count: a.count) ?? []
    let d1 = SurfaceDirections.filterNormalized(SurfaceDirections.gaussian(count: a.count, seed: 7, name: "surface-x"), theta: a, slots: slots, ignore: .biasbn)
    let d2 = SurfaceDirections.filterNormalized(SurfaceDirections.gaussian(count: a.count, seed: 7, name: "surface-y"), theta: a, slots: slots, ignore: .biasbn)
    let surfaceCoordinates = (0..<side).map { -1 + 2 * Double($0) / Double(side - 1) }
    var surfaceValues: [[SplitValue]] = []
    var surfaceTimes: [Double] = []
    for _ in 0..<(quick ? 1 : 2) {
        surfaceTimes.append(try seconds {
            surfaceValues = try evaluator.evaluate(count: side * side) { k in
                let x = surfaceCoordinates[k % side], y = surfaceCoordinates[k / side]
                return LandscapePoint(combining: [a, d1, d2], weights: [1, x, y])
            }
        })
    }
    row("surface \(side)×\(side) (filter-normalised), same MLP and data", String(format: "%7.2f s  (%.1f points/s)", median(surfaceTimes),
                                                                                   Double(side * side) / median(surfaceTimes)))
    Results.record(section: "landscape", key: "surface-\(side)x\(side)", workload: "loss surface a + α·d₁ + β·d₂, \(side) × \(side), filter-normalised, same MLP and data",
                   seconds: surfaceTimes, per: (Double(side * side), "points"))
    try NPYFile.write(NDArray(d1), to: landscapeDirectory + "/d1.npy")
    try NPYFile.write(NDArray(d2), to: landscapeDirectory + "/d2.npy")
    let segment = median(segmentTimes), plane = median(planeTimes)
    row("barrier, MLP 784-512-256-10, 10k samples, \(points) pts", String(format: "%7.2f s  (%.1f ms/point)", segment, segment / Double(points) * 1000))
    row("plane \(grid)×\(grid), MLP 784-512-256-10, 10k samples", String(format: "%7.2f s  (%.1f ms/point)", plane, plane / Double(grid * grid) * 1000))
    Results.record(section: "landscape", key: "segment-\(points)", workload: "loss on the segment, \(points) points, MLP 784-512-256-10, 10 000 samples",
                   seconds: segmentTimes, per: (Double(points), "points"))
    Results.record(section: "landscape", key: "plane-\(grid)x\(grid)", workload: "loss on a \(grid) × \(grid) plane, same MLP and data",
                   seconds: planeTimes, per: (Double(grid * grid), "points"))
    for (name, v) in [("a", a), ("b", b), ("c", c)] { try NPYFile.write(NDArray(v), to: landscapeDirectory + "/\(name).npy") }
    try NPYFile.write(NDArray(inputs), to: landscapeDirectory + "/inputs.npy")
    try NPYFile.write(NDArray(Tensor<Double>(vector: labels.map(Double.init))), to: landscapeDirectory + "/labels.npy")
    struct Record: Encodable {
        var parameters: [String], shapes: [[Int]], t: [Double], segmentLoss: [Double], segmentAccuracy: [Double]
        var coordinates: [Double], planeLoss: [Double], planeAccuracy: [Double], batchSize: Int
        var surfaceCoordinates: [Double], surfaceLoss: [Double]
    }
    let record = Record(parameters: modelA.namedParameters.map(\.name), shapes: modelA.namedParameters.map(\.shape),
                        t: segmentValues.first?.t ?? [], segmentLoss: segmentValues.first?.loss ?? [],
                        segmentAccuracy: segmentValues.first?.accuracy ?? [], coordinates: coordinates,
                        planeLoss: planeValues.map { $0.first?.loss ?? .nan }, planeAccuracy: planeValues.map { $0.first?.accuracy ?? .nan },
                        batchSize: 500, surfaceCoordinates: surfaceCoordinates, surfaceLoss: surfaceValues.map { $0.first?.loss ?? .nan })
    try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: landscapeDirectory + "/basin.json"))
}

// SVCCA (issues 6, 14): a 10×10 layer heatmap and one wide pair, each run in a child process
// for its peak memory; see SVCCABench.swift.
if enabled("svcca") { section("svcca") { try SVCCABench.run(directory: directory, quick: quick) } }

// Hessian (issues 7, 14): top-5 Lanczos on MLP 784-512-256-10 over 10 000 random samples (mean
// cross-entropy, batches of 500, both cores), as `analyze hessian` runs it. The weights,
// inputs and labels go to $BASIN_BENCH_DIR/basin-bench-hessian as .npy (PyTorch names and
// [out, in] layout) for bench/torch_hessian_reference.py, which checks its eigenvalues against
// Basin's and times the same iteration. Before Lanczos, one full-data product is timed with and
// without the gradient (`hessianVectorProduct` / `hessianVectorProductOnly`, what the operator
// uses). --quick: 1 000 samples, top 3.
let hessianDirectory = directory + "/basin-bench-hessian"
if enabled("hessian") {
    try FileManager.default.createDirectory(atPath: hessianDirectory, withIntermediateDirectories: true)
    var hrng = RandomGenerator(seed: 8)
    let spec = ModelSpec.mlp(inputShape: [784], widths: [512, 256], classes: 10)
    let model = try Model(spec: spec, rng: hrng.split("model"))
    let samples = quick ? 1_000 : 10_000, top = quick ? 3 : 5
    let inputs = Tensor<Float>.randomUniform(shape: [samples, 784], using: &hrng)
    let labels = (0..<samples).map { _ in hrng.nextInt(below: 10) }
    let data = try Dataset(name: "bench", inputs: inputs, labels: labels, classes: 10)
    let op = HessianOperator.make(model: model, data: data, mode: .eval, batchSize: 500, weightDecay: 0, threads: 2)
    // One product per batch of 500 over all samples, both cores, as the operator spreads them.
    let probe = Tensor<Float>.randomNormal(shape: [model.parameterCount], using: &hrng)
    // parallelMap's worker w takes i = w, w + 2, …: each worker uses its own copy.
    let pool = Unchecked((0..<2).map { _ in model.copy() })
    let ranges = stride(from: 0, to: samples, by: 500).map { Array($0..<min($0 + 500, samples)) }
    var withGradient: [Double] = [], productOnly: [Double] = []
    for _ in 0..<(quick ? 1 : 3) {
        withGradient.append(try seconds {
            _ = try parallelMap(ranges.count, threads: 2) { i in
                try pool.value[i % 2].hessianVectorProduct(data.batch(ranges[i]), direction: probe, loss: .crossEntropy, mode: .eval).hessianVectorProduct.count
            }
        })
        productOnly.append(try seconds {
            _ = try parallelMap(ranges.count, threads: 2) { i in
                try pool.value[i % 2].hessianVectorProductOnly(data.batch(ranges[i]), direction: probe, loss: .crossEntropy, mode: .eval).product.count
            }
        })
    }
    // For the reference's check: the probe and Basin's full-data H·probe (batch-weighted, float64 sum).
    var hprobe = [Double](repeating: 0, count: model.parameterCount)
    for r in ranges {
        let part = try model.hessianVectorProductOnly(data.batch(r), direction: probe, loss: .crossEntropy, mode: .eval).product.scalars
        for i in hprobe.indices { hprobe[i] += Double(r.count) / Double(samples) * Double(part[i]) }
    }
    try NPYFile.write(NDArray(probe), to: hessianDirectory + "/probe.npy")
    try NPYFile.write(NDArray(Tensor<Double>(vector: hprobe)), to: hessianDirectory + "/probe-hvp.npy")
    row("one full-data HVP, \(samples / 1000)k samples, with/without ∇", String(format: "%7.3f s / %.3f s", median(withGradient), median(productOnly)))
    var solution: EigenSolution?
    let t = try seconds {
        solution = try Lanczos.largest(top, of: op, maxIterations: 100, tolerance: 1e-4, rng: hrng.split("lanczos"))
    }
    let s = solution!
    Results.record(section: "hessian", key: "top\(top)-lanczos", workload: "Hessian top-\(top) (Lanczos), MLP 784-512-256-10, \(samples) samples",
                   seconds: [t], note: "\(s.applications) HVPs")
    Results.record(section: "hessian", key: "hvp-full-data", workload: "one Hessian-vector product, MLP 784-512-256-10, \(samples) samples",
                   seconds: productOnly, per: (Double(samples), "samples"))
    row("Hessian top-\(top) Lanczos, MLP 784-512-256-10, \(samples / 1000)k",
        String(format: "%7.2f s  (%d HVPs, %.3f s/HVP, %d params)", t, s.applications, t / Double(s.applications), model.parameterCount))
    row("  top eigenvalues", s.estimates.prefix(5).map { String(format: "%.6g", $0.eigenvalue) }.joined(separator: ", ")
        + (s.estimates.count > 5 ? ", …" : ""))
    // The eigenvalue density (issue 17): stochastic Lanczos quadrature with PyHessian's settings
    // (m = 80 steps, 5 Rademacher starts), and each layer's Hessian-block trace (Hutchinson, 20 samples).
    var densityRecord: DensityRecord?
    if !quick {
        var density: SpectralDensity.Estimate?
        let densityTime = try seconds {
            density = try SpectralDensity.estimate(op, starts: 5, steps: 80, rng: hrng.split("density"))
        }
        let blocks = HessianAnalyzer.layerBlocks(model)
        var estimates: [HutchinsonTrace.Estimate] = []
        let layerTime = try seconds {
            estimates = try blocks.map { try HutchinsonTrace.estimate(op.block($0.range), samples: 20, rng: hrng.split("layer-" + $0.name)) }
        }
        let traces = estimates.map(\.trace)
        densityRecord = DensityRecord(seconds: densityTime, layerSeconds: layerTime, topNode: density?.nodes.compactMap { $0.max() }.max() ?? .nan,
                                      layers: blocks.map(\.name), layerStarts: blocks.map(\.range.lowerBound), layerSizes: blocks.map(\.range.count), layerTraces: traces,
                                      layerStandardErrors: estimates.map(\.standardError))
        Results.record(section: "hessian", key: "slq-density-80x5", workload: "Hessian eigenvalue density (SLQ, m = 80, 5 starts), same MLP and data",
                       seconds: [densityTime], note: "\(density?.applications ?? 0) HVPs")
        Results.record(section: "hessian", key: "layer-traces-20", workload: "per-layer Hessian-block traces (Hutchinson, 20 samples × \(blocks.count) layers)",
                       seconds: [layerTime], note: "\(20 * blocks.count) HVPs")
        row("SLQ density m = 80 × 5 starts", String(format: "%7.2f s  (%d HVPs)", densityTime, density?.applications ?? 0))
        row("per-layer traces, \(blocks.count) layers × 20", String(format: "%7.2f s  (%@)", layerTime,
                                                                     traces.map { String(format: "%.3g", $0) }.joined(separator: ", ")))
    }
    for (name, tensor) in model.stateDict() { try NPYFile.write(NDArray(tensor), to: hessianDirectory + "/\(name).npy") }
    try NPYFile.write(NDArray(inputs), to: hessianDirectory + "/inputs.npy")
    try NPYFile.write(NDArray(Tensor<Double>(vector: labels.map(Double.init))), to: hessianDirectory + "/labels.npy")
    struct Record: Encodable {
        var parameters: [String], eigenvalues: [Double], converged: [Bool], seconds: Double, hvps: Int, top: Int, batchSize: Int
        var density: DensityRecord?
    }
    try JSONEncoder().encode(Record(parameters: model.namedParameters.map(\.name), eigenvalues: s.estimates.map(\.eigenvalue),
                                    converged: s.estimates.map(\.converged), seconds: t, hvps: s.applications, top: top, batchSize: 500,
                                    density: densityRecord))
        .write(to: URL(fileURLWithPath: hessianDirectory + "/basin.json"))
}

/// What the PyTorch reference needs to check its SLQ density and per-layer traces against Basin's.
struct DensityRecord: Encodable {
    var seconds: Double, layerSeconds: Double
    /// The largest quadrature node over the starts (→ λ₁ as m grows).
    var topNode: Double
    var layers: [String], layerStarts: [Int], layerSizes: [Int], layerTraces: [Double], layerStandardErrors: [Double]
}

// Permutation alignment (issue 16): weight matching of an MLP and a VGG-16; see AlignBench.swift.
if enabled("align") { try AlignBench.run(directory: directory, quick: quick) }

// Convolutions (issue 14): paper 000's shallow CNN, training and HVP; see ConvBench.swift.
if enabled("conv") { try ConvBench.run(directory: directory, repeats: quick ? 1 : 5, steps: quick ? 2 : 6) }
if sections.contains("conv-round") { try ConvBench.printRound(steps: quick ? 2 : 6) }
// `basin-bench train-round`: one round of the MLP's training steps as one JSON line, for
// bench/torch_hessian_reference.py, which alternates it with PyTorch's rounds.
if sections.contains("train-round"), let mlp = TrainerBenchmark.standardModels.first {
    let steps = quick ? max(1, mlp.steps / 4) : mlp.steps
    let r = try TrainerBenchmark.run(mlp.spec, batchSize: 128, steps: steps)
    print(String(format: "{\"seconds\": %.5f}", Double(128 * steps) / r.trainSamplesPerSecond))
}

// ONNX graphs (issue 13): Basin's ResNet-20 as an ONNX file against the same network built
// natively, and the ResNet-18-style fixture; see ONNXBench.swift (no --quick variant).
if enabled("onnx") {
    do { try ONNXBench.run(directory: directory, repeats: 3) } catch {
        FileHandle.standardError.write(Data("basin-bench onnx: \(error)\n".utf8))
        exit(1)
    }
}
