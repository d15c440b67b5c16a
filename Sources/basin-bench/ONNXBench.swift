import CheckpointFormat
import Foundation
import ONNX
import Tensors
import Trainer

/// `basin-bench onnx` (issue 13): what running a network from an ONNX file costs against the
/// same network built by Basin's trainer, and the ResNet-18-style fixture on its own.
///
/// - `fixtures/onnx/basin-resnet20.onnx` is Basin's CIFAR ResNet-20 written in PyTorch and
///   exported (fixtures/onnx/make_bench_graphs.py), with Basin's state-dict names. Its
///   initializers are loaded by name into `Model(spec: .resnet(depth: 20))`, BN running
///   statistics as buffers (and into a float64 `Network<Double>`); logits, loss gradient and
///   one Hessian-vector product of both must then be within `tolerance` of the float64 ones
///   (BN on running statistics) before anything is timed, so the timings are of the same
///   computation.
/// - `fixtures/onnx/resnet18.onnx` (torchvision's layout at base width 8) has no native twin.
///
/// Timed at batch 128 of 3×32×32 N(0, 1) inputs, BN on running statistics (eval mode) on both
/// sides: one forward+backward (loss and gradient) and one exact HVP (which includes its own
/// forward and gradient). Every timing is the median of `repeats` runs, the runs of the six
/// measurements interleaved so that a busy spell of the machine hits them all alike.
/// Inputs, labels, directions and Basin's values go to `$BASIN_BENCH_DIR/basin-bench-onnx` for
/// bench/torch_onnx_reference.py, which checks PyTorch agrees and times the same networks.
enum ONNXBench {
    static let batchSize = 128
    /// Largest ‖a − b‖ / ‖b‖ of a float32 result from the float64 reference (measured: ≤ 1.4e-4).
    static let tolerance = 1e-3

    /// One ONNX network's values, flattened in `names` order, and its timings.
    struct Record: Encodable {
        var file: String
        var parameters: [String]
        var shapes: [[Int]]
        var loss: Double
        var seconds: [String: Double]
    }

    static func run(directory: String, repeats: Int) throws {
        let output = directory + "/basin-bench-onnx"
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/onnx").path
        /// Basin's values for bench/torch_onnx_reference.py, flat in each graph's parameter order.
        func save(_ prefix: String, _ values: [(String, [Float])]) throws {
            for (what, scalars) in values {
                try NPYFile.write(NDArray(Tensor<Float>(vector: scalars)), to: output + "/\(prefix)-\(what).npy")
            }
        }
        var rng = RandomGenerator(seed: 13)
        let x = Tensor<Float>.randomNormal(shape: [batchSize, 3, 32, 32], using: &rng)
        let labels = (0..<batchSize).map { _ in rng.nextInt(below: 10) }
        let batch = Batch(inputs: x, labels: labels)
        try NPYFile.write(NDArray(x), to: output + "/inputs.npy")
        try NPYFile.write(NDArray(Tensor<Double>(vector: labels.map(Double.init))), to: output + "/labels.npy")

        // ResNet-20: the ONNX graph and the native model holding the same weights.
        let graph20 = try ONNXModel(path: fixtures + "/basin-resnet20.onnx")
        let native = try Model(spec: .resnet(depth: 20), rng: rng.split("unused init"))
        var named: [String: Tensor<Float>] = [:]
        for i in graph20.initializers where i.array.dtype.isFloatingPoint { named[i.name] = i.array.floatTensor() }
        try native.load(named: named)
        let names20 = native.namedParameters.map(\.name)
        guard Set(names20) == Set(graph20.trainableParameterNames) else {
            throw BenchError("basin-resnet20.onnx: trainable parameters \(graph20.trainableParameterNames.sorted()) are not the native model's \(names20.sorted())")
        }
        let v20 = Tensor<Float>.randomNormal(shape: [native.parameterCount], using: &rng)
        let direction20 = try split(v20, native)

        let nativeLogits = try native.logits(x, mode: .eval)
        guard let onnxLogits = try graph20.evaluate(["input": x])["logits"] else { throw BenchError("basin-resnet20.onnx: no logits") }
        let nativeGradient = try native.gradient(batch, loss: .crossEntropy, mode: .eval)
        let onnxGradient = try graph20.lossAndGradient(inputs: x, labels: labels)
        let nativeHVP = try native.hessianVectorProduct(batch, direction: v20, loss: .crossEntropy, mode: .eval)
        let onnxHVP = try graph20.hessianVectorProduct(inputs: x, labels: labels, direction: direction20)
        // The reference: the native model in float64. Float32 rounding alone moves this HVP by
        // ≈ 1.2e-4 relative (PyTorch's float32 HVP as much as Basin's), so the float32 results
        // are each held to the float64 one rather than to each other.
        let native64 = try Network<Double>(spec: .resnet(depth: 20), rng: rng.split("unused init"))
        try native64.load(named: named.mapValues { Tensor<Double>(converting: $0) })
        let batch64 = Batch(inputs: Tensor<Double>(converting: x), labels: labels)
        let exact = try native64.hessianVectorProduct(batch64, direction: Tensor<Double>(converting: v20), loss: .crossEntropy, mode: .eval)
        let exactLogits = try native64.logits(batch64.inputs, mode: .eval).scalars
        let exactGradient = exact.gradient.scalars, exactHVP = exact.hessianVectorProduct.scalars
        let differences = [
            ("logits", relativeDifference(onnxLogits.scalars, exactLogits), relativeDifference(nativeLogits.scalars, exactLogits)),
            ("gradient", relativeDifference(try flat(onnxGradient.gradient, names20), exactGradient),
             relativeDifference(nativeGradient.gradient.scalars, exactGradient)),
            ("HVP", relativeDifference(try flat(onnxHVP, names20), exactHVP), relativeDifference(nativeHVP.hessianVectorProduct.scalars, exactHVP)),
        ]
        row("ResNet-20 vs float64, rel. diff ONNX/native", differences.map { String(format: "%@ %.1e/%.1e", $0.0, $0.1, $0.2) }.joined(separator: ", "))
        row("  ONNX vs native", String(format: "logits %.1e, gradient %.1e, HVP %.1e, loss %.7f/%.7f",
                                         relativeDifference(onnxLogits.scalars, nativeLogits.scalars),
                                         relativeDifference(try flat(onnxGradient.gradient, names20), nativeGradient.gradient.scalars),
                                         relativeDifference(try flat(onnxHVP, names20), nativeHVP.hessianVectorProduct.scalars),
                                         onnxGradient.loss, nativeGradient.evaluation.loss))
        try save("resnet20", [("logits", onnxLogits.scalars), ("direction", v20.scalars),
                              ("gradient", try flat(onnxGradient.gradient, names20)), ("hvp", try flat(onnxHVP, names20)),
                              ("native-gradient", nativeGradient.gradient.scalars), ("native-hvp", nativeHVP.hessianVectorProduct.scalars)])
        for (what, onnx, native) in differences where !(max(onnx, native) <= tolerance) {
            throw BenchError("ResNet-20: the \(what) of the ONNX graph / native model differs from float64 by \(onnx) / \(native) (relative), above \(tolerance): the timings would not compare the same computation")
        }

        // ResNet-18 fixture: ONNX only.
        let graph18 = try ONNXModel(path: fixtures + "/resnet18.onnx")
        let names18 = graph18.trainableParameterNames
        var direction18: [String: Tensor<Float>] = [:]
        let gradient18 = try graph18.lossAndGradient(inputs: x, labels: labels)
        for name in names18 {
            guard let g = gradient18.gradient[name] else { throw BenchError("resnet18.onnx: no gradient for \(name)") }
            direction18[name] = Tensor<Float>.randomNormal(shape: g.shape, using: &rng)
        }
        let hvp18 = try graph18.hessianVectorProduct(inputs: x, labels: labels, direction: direction18)
        let logits18 = try graph18.evaluate(["input": x])

        // Interleaved timings.
        var times: [String: [Double]] = [:]
        func time(_ key: String, _ body: () throws -> Void) rethrows { times[key, default: []].append(try seconds(body)) }
        for _ in 0..<repeats {
            try time("native fb") { _ = try native.gradient(batch, loss: .crossEntropy, mode: .eval) }
            try time("onnx fb") { _ = try graph20.lossAndGradient(inputs: x, labels: labels) }
            try time("native hvp") { _ = try native.hessianVectorProduct(batch, direction: v20, loss: .crossEntropy, mode: .eval) }
            try time("onnx hvp") { _ = try graph20.hessianVectorProduct(inputs: x, labels: labels, direction: direction20) }
            try time("r18 fb") { _ = try graph18.lossAndGradient(inputs: x, labels: labels) }
            try time("r18 hvp") { _ = try graph18.hessianVectorProduct(inputs: x, labels: labels, direction: direction18) }
        }
        let t = times.mapValues(median)
        for (key, label) in [("native fb", "ResNet-20 forward+backward, native"), ("onnx fb", "ResNet-20 forward+backward, ONNX graph"),
                             ("native hvp", "ResNet-20 HVP, native"), ("onnx hvp", "ResNet-20 HVP, ONNX graph"),
                             ("r18 fb", "ResNet-18 fixture (width 8) forward+backward, ONNX"), ("r18 hvp", "ResNet-18 fixture (width 8) HVP, ONNX")] {
            Results.record(section: "onnx", key: key.replacingOccurrences(of: " ", with: "-"), workload: label + ", batch \(batchSize)",
                           seconds: times[key] ?? [], per: (Double(batchSize), "samples"))
        }
        func rate(_ key: String) -> Double { Double(batchSize) / (t[key] ?? .nan) }
        func show(_ name: String, _ key: String, versus native: String? = nil) {
            let ratio = native.map { String(format: "  (%.1f× native's time)", (t[key] ?? .nan) / (t[$0] ?? .nan)) } ?? ""
            row(name + ", batch \(batchSize)", String(format: "%7.0f samples/s  (%.3f s)", rate(key), t[key] ?? .nan) + ratio)
        }
        show("fwd+bwd ResNet-20, native", "native fb")
        show("fwd+bwd ResNet-20, ONNX graph", "onnx fb", versus: "native fb")
        show("HVP ResNet-20, native", "native hvp")
        show("HVP ResNet-20, ONNX graph", "onnx hvp", versus: "native hvp")
        show("fwd+bwd ResNet-18 fixture (width 8), ONNX", "r18 fb")
        show("HVP ResNet-18 fixture (width 8), ONNX", "r18 hvp")

        // For bench/torch_onnx_reference.py: Basin's values in each graph's parameter order.
        try save("resnet18", [("logits", logits18["logits"]?.scalars ?? []), ("direction", try flat(direction18, names18)),
                              ("gradient", try flat(gradient18.gradient, names18)), ("hvp", try flat(hvp18, names18))])
        let shapes20 = native.namedParameters.map(\.shape), shapes18 = names18.map { direction18[$0]?.shape ?? [] }
        let records = [
            "resnet20": Record(file: "basin-resnet20.onnx", parameters: names20, shapes: shapes20, loss: onnxGradient.loss,
                               seconds: ["native_fb": t["native fb"] ?? .nan, "onnx_fb": t["onnx fb"] ?? .nan,
                                         "native_hvp": t["native hvp"] ?? .nan, "onnx_hvp": t["onnx hvp"] ?? .nan]),
            "resnet18": Record(file: "resnet18.onnx", parameters: names18, shapes: shapes18, loss: gradient18.loss,
                               seconds: ["onnx_fb": t["r18 fb"] ?? .nan, "onnx_hvp": t["r18 hvp"] ?? .nan]),
        ]
        struct File: Encodable { var fixtures: String, batchSize: Int, repeats: Int, models: [String: Record] }
        try JSONEncoder().encode(File(fixtures: fixtures, batchSize: batchSize, repeats: repeats, models: records))
            .write(to: URL(fileURLWithPath: output + "/basin.json"))
    }

    /// `v` (the native model's flat parameter order) as one tensor per parameter name.
    static func split(_ v: Tensor<Float>, _ model: Model) throws -> [String: Tensor<Float>] {
        var result: [String: Tensor<Float>] = [:]
        let scalars = v.scalars
        for (name, shape) in model.namedParameters {
            guard let range = model.parameterRange(named: name) else { throw BenchError("no parameter range for \(name)") }
            result[name] = try Tensor(shape: shape, scalars: Array(scalars[range]))
        }
        return result
    }

    /// Named tensors concatenated in `names` order.
    static func flat(_ tensors: [String: Tensor<Float>], _ names: [String]) throws -> [Float] {
        var out: [Float] = []
        for name in names {
            guard let t = tensors[name] else { throw BenchError("no value for parameter \(name)") }
            out += t.scalars
        }
        return out
    }

    /// ‖a − b‖ / ‖b‖ in double (infinite when the lengths differ).
    static func relativeDifference<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B]) -> Double {
        guard a.count == b.count else { return .infinity }
        var d = 0.0, n = 0.0
        for (p, q) in zip(a, b) { d += (Double(p) - Double(q)) * (Double(p) - Double(q)); n += Double(q) * Double(q) }
        return (d / max(n, .leastNormalMagnitude)).squareRoot()
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
