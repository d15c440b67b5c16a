import Tensors

/// Builds the layer tree of a `ModelSpec`, validating every layer's input shape.
enum Architectures {
    /// The largest size a spec may give any dimension, width or class count (2²⁰). A spec comes
    /// from a file (a manifest, run.json); bounding each number keeps every product the builders
    /// and the parameter table form (in × out, C·H·W·fc, their sums; at most about 2⁶⁰) below
    /// `Int.max`, so a hostile spec fails here with a message instead of trapping.
    static let maximumSize = 1 << 20
    /// The largest per-sample input (2²⁴ elements), the deepest network and the largest width multiplier.
    static let maximumInputElements = 1 << 24
    static let maximumDepth = 10_000
    static let maximumWidthMultiplier = 64.0

    static func build<Scalar: BLASScalar>(_ spec: ModelSpec, as _: Scalar.Type) throws(TrainerError) -> Layer<Scalar> {
        try checkBounds(spec)
        let root: Layer<Scalar>
        switch spec.kind {
        case .mlp: root = try mlp(spec)
        case .shallowCNN: root = try shallowCNN(spec)
        case .vgg: root = try vgg(spec)
        case .resnet: root = try resnet(spec)
        case .onnx:
            guard let graph = spec.loadedGraph?.model else {
                throw .invalidSpec("the model is an ONNX graph (\(spec.graph ?? "model.onnx")) that was not loaded; read it through a checkpoint or `analyze import --graph`")
            }
            root = .graph(try GraphLayer(graph: graph, inputShape: spec.inputShape, classes: spec.classes))
        }
        try validate(root, input: spec.inputShape, name: "")
        return root
    }

    /// Every number of the spec within the bounds above, before anything is multiplied.
    private static func checkBounds(_ spec: ModelSpec) throws(TrainerError) {
        guard spec.classes > 0, spec.classes <= maximumSize else {
            throw .invalidSpec("classes must be in 1…\(maximumSize), got \(spec.classes)")
        }
        guard !spec.inputShape.isEmpty, spec.inputShape.count <= 4, spec.inputShape.allSatisfy({ $0 > 0 && $0 <= maximumInputElements }),
              let elements = try? ElementCount.of(spec.inputShape), elements <= maximumInputElements else {
            throw .invalidSpec("inputShape must have 1 to 4 positive dimensions and at most \(maximumInputElements) elements, got \(spec.inputShape)")
        }
        if let w = spec.widths, w.count > maximumDepth || !w.allSatisfy({ $0 > 0 && $0 <= maximumSize }) {
            throw .invalidSpec("widths must be at most \(maximumDepth) sizes in 1…\(maximumSize), got \(w.count > 8 ? "\(w.count) widths" : "\(w)")")
        }
        if let d = spec.depth, !(1...maximumDepth).contains(d) { throw .invalidSpec("depth must be in 1…\(maximumDepth), got \(d)") }
        if let m = spec.widthMultiplier, !(m > 0 && m <= maximumWidthMultiplier) {
            throw .invalidSpec("widthMultiplier must be in (0, \(Int(maximumWidthMultiplier))], got \(m)")
        }
    }

    /// Walks the tree once with shapes, so a bad spec fails here with the layer's name.
    private static func validate<Scalar>(_ layer: Layer<Scalar>, input: [Int], name: String) throws(TrainerError) {
        var shape = input
        var failure: TrainerError?
        if case .sequential(let s) = layer {
            for child in s.children {
                let full = name.isEmpty ? child.name : "\(name).\(child.name)"
                do { try validate(child.layer, input: shape, name: full) } catch { failure = error; break }
                guard let next = child.layer.outputShape(shape) else { failure = .incompatibleShape(layer: full, input: shape); break }
                shape = next
            }
        } else if layer.outputShape(shape) == nil {
            failure = .incompatibleShape(layer: name.isEmpty ? layer.typeName : name, input: shape)
        }
        if let failure { throw failure }
    }

    private static func scaled(_ channels: Int, _ multiplier: Double?) -> Int {
        Swift.max(1, Int((Double(channels) * (multiplier ?? 1)).rounded()))
    }

    private static func mlp<Scalar>(_ spec: ModelSpec) throws(TrainerError) -> Layer<Scalar> {
        let widths = spec.widths ?? []
        guard widths.allSatisfy({ $0 > 0 }) else { throw .invalidSpec("mlp widths must be positive, got \(widths)") }
        var layers: [Layer<Scalar>] = []
        var width = spec.inputShape.reduce(1, *)
        for w in widths {
            layers.append(.linear(Linear(inFeatures: width, outFeatures: w)))
            layers.append(.relu(ReLU()))
            width = w
        }
        layers.append(.linear(Linear(inFeatures: width, outFeatures: spec.classes)))
        return .sequential(Sequential([("flatten", .flatten(Flatten())), ("layers", .sequential(Sequential(indexed: layers)))]))
    }

    private static func shallowCNN<Scalar>(_ spec: ModelSpec) throws(TrainerError) -> Layer<Scalar> {
        let w = spec.widths ?? [32, 64, 256, 128]
        guard w.count == 4, w.allSatisfy({ $0 > 0 }) else {
            throw .invalidSpec("shallow-cnn widths must be [conv1, conv2, fc1, fc2], got \(w)")
        }
        guard spec.inputShape.count == 3 else { throw .invalidSpec("shallow-cnn needs inputShape [C, H, W], got \(spec.inputShape)") }
        let c = spec.inputShape[0], h = spec.inputShape[1] / 4, wd = spec.inputShape[2] / 4
        guard h > 0, wd > 0 else { throw .invalidSpec("shallow-cnn needs images of at least 4×4, got \(spec.inputShape)") }
        let features = Sequential<Scalar>(indexed: [
            .conv2d(Conv2d(inChannels: c, outChannels: w[0], kernelSize: 5, padding: 2)),
            .maxPool2d(MaxPool2d(kernelSize: 2)),
            .relu(ReLU()),
            .conv2d(Conv2d(inChannels: w[0], outChannels: w[1], kernelSize: 5, padding: 2)),
            .maxPool2d(MaxPool2d(kernelSize: 2)),
            .relu(ReLU()),
        ])
        let classifier = Sequential<Scalar>(indexed: [
            .linear(Linear(inFeatures: w[1] * h * wd, outFeatures: w[2])),
            .relu(ReLU()),
            .linear(Linear(inFeatures: w[2], outFeatures: w[3])),
            .linear(Linear(inFeatures: w[3], outFeatures: spec.classes)),
        ])
        return .sequential(Sequential([("features", .sequential(features)), ("flatten", .flatten(Flatten())),
                                       ("classifier", .sequential(classifier))]))
    }

    /// VGG configurations (Simonyan & Zisserman 2014, table 1); 0 marks a 2×2 max-pool.
    static let vggConfigurations: [Int: [Int]] = [
        11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        13: [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
        19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
    ]

    private static func vgg<Scalar>(_ spec: ModelSpec) throws(TrainerError) -> Layer<Scalar> {
        let depth = spec.depth ?? 16
        guard let config = vggConfigurations[depth] else { throw .invalidSpec("vgg depth must be 11, 13, 16 or 19, got \(depth)") }
        guard spec.inputShape.count == 3 else { throw .invalidSpec("vgg needs inputShape [C, H, W], got \(spec.inputShape)") }
        var layers: [Layer<Scalar>] = []
        var channels = spec.inputShape[0], h = spec.inputShape[1], w = spec.inputShape[2]
        for entry in config {
            if entry == 0 {
                guard h >= 2, w >= 2 else {
                    throw .invalidSpec("vgg-\(depth) pools five times; input \(spec.inputShape) is too small (use 32×32)")
                }
                layers.append(.maxPool2d(MaxPool2d(kernelSize: 2)))
                h /= 2; w /= 2
            } else {
                let out = scaled(entry, spec.widthMultiplier)
                layers.append(.conv2d(Conv2d(inChannels: channels, outChannels: out, kernelSize: 3, padding: 1)))
                if spec.batchNorm ?? false { layers.append(.batchNorm(BatchNorm(channels: out))) }
                layers.append(.relu(ReLU()))
                channels = out
            }
        }
        let hidden = scaled(512, spec.widthMultiplier)
        let classifier = Sequential<Scalar>(indexed: [
            .linear(Linear(inFeatures: channels * h * w, outFeatures: hidden)), .relu(ReLU()),
            .linear(Linear(inFeatures: hidden, outFeatures: hidden)), .relu(ReLU()),
            .linear(Linear(inFeatures: hidden, outFeatures: spec.classes)),
        ])
        return .sequential(Sequential([("features", .sequential(Sequential(indexed: layers))),
                                       ("flatten", .flatten(Flatten())), ("classifier", .sequential(classifier))]))
    }

    private static func resnet<Scalar>(_ spec: ModelSpec) throws(TrainerError) -> Layer<Scalar> {
        let depth = spec.depth ?? 20
        guard depth >= 8, (depth - 2) % 6 == 0 else { throw .invalidSpec("resnet depth must be 6n+2 (20, 32, 44, 56), got \(depth)") }
        guard spec.inputShape.count == 3 else { throw .invalidSpec("resnet needs inputShape [C, H, W], got \(spec.inputShape)") }
        let blocks = (depth - 2) / 6
        let widths = [16, 32, 64].map { scaled($0, spec.widthMultiplier) }
        var children: [(name: String, layer: Layer<Scalar>)] = [
            ("conv1", .conv2d(Conv2d(inChannels: spec.inputShape[0], outChannels: widths[0], kernelSize: 3, padding: 1, bias: false))),
            ("bn1", .batchNorm(BatchNorm(channels: widths[0]))),
            ("relu", .relu(ReLU())),
        ]
        var inPlanes = widths[0]
        for (stage, planes) in widths.enumerated() {
            var stageBlocks: [Layer<Scalar>] = []
            for b in 0..<blocks {
                let stride = (stage > 0 && b == 0) ? 2 : 1
                stageBlocks.append(.residual(basicBlock(inPlanes: inPlanes, planes: planes, stride: stride)))
                inPlanes = planes
            }
            children.append(("layer\(stage + 1)", .sequential(Sequential(indexed: stageBlocks))))
        }
        children.append(("avgpool", .globalAvgPool(GlobalAvgPool())))
        children.append(("linear", .linear(Linear(inFeatures: inPlanes, outFeatures: spec.classes))))
        return .sequential(Sequential(children))
    }

    private static func basicBlock<Scalar>(inPlanes: Int, planes: Int, stride: Int) -> Residual<Scalar> {
        let main = Sequential<Scalar>([
            ("conv1", .conv2d(Conv2d(inChannels: inPlanes, outChannels: planes, kernelSize: 3, stride: stride, padding: 1, bias: false))),
            ("bn1", .batchNorm(BatchNorm(channels: planes))),
            ("relu", .relu(ReLU())),
            ("conv2", .conv2d(Conv2d(inChannels: planes, outChannels: planes, kernelSize: 3, padding: 1, bias: false))),
            ("bn2", .batchNorm(BatchNorm(channels: planes))),
        ])
        let shortcut: Sequential<Scalar> = (stride != 1 || inPlanes != planes)
            ? Sequential(indexed: [.conv2d(Conv2d(inChannels: inPlanes, outChannels: planes, kernelSize: 1, stride: stride, bias: false)),
                                   .batchNorm(BatchNorm(channels: planes))])
            : Sequential([])
        return Residual(main: main, shortcut: shortcut)
    }
}
