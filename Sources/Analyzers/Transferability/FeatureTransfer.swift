import Foundation
import Tensors
import Trainer

/// Transferring a source checkpoint to a target task, the two ways paper 003 §6 measures:
/// "fix" (the network is a frozen feature extractor; only a new linear head is trained on its
/// penultimate features) and "finetune" (a new head, then every parameter trained). Both use one
/// `Budget` — epochs, batch size, learning rate, momentum, weight decay, seed — so stages differ
/// only in the checkpoint.
public enum FeatureTransfer {
    /// The training budget, identical for every stage.
    public struct Budget: Codable, Sendable, Equatable {
        public var epochs: Int
        public var batchSize: Int
        /// SGD learning rate for the linear head in "fix".
        public var fixLearningRate: Double
        /// SGD learning rate for all parameters in "finetune".
        public var finetuneLearningRate: Double
        public var momentum: Double
        public var weightDecay: Double
        /// Seeds the new head's initialisation (`split("transfer-head")`) and the shuffling.
        public var seed: UInt64
        public init(epochs: Int, batchSize: Int, fixLearningRate: Double, finetuneLearningRate: Double, momentum: Double,
                    weightDecay: Double, seed: UInt64) {
            self.epochs = epochs; self.batchSize = batchSize; self.fixLearningRate = fixLearningRate
            self.finetuneLearningRate = finetuneLearningRate; self.momentum = momentum; self.weightDecay = weightDecay; self.seed = seed
        }
    }

    /// What one transfer reached on the target's held-out split.
    public struct Outcome: Codable, Sendable, Equatable {
        public var mode: String
        public var targetAccuracy: Double
        public var targetLoss: Double
        /// Training accuracy of the last epoch (mini-batch mean).
        public var finalTrainAccuracy: Double
    }

    public enum TransferError: Error, CustomStringConvertible {
        case incompatible(String)
        public var description: String {
            switch self { case .incompatible(let s): return s }
        }
    }

    /// The input of the last layer (the classifier head) for every sample, in eval mode:
    /// `[n, D]` with D the head's input width. Batch norm uses running statistics.
    public static func penultimateFeatures(_ model: Model, _ data: Dataset, batchSize: Int = 500) throws -> Tensor<Float> {
        let head = try headNames(model)
        let d = model.namedParameters.first { $0.name == head.weight }?.shape.last ?? 0
        var rows: [Float] = []
        rows.reserveCapacity(data.count * d)
        for start in stride(from: 0, to: data.count, by: batchSize) {
            let batch = data.batch(Array(start..<min(start + batchSize, data.count)))
            let features: Tensor<Float>
            if let fed = try model.graphInput(ofNodeReading: head.weight, batch.inputs) {
                features = fed   // a graph's head reads a named value: exactly what it classifies
            } else {
                let outputs = try model.layerOutputs(batch.inputs, mode: .eval)
                features = outputs.count >= 2 ? outputs[outputs.count - 2].output : batch.inputs
            }
            guard features.count == batch.labels.count * d else {
                throw TransferError.incompatible("the layer before the head gives \(features.count / max(batch.labels.count, 1)) features, the head takes \(d)")
            }
            rows += features.scalars
        }
        return try Tensor(shape: [data.count, d], scalars: rows)
    }

    /// The last layer's weight and bias names (`classifier.3.weight`, `…bias`).
    static func headNames(_ model: Model) throws -> (weight: String, bias: String) {
        let p = model.namedParameters
        guard p.count >= 2, let w = p.dropLast().last, let b = p.last, w.shape.count == 2, b.shape == [w.shape[0]],
              w.name.hasSuffix(".weight"), b.name.hasSuffix(".bias") else {
            throw TransferError.incompatible("the model's last layer is not a linear classifier (weight [K, D], bias [K])")
        }
        return (w.name, b.name)
    }

    /// "fix": a new linear head trained by SGD on frozen penultimate features.
    public static func fix(features trainFeatures: Tensor<Float>, labels: [Int], test: Tensor<Float>, testLabels: [Int], classes: Int,
                           budget: Budget) throws -> Outcome {
        let d = trainFeatures.columns
        let trainSet = try Dataset(name: "features", inputs: trainFeatures, labels: labels, classes: classes)
        let testSet = try Dataset(name: "features-test", inputs: test, labels: testLabels, classes: classes)
        let head = try Model(spec: .mlp(inputShape: [d], widths: [], classes: classes),
                             rng: RandomGenerator(seed: budget.seed).split("transfer-head"))
        return try train(head, on: trainSet, test: testSet, learningRate: budget.fixLearningRate, budget: budget, mode: "fix")
    }

    /// "finetune": the source network with a new head for `classes`, every parameter trained.
    public static func finetune(source: Model, train: Dataset, test: Dataset, budget: Budget) throws -> Outcome {
        guard train.sampleSize == source.spec.inputShape.reduce(1, *) else {
            throw TransferError.incompatible("the target's samples \(train.sampleShape) do not fit the model's input \(source.spec.inputShape)")
        }
        if source.graph != nil { return try finetuneGraph(source: source, train: train, test: test, budget: budget) }
        var spec = source.spec
        spec.classes = train.classes
        let model = try Model(spec: spec, rng: RandomGenerator(seed: budget.seed).split("transfer-head"))
        let head = try headNames(source)
        var tensors: [String: Tensor<Float>] = [:]
        for (name, t) in source.stateDict() where name != head.weight && name != head.bias { tensors[name] = t }
        for (name, t) in model.stateDict() where name == head.weight || name == head.bias { tensors[name] = t }
        try model.load(named: tensors)
        return try self.train(model, on: train, test: test, learningRate: budget.finetuneLearningRate, budget: budget, mode: "finetune")
    }

    /// "finetune" of an ONNX graph: its head cannot change shape (the graph fixes the logits),
    /// so the target's classes must be among the graph's; the head is drawn anew as PyTorch
    /// initialises a Linear (uniform ±1/√D, seeded) and every parameter trained.
    static func finetuneGraph(source: Model, train: Dataset, test: Dataset, budget: Budget) throws -> Outcome {
        guard train.classes <= source.spec.classes else {
            throw TransferError.incompatible("finetune keeps an ONNX graph's \(source.spec.classes) logits, the target has \(train.classes) classes; use --mode fix (a new head on the graph's features)")
        }
        let head = try headNames(source)
        let model = source.copy()
        var rng = RandomGenerator(seed: budget.seed).split("transfer-head")
        var tensors: [String: Tensor<Float>] = [:]
        for (name, t) in model.stateDict() {
            guard name == head.weight || name == head.bias else { tensors[name] = t; continue }
            let fanIn = Double(model.namedParameters.first { $0.name == head.weight }?.shape.last ?? 1)
            let bound = 1 / max(fanIn, 1).squareRoot()
            tensors[name] = try Tensor(shape: t.shape, scalars: (0..<t.count).map { _ in Float((2 * rng.nextDouble() - 1) * bound) })
        }
        try model.load(named: tensors)
        return try self.train(model, on: train, test: test, learningRate: budget.finetuneLearningRate, budget: budget, mode: "finetune")
    }

    static func train(_ model: Model, on data: Dataset, test: Dataset, learningRate: Double, budget: Budget, mode: String) throws -> Outcome {
        let configuration = TrainingConfiguration(epochs: budget.epochs, batchSize: budget.batchSize,
                                                  schedule: .constant(learningRate), seed: budget.seed)
        let loop = try TrainingLoop(model: model, optimizer: try SGD(learningRate: learningRate, momentum: budget.momentum,
                                                                     weightDecay: budget.weightDecay),
                                    configuration: configuration)
        let history = try loop.train(on: data)
        let e = try model.evaluate(test, mode: .eval)
        guard e.loss.isFinite else {
            throw TransferError.incompatible("\(mode): the target loss diverged (NaN/∞) at learning rate \(learningRate); lower it")
        }
        return Outcome(mode: mode, targetAccuracy: e.accuracy, targetLoss: e.loss, finalTrainAccuracy: history.last?.trainAccuracy ?? 0)
    }
}
