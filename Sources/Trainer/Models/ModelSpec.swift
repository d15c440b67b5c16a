/// The architecture of a model as a JSON value, stored in every checkpoint manifest.
///
/// One struct with a `kind` and the fields that kind uses, so the JSON reads as written:
/// `{"kind":"mlp","inputShape":[1,28,28],"widths":[512,256],"classes":10}`.
///
/// | kind | fields | PyTorch names |
/// |---|---|---|
/// | `mlp` | `widths` (hidden sizes, any number) | `layers.0`, `layers.2`, … (Linear, ReLU alternating) |
/// | `shallow-cnn` | `widths` = [conv1, conv2, fc1, fc2] channels/units (default [32, 64, 256, 128]) | `features.{0,3}`, `classifier.{0,2,3}` |
/// | `vgg` | `depth` 11/13/16/19, `widthMultiplier`, `batchNorm` | `features.N`, `classifier.{0,2,4}` |
/// | `resnet` | `depth` = 6n+2 (20, 32, 44, 56), `widthMultiplier` | `conv1`, `bn1`, `layerS.B.conv1`, …, `linear` |
public struct ModelSpec: Codable, Equatable, Sendable {
    /// The architecture family.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case mlp
        case shallowCNN = "shallow-cnn"
        case vgg
        case resnet
    }

    /// The architecture family.
    public var kind: Kind
    /// The per-sample input shape: `[features]` or `[channels, height, width]`.
    public var inputShape: [Int]
    /// Number of output classes (logits).
    public var classes: Int
    /// Hidden widths (MLP) or `[conv1, conv2, fc1, fc2]` (shallow CNN).
    public var widths: [Int]?
    /// VGG depth (11, 13, 16, 19) or ResNet depth (6n + 2).
    public var depth: Int?
    /// Channel multiplier for VGG and ResNet (1 = the paper's widths).
    public var widthMultiplier: Double?
    /// Batch normalisation after each VGG convolution (ResNets always have it).
    public var batchNorm: Bool?

    public init(kind: Kind, inputShape: [Int], classes: Int, widths: [Int]? = nil, depth: Int? = nil,
                widthMultiplier: Double? = nil, batchNorm: Bool? = nil) {
        self.kind = kind
        self.inputShape = inputShape
        self.classes = classes
        self.widths = widths
        self.depth = depth
        self.widthMultiplier = widthMultiplier
        self.batchNorm = batchNorm
    }

    /// A multilayer perceptron: Flatten, then Linear+ReLU per hidden width, then Linear to `classes`.
    public static func mlp(inputShape: [Int], widths: [Int], classes: Int) -> ModelSpec {
        ModelSpec(kind: .mlp, inputShape: inputShape, classes: classes, widths: widths)
    }

    /// Paper 000's distillation student: `[conv, maxpool, relu]×2, fc, relu, fc, fc` (5×5 convs, padding 2, 2×2 pools).
    public static func shallowCNN(inputShape: [Int], classes: Int, widths: [Int] = [32, 64, 256, 128]) -> ModelSpec {
        ModelSpec(kind: .shallowCNN, inputShape: inputShape, classes: classes, widths: widths)
    }

    /// VGG-`depth` for 32×32 images, conv widths scaled by `widthMultiplier`.
    public static func vgg(depth: Int, inputShape: [Int] = [3, 32, 32], classes: Int = 10,
                           widthMultiplier: Double = 1, batchNorm: Bool = false) -> ModelSpec {
        ModelSpec(kind: .vgg, inputShape: inputShape, classes: classes, depth: depth,
                  widthMultiplier: widthMultiplier, batchNorm: batchNorm)
    }

    /// The CIFAR ResNet of He et al. (2016), depth 6n + 2, widths 16/32/64 × `widthMultiplier`.
    public static func resnet(depth: Int = 20, inputShape: [Int] = [3, 32, 32], classes: Int = 10,
                              widthMultiplier: Double = 1) -> ModelSpec {
        ModelSpec(kind: .resnet, inputShape: inputShape, classes: classes, depth: depth, widthMultiplier: widthMultiplier)
    }
}

extension ModelSpec {
    /// The parameter and buffer tensors a model of this spec has (PyTorch names and shapes, in
    /// `named_parameters()` order), found without allocating them: a checkpoint's tensors are
    /// compared with these before its model is built, so a spec that disagrees with the file
    /// fails with a message instead of allocating what the spec claims.
    /// - Throws: `TrainerError.invalidSpec` / `.incompatibleShape` when the spec cannot be built.
    public func tensorLayout() throws(TrainerError) -> (parameters: [(name: String, shape: [Int])], buffers: [(name: String, shape: [Int])]) {
        let root = try Architectures.build(self, as: Float.self)
        var table = ParameterTable()
        root.layout(prefix: "", into: &table)
        return (table.parameters.map { ($0.name, $0.shape) }, table.buffers.map { ($0.name, $0.shape) })
    }
}
