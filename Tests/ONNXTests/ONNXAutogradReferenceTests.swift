import CheckpointFormat
import Foundation
import ONNX
import Tensors
import Testing

/// Loss, gradient and exact Hessian-vector product of the fixture graphs against PyTorch's
/// `torch.autograd` (double backward) in float64, from fixtures/onnx/NAME-autograd.npz, written
/// once by fixtures/onnx/make_autograd_references.py from the weights of NAME.onnx itself. No
/// Python runs here; a missing fixture fails the test (no skip).
///
/// Tolerances: Basin computes in float32 (loss summed in double). The loss carries ≈1e-7
/// relative rounding (observed ≤ 1.4e-7), so 1e-5 fails any wrong term. Gradients and H·v are compared as
/// ‖Basin − PyTorch‖ / ‖PyTorch‖, over the whole vector and per parameter tensor, at 1e-4:
/// float32 rounding gives ≤ 2e-6 (whole and per tensor) everywhere but ResNet-18 with batch
/// statistics, whose loss is far more curved (‖H·v‖ ≈ 3·10⁴): 1.3e-5 whole, 2.6e-5 on its worst
/// tensor for H·v; a wrong or missing term moves a tensor's block by far more. The blocks that are zero in exact arithmetic (the
/// biases of convolutions before batch-statistics BN: the normalisation subtracts them out)
/// hold only rounding on both sides, so they are held instead to ‖Basin_p‖ ≤ 1e-6 ‖r‖ — far
/// below any real term, far above float32 cancellation noise (observed ≈1e-7).
@Suite struct ONNXAutogradReferenceTests {
    /// The references of one model, with every tensor in the graph's names and layout.
    struct Reference {
        var input: Tensor<Float>
        var labels: [Int]
        var direction: [String: Tensor<Float>] = [:]
        var loss: [String: Double] = [:]
        /// Keyed by mode ("eval", "batch"), then by the graph's parameter name.
        var gradient: [String: [String: [Double]]] = [:]
        var hvp: [String: [String: [Double]]] = [:]
    }

    static let modes: [String: BatchNormStatistics] = ["eval": .running, "batch": .batch]

    static func load(_ name: String) throws -> (ONNXModel, Reference) {
        let model = try ONNXModel(path: "\(onnxFixtures)/\(name).onnx")
        let arrays = Dictionary(uniqueKeysWithValues: try NPZ.read(path: "\(onnxFixtures)/\(name)-autograd.npz").map { ($0.name, $0.array) })
        let input = try #require(arrays["input"]), labels = try #require(arrays["labels"])
        var reference = Reference(input: input.floatTensor(), labels: labels.doubles().map { Int($0) })
        // PyTorch name -> (graph name, stored transposed in the graph).
        func graphName(_ p: String) throws -> (String, Bool) {
            guard let bytes = arrays["onnxname.\(p)"] else { return (p, false) }
            return (try #require(String(bytes: bytes.doubles().map { UInt8($0) }, encoding: .utf8)), true)
        }
        for (key, array) in arrays {
            let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
            if parts.count == 2, parts[1] == "loss" { reference.loss[parts[0]] = array.doubles()[0] }
            if key.hasPrefix("direction.") {
                let (g, transposed) = try graphName(String(key.dropFirst("direction.".count)))
                let values = transposed ? Self.transpose(array.doubles(), array.shape) : array.doubles()
                reference.direction[g] = try Tensor(shape: transposed ? array.shape.reversed() : array.shape, scalars: values.map { Float($0) })
            }
            guard parts.count == 3, ["gradient", "hvp"].contains(parts[1]) else { continue }
            let (g, transposed) = try graphName(parts[2])
            let values = transposed ? Self.transpose(array.doubles(), array.shape) : array.doubles()
            if parts[1] == "gradient" { reference.gradient[parts[0], default: [:]][g] = values } else { reference.hvp[parts[0], default: [:]][g] = values }
        }
        return (model, reference)
    }

    /// A row-major `[r, c]` matrix as `[c, r]`.
    static func transpose(_ a: [Double], _ shape: [Int]) -> [Double] {
        guard shape.count == 2 else { return a }
        let (r, c) = (shape[0], shape[1])
        return (0..<(r * c)).map { i in a[(i % r) * c + i / r] }
    }

    /// Whole-vector relative error ‖Δ‖/‖r‖; the worst per-tensor one ‖Δ_p‖/‖r_p‖ (with the
    /// tensor's name) over tensors whose reference is not zero; and the largest ‖Δ_p‖/‖r‖ over
    /// those whose reference is zero but for float64 rounding (‖r_p‖ ≤ 1e-9‖r‖: the biases of
    /// convolutions followed by batch-statistics BN, which the normalisation subtracts out).
    static func relativeErrors(_ basin: [String: Tensor<Float>], _ reference: [String: [Double]])
        -> (whole: Double, worst: Double, at: String, structuralZero: Double) {
        var differences: [String: Double] = [:], norms: [String: Double] = [:]
        for (name, r) in reference {
            let b = basin[name]?.scalars ?? []
            guard b.count == r.count else { differences[name] = .infinity; norms[name] = 0; continue }
            differences[name] = zip(b, r).reduce(0) { $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1) }
            norms[name] = r.reduce(0) { $0 + $1 * $1 }
        }
        let total = norms.values.reduce(0, +).squareRoot()
        let whole = differences.values.reduce(0, +).squareRoot() / total
        var worst = 0.0, at = "", structuralZero = 0.0
        for (name, d) in differences {
            let norm = norms[name]!.squareRoot()
            if norm <= 1e-9 * total {
                structuralZero = max(structuralZero, d.squareRoot() / total)
            } else if d.squareRoot() / norm >= worst {
                (worst, at) = (d.squareRoot() / norm, name)
            }
        }
        return (whole, worst, at, structuralZero)
    }

    /// Every trainable parameter of the graph has a reference, and every reference a parameter.
    @Test(arguments: ["mlp", "resnet18", "vgg11bn", "vit"])
    func referencesCoverExactlyTheGraphsTrainableParameters(model name: String) throws {
        let (model, reference) = try Self.load(name)
        #expect(Set(reference.direction.keys) == Set(model.trainableParameterNames))
        for mode in Self.modes.keys {
            #expect(Set(reference.gradient[mode]?.keys ?? [:].keys) == Set(model.trainableParameterNames), "\(name) \(mode)")
            #expect(Set(reference.hvp[mode]?.keys ?? [:].keys) == Set(model.trainableParameterNames), "\(name) \(mode)")
        }
    }

    @Test(arguments: ["mlp", "resnet18", "vgg11bn", "vit"], ["eval", "batch"])
    func lossAndGradientEqualPyTorch(model name: String, mode: String) throws {
        let (model, reference) = try Self.load(name)
        let batchNorm = try #require(Self.modes[mode])
        let (loss, gradient) = try model.lossAndGradient(inputs: reference.input, labels: reference.labels, batchNorm: batchNorm)
        let expectedLoss = try #require(reference.loss[mode])
        let lossError = abs(loss - expectedLoss) / abs(expectedLoss)
        let (whole, worst, at, zero) = Self.relativeErrors(gradient, try #require(reference.gradient[mode]))
        #expect(lossError <= 1e-5, "\(name) \(mode): loss \(loss), PyTorch \(expectedLoss)")
        #expect(whole <= 1e-4, "\(name) \(mode): ‖Δg‖/‖g‖ = \(whole)")
        #expect(worst <= 1e-4, "\(name) \(mode): gradient of \(at) off by \(worst)")
        #expect(zero <= 1e-6, "\(name) \(mode): a gradient that is zero in exact arithmetic is \(zero) of ‖g‖")
    }

    @Test(arguments: ["mlp", "resnet18", "vgg11bn", "vit"], ["eval", "batch"])
    func hessianVectorProductEqualsPyTorch(model name: String, mode: String) throws {
        let (model, reference) = try Self.load(name)
        let batchNorm = try #require(Self.modes[mode])
        let hv = try model.hessianVectorProduct(inputs: reference.input, labels: reference.labels, direction: reference.direction, batchNorm: batchNorm)
        let (whole, worst, at, zero) = Self.relativeErrors(hv, try #require(reference.hvp[mode]))
        #expect(whole <= 1e-4, "\(name) \(mode): ‖ΔHv‖/‖Hv‖ = \(whole)")
        #expect(worst <= 1e-4, "\(name) \(mode): H·v of \(at) off by \(worst)")
        #expect(zero <= 1e-6, "\(name) \(mode): an H·v block that is zero in exact arithmetic is \(zero) of ‖Hv‖")
    }
}
