import Testing
import Tensors
@testable import Trainer

/// Conv2d's float32 oneDNN route against its im2col route (the one the float64 finite-difference
/// tests check), on the same parameters, inputs and direction.
@Suite("Conv2d through oneDNN (float32)")
struct OneDNNConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let inputShape: [Int]
        let build: @Sendable (_ oneDNN: Bool) -> Layer<Float>
        var testDescription: String { name }
    }

    static func conv(_ c: Int, _ o: Int, _ k: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true, oneDNN: Bool) -> Layer<Float> {
        let layer = Conv2d<Float>(inChannels: c, outChannels: o, kernelSize: k, stride: stride, padding: padding, bias: bias)
        layer.usesOneDNN = oneDNN
        return .conv2d(layer)
    }

    static let cases: [Case] = [
        // A convolution on the input (no ∂x), then one on an activation (∂x and R{∂x}).
        Case(name: "5x5 pad 2, pool, 5x5 pad 2 (the shallow CNN)", inputShape: [2, 12, 12]) { d in
            .sequential(Sequential(indexed: [
                conv(2, 8, 5, padding: 2, oneDNN: d), .maxPool2d(MaxPool2d(kernelSize: 2)), .relu(ReLU()),
                conv(8, 16, 5, padding: 2, oneDNN: d), .maxPool2d(MaxPool2d(kernelSize: 2)), .relu(ReLU()),
                .flatten(Flatten()), .linear(Linear(inFeatures: 144, outFeatures: 3)),
            ]))
        },
        Case(name: "3x3 stride 2 without bias, 1x1", inputShape: [3, 9, 7]) { d in
            .sequential(Sequential(indexed: [
                conv(3, 4, 3, padding: 1, oneDNN: d), .relu(ReLU()),
                conv(4, 5, 3, stride: 2, padding: 1, bias: false, oneDNN: d), .relu(ReLU()),
                conv(5, 3, 1, oneDNN: d), .flatten(Flatten()), .linear(Linear(inFeatures: 60, outFeatures: 3)),
            ]))
        },
    ]

    static func network(_ c: Case, oneDNN: Bool) -> Network<Float> {
        Network(spec: ModelSpec(kind: .mlp, inputShape: c.inputShape, classes: 3), initialization: .pytorchDefault,
                rng: RandomGenerator(seed: 42)) { c.build(oneDNN) }
    }

    static func inputs(_ c: Case) -> (Batch<Float>, Tensor<Float>, Int) {
        var rng = RandomGenerator(seed: 7)
        let n = network(c, oneDNN: false).parameterCount
        let x = Tensor<Float>.randomNormal(shape: [4] + c.inputShape, using: &rng)
        let labels = (0..<4).map { _ in rng.nextInt(below: 3) }
        return (Batch(inputs: x, labels: labels), Tensor<Float>.randomNormal(shape: [n], using: &rng), n)
    }

    static func relativeError(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
        GradientCheck.relativeError(Tensor<Double>(converting: a), Tensor<Double>(converting: b))
    }

    @Test("loss, gradient and Hv equal the im2col route's to float32 rounding", arguments: cases)
    func agreesWithIm2col(_ c: Case) throws {
        let (batch, v, _) = Self.inputs(c)
        let fast = try Self.network(c, oneDNN: true).hessianVectorProduct(batch, direction: v, loss: .crossEntropy, mode: .batchStatistics)
        let slow = try Self.network(c, oneDNN: false).hessianVectorProduct(batch, direction: v, loss: .crossEntropy, mode: .batchStatistics)
        #expect(abs(fast.evaluation.loss - slow.evaluation.loss) < 1e-5)
        #expect(Self.relativeError(fast.gradient, slow.gradient) < 1e-5)
        #expect(Self.relativeError(fast.hessianVectorProduct, slow.hessianVectorProduct) < 1e-5)
        let plain = try Self.network(c, oneDNN: true).gradient(batch, loss: .crossEntropy, mode: .train)
        #expect(Self.relativeError(plain.gradient, slow.gradient) < 1e-5)
    }

    @Test("the same inputs give the same bits", arguments: cases)
    func deterministic(_ c: Case) throws {
        let (batch, v, _) = Self.inputs(c)
        let net = Self.network(c, oneDNN: true)
        let a = try net.hessianVectorProduct(batch, direction: v, loss: .crossEntropy, mode: .batchStatistics)
        let b = try Self.network(c, oneDNN: true).hessianVectorProduct(batch, direction: v, loss: .crossEntropy, mode: .batchStatistics)
        let again = try net.hessianVectorProduct(batch, direction: v, loss: .crossEntropy, mode: .batchStatistics)
        #expect(a.gradient.scalars == b.gradient.scalars && a.gradient.scalars == again.gradient.scalars)
        #expect(a.hessianVectorProduct.scalars == b.hessianVectorProduct.scalars)
        #expect(a.hessianVectorProduct.scalars == again.hessianVectorProduct.scalars)
    }
}
