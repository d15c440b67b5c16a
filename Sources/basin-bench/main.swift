import Analyzers
import CheckpointFormat
import Foundation
import Tensors
import Trainer

// `make bench`: throughput of Basin's hot paths, in release mode. Compare with
// bench/numpy_reference.py (run by the Makefile right after) on the same sizes.
// Results are recorded in docs/PERFORMANCE.md.

BLAS.setThreadCount(Int(ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "") ?? 2)
let arguments = CommandLine.arguments.dropFirst()
let quick = arguments.contains("--quick")
if let spec = arguments.first(where: { $0.hasPrefix("--svcca-child=") }) {
    try SVCCABench.childMain(String(spec.dropFirst("--svcca-child=".count)))
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

// Checkpoint write and read: \(tensorCount) float32 tensors, \(parameters) parameters in all.
var rng = RandomGenerator(seed: 1)
if enabled("checkpoint") {
let perTensor = parameters / tensorCount
let tensors = (0..<tensorCount).map { i in
    TensorSource(name: "features.\(i).weight", tensor: Tensor<Float>.randomNormal(shape: [perTensor / 1000, 1000], using: &rng))
}
let megabytes = Double(parameters * 4) / 1e6
let manifest = CheckpointManifest(kind: .checkpoint, createdBy: "basin-bench")
for compression in [Compression.none, .zstd, .gzip] where !(quick && compression == .gzip) {
    let path = directory + "/basin-bench-\(compression.rawValue).ckpt"
    let write = try best(compression == .gzip ? 1 : 3) {
        try CheckpointWriter.write(tensors, manifest: manifest, to: path, compression: compression)
    }
    let read = try best(compression == .gzip ? 1 : 3) {
        let arrays = try CheckpointReader(path: path).arrays()
        precondition(arrays.count == tensorCount)
    }
    let size = Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1e6
    row("checkpoint write, \(parameters / 1_000_000)M params, \(compression.rawValue)", String(format: "%7.0f MB/s  (%.2f s, file %.0f MB)", megabytes / write, write, size))
    row("checkpoint read+verify, \(parameters / 1_000_000)M params, \(compression.rawValue)", String(format: "%7.0f MB/s  (%.2f s)", megabytes / read, read))
    try? FileManager.default.removeItem(atPath: path)
}
}

// Matrix products (sgemm), the kernel of dense and im2col-convolution layers.
if enabled("numerics") {
for n in [256, 1024] {
    let a = Tensor<Float>.randomNormal(shape: [n, n], using: &rng)
    let b = Tensor<Float>.randomNormal(shape: [n, n], using: &rng)
    let t = try best(5) { _ = try Tensor.matmul(a, b) }
    row("sgemm \(n)×\(n)", String(format: "%7.1f GFLOP/s (%.4f s)", 2 * pow(Double(n), 3) / t / 1e9, t))
}

// SVD of an activation-sized matrix (float64), the first step of SVCCA.
let acts = Tensor<Double>.randomNormal(shape: [2000, 256], using: &rng)
let svd = try best(3) { _ = try LinearAlgebra.svd(acts) }
row("dgesdd 2000×256 (SVCCA reduction)", String(format: "%7.3f s", svd))
}

// Training throughput (samples/s) at batch 128: SGD steps and full Hessian-vector products.
for (name, spec, steps) in TrainerBenchmark.standardModels where enabled("train") && !(quick && name.contains("ResNet")) {
    let r = try TrainerBenchmark.run(spec, batchSize: 128, steps: quick ? max(1, steps / 4) : steps)
    row("train \(name), batch 128", String(format: "%7.0f samples/s", r.trainSamplesPerSecond))
    row("Hessian-vector product \(name), batch 128", String(format: "%7.0f samples/s", r.hessianVectorSamplesPerSecond))
}

// Landscape analyzers' loss evaluator (issue 5): MLP 784-512-256-10 on 10 000 samples,
// `barrier` with 61 points on the segment and `plane` with a 21×21 grid, both cores
// (points in parallel, BLAS single-threaded inside each worker). --quick: 9 points, 5×5.
if enabled("landscape") {
    var lrng = RandomGenerator(seed: 7)
    let spec = ModelSpec.mlp(inputShape: [784], widths: [512, 256], classes: 10)
    let modelA = try Model(spec: spec, rng: lrng.split("a")), modelB = try Model(spec: spec, rng: lrng.split("b"))
    let samples = 10_000
    let inputs = Tensor<Float>.randomUniform(shape: [samples, 784], using: &lrng)
    let labels = (0..<samples).map { _ in lrng.nextInt(below: 10) }
    let data = try Dataset(name: "bench", inputs: inputs, labels: labels, classes: 10)
    let evaluator = LossEvaluator(model: modelA, splits: [("train", data)], statisticsData: data, policy: .recompute,
                                  batchSize: 500, threads: 2)
    let a = modelA.parameters, b = modelB.parameters
    let points = quick ? 9 : 61
    let barrier = try best(1) {
        _ = try BarrierFinder.profiles(evaluator: evaluator, shape: .segment, controls: [a, b], buffers: [modelA.buffers, modelB.buffers],
                                       points: points, relativeTolerance: 1e-3, progress: nil)
    }
    row("barrier, MLP 784-512-256-10, 10k samples, \(points) pts", String(format: "%7.2f s  (%.1f ms/point)", barrier, barrier / Double(points) * 1000))
    let theta = ParameterVectors.combine([a, b, try Model(spec: spec, rng: lrng.split("c")).parameters], weights: [0.25, 0.25, 0.5])
    let basis = try PlaneBasis(a: a, b: b, theta: theta)
    let grid = quick ? 5 : 21
    let plane = try best(1) {
        _ = try evaluator.evaluate(count: grid * grid) { k in LandscapePoint(parameters: basis.point(x: Double(k % grid) / 10, y: Double(k / grid) / 10)) }
    }
    row("plane \(grid)×\(grid), MLP 784-512-256-10, 10k samples", String(format: "%7.2f s  (%.1f ms/point)", plane, plane / Double(grid * grid) * 1000))
}

// SVCCA (issues 6, 14): a 10×10 layer heatmap and one wide pair, each run in a child process
// for its peak memory; see SVCCABench.swift.
if enabled("svcca") { try SVCCABench.run(directory: directory, quick: quick) }

// Hessian (issue 7): top-10 Lanczos on MLP 784-512-256-10 over 10 000 random samples (mean
// cross-entropy, batches of 500, both cores), as `analyze hessian` runs it. The weights,
// inputs and labels go to $BASIN_BENCH_DIR/basin-bench-hessian as .npy (PyTorch names and
// [out, in] layout) for bench/torch_hessian_reference.py. --quick: 1 000 samples, top 3.
let hessianDirectory = directory + "/basin-bench-hessian"
if enabled("hessian") {
    try FileManager.default.createDirectory(atPath: hessianDirectory, withIntermediateDirectories: true)
    var hrng = RandomGenerator(seed: 8)
    let spec = ModelSpec.mlp(inputShape: [784], widths: [512, 256], classes: 10)
    let model = try Model(spec: spec, rng: hrng.split("model"))
    let samples = quick ? 1_000 : 10_000, top = quick ? 3 : 10
    let inputs = Tensor<Float>.randomUniform(shape: [samples, 784], using: &hrng)
    let labels = (0..<samples).map { _ in hrng.nextInt(below: 10) }
    let data = try Dataset(name: "bench", inputs: inputs, labels: labels, classes: 10)
    let op = HessianOperator.make(model: model, data: data, mode: .eval, batchSize: 500, weightDecay: 0, threads: 2)
    var solution: EigenSolution?
    let t = try seconds {
        solution = try Lanczos.largest(top, of: op, maxIterations: 100, tolerance: 1e-4, rng: hrng.split("lanczos"))
    }
    let s = solution!
    row("Hessian top-\(top) Lanczos, MLP 784-512-256-10, \(samples / 1000)k",
        String(format: "%7.2f s  (%d HVPs, %.3f s/HVP, %d params)", t, s.applications, t / Double(s.applications), model.parameterCount))
    row("  top eigenvalues", s.estimates.prefix(5).map { String(format: "%.6g", $0.eigenvalue) }.joined(separator: ", ")
        + (s.estimates.count > 5 ? ", …" : ""))
    for (name, tensor) in model.stateDict() { try NPYFile.write(NDArray(tensor), to: hessianDirectory + "/\(name).npy") }
    try NPYFile.write(NDArray(inputs), to: hessianDirectory + "/inputs.npy")
    try NPYFile.write(NDArray(Tensor<Double>(vector: labels.map(Double.init))), to: hessianDirectory + "/labels.npy")
    struct Record: Encodable {
        var parameters: [String], eigenvalues: [Double], converged: [Bool], seconds: Double, hvps: Int, top: Int, batchSize: Int
    }
    try JSONEncoder().encode(Record(parameters: model.namedParameters.map(\.name), eigenvalues: s.estimates.map(\.eigenvalue),
                                    converged: s.estimates.map(\.converged), seconds: t, hvps: s.applications, top: top, batchSize: 500))
        .write(to: URL(fileURLWithPath: hessianDirectory + "/basin.json"))
}

// ONNX graphs (issue 13): Basin's ResNet-20 as an ONNX file against the same network built
// natively, and the ResNet-18-style fixture; see ONNXBench.swift (no --quick variant).
if enabled("onnx") {
    do { try ONNXBench.run(directory: directory, repeats: 3) } catch {
        FileHandle.standardError.write(Data("basin-bench onnx: \(error)\n".utf8))
        exit(1)
    }
}
