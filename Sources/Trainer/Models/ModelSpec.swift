import ONNX
import Tensors
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
/// | `onnx` | `graph` (the file name, `model.onnx`), `sha256` (its digest) | the graph's initializer names (a PyTorch state dict's) |
public struct ModelSpec: Codable, Equatable, Sendable {
    /// The architecture family.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case mlp
        case shallowCNN = "shallow-cnn"
        case vgg
        case resnet
        /// A researcher's own network as an ONNX graph, stored beside the checkpoints (`GraphLayer`).
        case onnx
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
    /// The ONNX graph's file name (kind `onnx`), looked up beside the checkpoint and in its run.
    public var graph: String?
    /// Lowercase hex SHA-256 of the ONNX graph's file (kind `onnx`): a different file is refused.
    public var sha256: String?
    /// The graph itself once a reader has found and checked its file (never encoded).
    public var loadedGraph: LoadedGraph?

    enum CodingKeys: String, CodingKey {
        case kind, inputShape, classes, widths, depth, widthMultiplier, batchNorm, graph, sha256
    }

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

/// A loaded ONNX graph carried by a `ModelSpec` of kind `onnx`; specs compare by the file's digest.
public final class LoadedGraph: Sendable, Equatable {
    public let model: ONNXModel
    public init(_ model: ONNXModel) { self.model = model }
    public static func == (a: LoadedGraph, b: LoadedGraph) -> Bool { a.model.sha256 == b.model.sha256 }
}

extension ModelSpec {
    /// The spec of a network given as an ONNX graph: the per-sample input shape from the graph's
    /// input (or `inputShape` where the graph leaves dimensions symbolic), the classes from the
    /// logits of one forward pass on zeros — which also proves the graph runs at that shape.
    /// - Parameter file: the name the graph is stored under beside the checkpoints.
    /// - Throws: `TrainerError.invalidSpec` naming the file when the graph is not a classifier
    ///   over one input of a known shape.
    public static func onnx(_ graph: ONNXModel, file: String = "model.onnx", inputShape given: [Int]? = nil) throws(TrainerError) -> ModelSpec {
        guard graph.inputs.count == 1, let input = graph.inputs.first else {
            throw .invalidSpec("\(graph.path): a model needs a graph with one input, this one has \(graph.inputs.count)")
        }
        var shape: [Int]
        if let given { shape = given } else {
            guard let dims = input.shape, dims.count >= 2 else {
                throw .invalidSpec("\(graph.path): the graph's input '\(input.name)' has no declared shape [batch, …]; give the per-sample shape (--input-shape)")
            }
            shape = []
            for d in dims.dropFirst() {
                guard case let .fixed(n) = d, n > 0 else {
                    throw .invalidSpec("\(graph.path): the graph's input '\(input.name)' has a symbolic dimension (\(dims.map(\.description).joined(separator: ", "))); give the per-sample shape (--input-shape)")
                }
                shape.append(n)
            }
        }
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }), let n = try? ElementCount.of(shape), n <= Architectures.maximumInputElements else {
            throw .invalidSpec("\(graph.path): per-sample input shape \(shape) is empty or too large")
        }
        // Two samples, not one: analyses evaluate batches, and a graph exported without a dynamic
        // batch axis (or with a batch size baked into a Reshape) must fail here, not mid-analysis.
        let logits: Tensor<Float>
        do {
            logits = try graph.values(inputs: Tensor(zeros: [2] + shape))[graph.outputs[0].name] ?? Tensor(zeros: [0])
        } catch {
            if case let .fixed(n)? = input.shape?.first {
                throw .invalidSpec("\(graph.path): the graph takes batches of exactly \(n) (its input '\(input.name)' is declared [\(input.shape?.map(\.description).joined(separator: ", ") ?? "")]); export it with a dynamic batch axis: torch.onnx.export(…, dynamic_axes={\"\(input.name)\": {0: \"batch\"}, …})")
            }
            throw .invalidSpec("\(error) (evaluating the graph on a batch of two zero inputs of shape \(shape)); was it exported with a dynamic batch axis?")
        }
        guard logits.rank == 2, logits.shape[0] == 2, logits.shape[1] > 0 else {
            throw .invalidSpec("\(graph.path): the first output '\(graph.outputs[0].name)' has shape \(logits.shape) for two samples; a classifier's logits are [batch, classes]")
        }
        var spec = ModelSpec(kind: .onnx, inputShape: shape, classes: logits.shape[1])
        spec.graph = file
        spec.sha256 = graph.sha256
        spec.loadedGraph = LoadedGraph(graph)
        return spec
    }

    /// This spec with its graph attached, after checking the graph is the file the spec names.
    /// - Throws: `TrainerError.invalidSpec` naming the file when its digest differs from `sha256`.
    public func attaching(_ graph: ONNXModel) throws(TrainerError) -> ModelSpec {
        guard kind == .onnx else { return self }
        guard let expected = sha256?.lowercased(), expected == graph.sha256 else {
            throw .invalidSpec("\(graph.path): SHA-256 \(graph.sha256) differs from the \(sha256 ?? "(none)") the model spec records; this is not the graph the checkpoints were made with")
        }
        var spec = self
        spec.loadedGraph = LoadedGraph(graph)
        return spec
    }
}
