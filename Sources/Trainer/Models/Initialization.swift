import Tensors

/// How a fresh model's weights are drawn. Every layer draws from its own stream,
/// `rng.split(layerName)`, so adding a layer does not change the others' weights.
public enum Initialization: Codable, Equatable, Sendable {
    /// PyTorch's default for `nn.Linear`/`nn.Conv2d` (`kaiming_uniform_(a=√5)`):
    /// W, b ~ U(−1/√fan_in, 1/√fan_in), fan_in = in·kh·kw.
    case pytorchDefault
    /// He et al. (2015) normal: W ~ N(0, (scale·√(2/fan_in))²), b = 0. `scale` multiplies the
    /// standard deviation (paper 000's mode E uses scale 3).
    case heNormal(scale: Double)

    /// Fills every weight and bias of `root` in `parameters`, and resets batch-norm layers.
    func apply<Scalar: BLASScalar>(to root: Layer<Scalar>, parameters: UnsafeMutablePointer<Scalar>,
                                   buffers: UnsafeMutablePointer<Scalar>, rng: RandomGenerator) {
        root.visitLeaves(prefix: "") { name, layer in
            var stream = rng.split(name)
            switch layer {
            case .linear(let l):
                fill(parameters + l.parameterOffset, weights: l.inFeatures * l.outFeatures, bias: l.hasBias ? l.outFeatures : 0,
                     fanIn: l.inFeatures, rng: &stream)
            case .conv2d(let l):
                let fanIn = l.inChannels * l.kernelSize * l.kernelSize
                fill(parameters + l.parameterOffset, weights: l.outChannels * fanIn, bias: l.hasBias ? l.outChannels : 0,
                     fanIn: fanIn, rng: &stream)
            case .batchNorm(let l):
                l.initialize(parameters: parameters, buffers: buffers)
            case .graph(let g):
                // A graph starts from the values its file holds (a researcher's export).
                g.initialize(parameters: parameters, buffers: buffers)
            default: break
            }
        }
    }

    private func fill<Scalar: BLASScalar>(_ p: UnsafeMutablePointer<Scalar>, weights: Int, bias: Int, fanIn: Int,
                                          rng: inout RandomGenerator) {
        let f = Double(Swift.max(fanIn, 1))
        switch self {
        case .pytorchDefault:
            let bound = 1 / f.squareRoot()
            for i in 0..<(weights + bias) { p[i] = Scalar((2 * rng.nextDouble() - 1) * bound) }
        case .heNormal(let scale):
            let std = scale * (2 / f).squareRoot()
            for i in 0..<weights { p[i] = Scalar(rng.nextNormal() * std) }
            for i in weights..<(weights + bias) { p[i] = 0 }
        }
    }
}
