import Testing
import Tensors
@testable import Trainer

/// One small network per layer type (the layer under test, then a linear head so the loss is a
/// softmax cross-entropy), checked against central finite differences in double precision.
struct LayerCase: CustomTestStringConvertible, Sendable {
    let name: String
    let inputShape: [Int]
    let classes = 3
    let build: @Sendable () -> Layer<Double>
    var testDescription: String { name }

    var spec: ModelSpec { ModelSpec(kind: .mlp, inputShape: inputShape, classes: classes) }

    func network() -> Network<Double> {
        Network(spec: spec, initialization: .pytorchDefault, rng: RandomGenerator(seed: 42), makeRoot: build)
    }

    static func head(_ features: Int) -> Layer<Double> { .linear(Linear(inFeatures: features, outFeatures: 3)) }
    static func seq(_ layers: [Layer<Double>]) -> Layer<Double> { .sequential(Sequential(indexed: layers)) }

    static let all: [LayerCase] = [
        LayerCase(name: "Linear", inputShape: [6]) { seq([.linear(Linear(inFeatures: 6, outFeatures: 5)), head(5)]) },
        LayerCase(name: "Linear without bias", inputShape: [6]) {
            seq([.linear(Linear(inFeatures: 6, outFeatures: 5, bias: false)), .relu(ReLU()), head(5)])
        },
        // Parameter-free layers straight on the input: their backward pass is skipped (the input
        // is constant), and the Linear after them computes no ∂x.
        LayerCase(name: "Pooling and ReLU on the input", inputShape: [2, 4, 4]) {
            seq([.maxPool2d(MaxPool2d(kernelSize: 2)), .relu(ReLU()), .flatten(Flatten()),
                 .linear(Linear(inFeatures: 8, outFeatures: 5)), .relu(ReLU()), head(5)])
        },
        LayerCase(name: "ReLU", inputShape: [6]) {
            seq([.linear(Linear(inFeatures: 6, outFeatures: 8)), .relu(ReLU()), head(8)])
        },
        LayerCase(name: "Conv2d 3x3 pad 1", inputShape: [2, 5, 5]) {
            seq([.conv2d(Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1)), .flatten(Flatten()), head(75)])
        },
        LayerCase(name: "Conv2d 3x3 stride 2", inputShape: [2, 7, 6]) {
            seq([.conv2d(Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, stride: 2)), .flatten(Flatten()), head(18)])
        },
        LayerCase(name: "Conv2d 1x1 pointwise", inputShape: [3, 4, 4]) {
            seq([.conv2d(Conv2d(inChannels: 3, outChannels: 2, kernelSize: 1, bias: false)), .flatten(Flatten()), head(32)])
        },
        LayerCase(name: "Conv2d stacked with ReLU", inputShape: [1, 6, 6]) {
            seq([.conv2d(Conv2d(inChannels: 1, outChannels: 2, kernelSize: 3, padding: 1)), .relu(ReLU()),
                 .conv2d(Conv2d(inChannels: 2, outChannels: 2, kernelSize: 3, stride: 2, padding: 1)), .flatten(Flatten()), head(18)])
        },
        LayerCase(name: "MaxPool2d", inputShape: [2, 6, 6]) {
            seq([.conv2d(Conv2d(inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1)), .maxPool2d(MaxPool2d(kernelSize: 2)),
                 .flatten(Flatten()), head(18)])
        },
        LayerCase(name: "MaxPool2d 3 stride 2", inputShape: [1, 7, 7]) {
            seq([.conv2d(Conv2d(inChannels: 1, outChannels: 2, kernelSize: 3, padding: 1)),
                 .maxPool2d(MaxPool2d(kernelSize: 3, stride: 2)), .flatten(Flatten()), head(18)])
        },
        LayerCase(name: "AvgPool2d", inputShape: [2, 6, 6]) {
            seq([.conv2d(Conv2d(inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1)), .avgPool2d(AvgPool2d(kernelSize: 2)),
                 .flatten(Flatten()), head(18)])
        },
        LayerCase(name: "GlobalAvgPool", inputShape: [2, 5, 5]) {
            seq([.conv2d(Conv2d(inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1)), .globalAvgPool(GlobalAvgPool()), head(4)])
        },
        LayerCase(name: "BatchNorm2d", inputShape: [2, 4, 4]) {
            seq([.conv2d(Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1)), .batchNorm(BatchNorm(channels: 3)),
                 .relu(ReLU()), .flatten(Flatten()), head(48)])
        },
        LayerCase(name: "BatchNorm1d", inputShape: [5]) {
            seq([.linear(Linear(inFeatures: 5, outFeatures: 4)), .batchNorm(BatchNorm(channels: 4)), .relu(ReLU()), head(4)])
        },
        LayerCase(name: "Residual identity", inputShape: [2, 4, 4]) {
            let main = Sequential<Double>([("conv1", .conv2d(Conv2d(inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1))),
                                           ("relu", .relu(ReLU())),
                                           ("conv2", .conv2d(Conv2d(inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1)))])
            return seq([.residual(Residual(main: main, shortcut: Sequential([]))), .flatten(Flatten()), head(32)])
        },
        LayerCase(name: "Residual projection with BN", inputShape: [2, 6, 6]) {
            let main = Sequential<Double>([
                ("conv1", .conv2d(Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, stride: 2, padding: 1, bias: false))),
                ("bn1", .batchNorm(BatchNorm(channels: 3))), ("relu", .relu(ReLU())),
                ("conv2", .conv2d(Conv2d(inChannels: 3, outChannels: 3, kernelSize: 3, padding: 1, bias: false))),
                ("bn2", .batchNorm(BatchNorm(channels: 3)))])
            let shortcut = Sequential<Double>(indexed: [.conv2d(Conv2d(inChannels: 2, outChannels: 3, kernelSize: 1, stride: 2, bias: false)),
                                                        .batchNorm(BatchNorm(channels: 3))])
            return seq([.residual(Residual(main: main, shortcut: shortcut)), .flatten(Flatten()), head(27)])
        },
    ]
}

@Suite("Layer gradients and Hessian-vector products (float64, central differences)")
struct LayerGradientTests {
    @Test("gradient matches finite differences", arguments: LayerCase.all, [ForwardMode.batchStatistics, .eval])
    func gradientMatchesFiniteDifferences(_ c: LayerCase, mode: ForwardMode) throws {
        let net = c.network()
        let batch = GradientCheck.randomBatch(net, batch: 4, seed: 1)
        let err = try GradientCheck.directionalGradientError(net, batch, mode: mode)
        #expect(err < GradientCheck.tolerance, "\(c.name) [\(mode)]: relative error \(err)")
    }

    @Test("Hessian-vector product matches finite differences of gradients", arguments: LayerCase.all, [ForwardMode.batchStatistics, .eval])
    func hessianVectorMatchesFiniteDifferences(_ c: LayerCase, mode: ForwardMode) throws {
        let net = c.network()
        let batch = GradientCheck.randomBatch(net, batch: 4, seed: 2)
        let err = try GradientCheck.hessianVectorError(net, batch, mode: mode)
        #expect(err < GradientCheck.tolerance, "\(c.name) [\(mode)]: relative error \(err)")
    }

    @Test("Hessian is symmetric: vᵀ(Hw) = wᵀ(Hv)", arguments: LayerCase.all)
    func hessianIsSymmetric(_ c: LayerCase) throws {
        let net = c.network()
        let batch = GradientCheck.randomBatch(net, batch: 4, seed: 3)
        let err = try GradientCheck.symmetryError(net, batch, mode: .batchStatistics)
        #expect(err < 1e-9, "\(c.name): relative asymmetry \(err)")
    }
}
