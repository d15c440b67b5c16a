import Testing
import Tensors
@testable import Trainer

/// The dense layers' float32 route: products as oneDNN matmul primitives, the bias and a following
/// ReLU applied inside the product (`Linear.forward(_:_:rectify:)`), and ∂L/∂θ written by each
/// `Linear` into a slice the pass did not zero (`Pass.linearGradientsUnset`) — each checked
/// against the same network in float64 and against the unfused float32 route.
struct DenseLayerRouteTests {
    static let mlp = ModelSpec.mlp(inputShape: [40], widths: [33, 17], classes: 5)

    /// `logits` runs the fused Linear + ReLU; `layerOutputs` records every layer's own output,
    /// so it runs them one by one. Both agree with each other and with float64.
    @Test func fusedRectifierGivesWhatTheLayersGiveOneByOne() throws {
        let single = try Model(spec: Self.mlp, rng: RandomGenerator(seed: 3))
        let double = try Network<Double>(spec: Self.mlp, rng: RandomGenerator(seed: 3))
        try double.setParameters(Tensor<Double>(converting: single.parameters))
        var rng = RandomGenerator(seed: 4)
        let x = Tensor<Double>.randomNormal(shape: [9, 40], using: &rng)
        let fused = try single.logits(Tensor<Float>(converting: x), mode: .eval)
        let layers = try single.layerOutputs(Tensor<Float>(converting: x), mode: .eval)
        let oneByOne = try #require(layers.last).output
        let reference = try double.logits(x, mode: .eval)
        #expect(layers.count == 5, "Linear, ReLU, Linear, ReLU, Linear")
        // The hidden ReLU outputs are rectified, and some units are cut: the fused path has work to do.
        #expect(layers[1].output.scalars.contains(0) && layers[1].output.scalars.allSatisfy { $0 >= 0 })
        #expect(GradientCheck.relativeError(reference, Tensor<Double>(converting: fused)) < 1e-5)
        #expect(GradientCheck.relativeError(Tensor<Double>(converting: oneByOne), Tensor<Double>(converting: fused)) < 1e-5)
    }

    /// The gradient is right whatever the memory it is written into held before: the heap is
    /// filled with NaN blocks of the gradient's size first, so a slice a `Linear` failed to write
    /// would come back NaN. MLP (every slice written by a `Linear`) and the shallow CNN (the
    /// convolutions' slices zeroed by the pass, the classifier's written by its `Linear`s).
    @Test(arguments: [Self.mlp, ModelCase.all[1].spec])
    func gradientIsWrittenWholeWhateverTheHeapHeld(_ spec: ModelSpec) throws {
        let single = try Model(spec: spec, rng: RandomGenerator(seed: 5))
        let double = try Network<Double>(spec: spec, rng: RandomGenerator(seed: 5))
        try double.setParameters(Tensor<Double>(converting: single.parameters))
        let batchD = GradientCheck.randomBatch(double, batch: 6, seed: 7)
        let batchF = Batch(inputs: Tensor<Float>(converting: batchD.inputs), labels: batchD.labels)
        let expected = try double.gradient(batchD, loss: .crossEntropy, mode: .train).gradient
        #expect(!single.linearParameterRanges.isEmpty)
        for _ in 0..<3 {
            var poison: [[Float]] = []
            for _ in 0..<4 { poison.append([Float](repeating: .nan, count: single.parameterCount)) }
            #expect(poison.allSatisfy { $0.first?.isNaN == true })
            poison.removeAll()
            let g = try single.gradient(batchF, loss: .crossEntropy, mode: .train).gradient
            #expect(g.scalars.allSatisfy { $0.isFinite })
            #expect(GradientCheck.relativeError(expected, Tensor<Double>(converting: g)) < 1e-4)
        }
    }

    /// The slices left unset are exactly the `Linear` layers' weights and biases, in order.
    @Test func unsetSlicesAreTheLinearLayersParameters() throws {
        let net = try Model(spec: Self.mlp, rng: RandomGenerator(seed: 1))
        let names = ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias", "layers.4.weight", "layers.4.bias"]
        let ranges = try names.map { try #require(net.parameterRange(named: $0)) }
        let merged = stride(from: 0, to: ranges.count, by: 2).map { ranges[$0].lowerBound..<ranges[$0 + 1].upperBound }
        #expect(net.linearParameterRanges == merged)
        let cnn = try Model(spec: ModelCase.all[1].spec, rng: RandomGenerator(seed: 1))
        let convolution = try #require(cnn.parameterRange(named: "features.0.weight"))
        #expect(!cnn.linearParameterRanges.contains { $0.overlaps(convolution) })
    }
}
