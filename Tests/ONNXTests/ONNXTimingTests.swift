import CheckpointFormat
import Foundation
import ONNX
import Tensors
import Testing

/// Per-sample time of `evaluate`, `lossAndGradient` and the exact `hessianVectorProduct` on the
/// fixture graphs, at the fixture's batch and at batch 64 (the input tiled). Off by default: set
/// `BASIN_ONNX_TIMING=1` and run in release, one BLAS thread, so numbers compare across runs:
///     OPENBLAS_NUM_THREADS=1 BASIN_ONNX_TIMING=1 swift test -c release --filter ONNXTimingTests
/// `BASIN_ONNX_TIMING_MODELS=resnet18,vit` narrows the fixtures. Prints one `ONNXTIMING` line per
/// fixture, batch and entry point; each time is the best of up to three runs (fewer when one
/// run already takes more than two seconds), counted in the calling thread's CPU time so that
/// other processes on a shared machine do not inflate it (OpenBLAS with one thread computes on
/// the calling thread).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["BASIN_ONNX_TIMING"] == "1"))
struct ONNXTimingTests {
    static func threadSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    static func best(_ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity, total = 0.0
        for _ in 0..<3 {
            let start = threadSeconds()
            try body()
            let t = threadSeconds() - start
            best = min(best, t)
            total += t
            if total > 2 { break }
        }
        return best
    }

    /// The fixture's input with its samples repeated up to `batch` samples.
    static func tiled(_ input: Tensor<Float>, to batch: Int) throws -> Tensor<Float> {
        let per = input.count / input.shape[0]
        let scalars = (0..<batch).flatMap { input.scalars[(($0 % input.shape[0]) * per)..<(($0 % input.shape[0] + 1) * per)] }
        return try Tensor(shape: [batch] + Array(input.shape.dropFirst()), scalars: scalars)
    }

    @Test func perSampleTimes() throws {
        let chosen = ProcessInfo.processInfo.environment["BASIN_ONNX_TIMING_MODELS"].map { $0.split(separator: ",").map(String.init) }
        for name in chosen ?? ["mlp", "resnet18", "vgg11bn", "vit"] {
            let model = try ONNXModel(path: "\(onnxFixtures)/\(name).onnx")
            let given = try NPYFile.read(path: "\(onnxFixtures)/\(name)-input.npy").floatTensor()
            for batch in [given.shape[0], 64] {
                let input = try Self.tiled(given, to: batch)
                let labels = (0..<batch).map { (3 * $0 + 1) % 10 }
                let gradient = try model.lossAndGradient(inputs: input, labels: labels).gradient
                var seed: UInt64 = 7
                let direction = try gradient.mapValues { g in
                    try Tensor(shape: g.shape, scalars: g.scalars.map { _ in
                        seed = seed &* 6364136223846793005 &+ 1442695040888963407
                        return Float(Int64(bitPattern: seed >> 11) % 2001 - 1000) / 1000
                    })
                }
                let times = [
                    ("evaluate", try Self.best { _ = try model.evaluate([model.inputs[0].name: input]) }),
                    ("lossAndGradient", try Self.best { _ = try model.lossAndGradient(inputs: input, labels: labels) }),
                    ("hessianVectorProduct", try Self.best { _ = try model.hessianVectorProduct(inputs: input, labels: labels, direction: direction) }),
                ]
                for (entry, t) in times {
                    print("ONNXTIMING \(name) batch \(batch) \(entry): \(String(format: "%.3f", 1000 * t / Double(batch))) ms/sample")
                }
            }
        }
    }
}
