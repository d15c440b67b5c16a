import CheckpointFormat
import Foundation
import Tensors
import Trainer

// `make bench`: throughput of Basin's hot paths, in release mode. Compare with
// bench/numpy_reference.py (run by the Makefile right after) on the same sizes.
// Results are recorded in docs/PERFORMANCE.md.

BLAS.setThreadCount(2)
let arguments = CommandLine.arguments.dropFirst()
let quick = arguments.contains("--quick")
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

// Matrix products (sgemm), the kernel of dense and im2col-convolution layers.
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

// Training throughput (samples/s) at batch 128: SGD steps and full Hessian-vector products.
for (name, spec, steps) in TrainerBenchmark.standardModels where !(quick && name.contains("ResNet")) {
    let r = try TrainerBenchmark.run(spec, batchSize: 128, steps: quick ? max(1, steps / 4) : steps)
    row("train \(name), batch 128", String(format: "%7.0f samples/s", r.trainSamplesPerSecond))
    row("Hessian-vector product \(name), batch 128", String(format: "%7.0f samples/s", r.hessianVectorSamplesPerSecond))
}
