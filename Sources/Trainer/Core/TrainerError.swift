/// Failures of model construction, loading and evaluation; each names what was expected.
public enum TrainerError: Error, Equatable, CustomStringConvertible {
    /// A model spec that cannot be built (e.g. VGG on images too small for its five pools).
    case invalidSpec(String)
    /// A layer whose input shape does not fit it.
    case incompatibleShape(layer: String, input: [Int])
    /// A batch whose inputs do not have the model's per-sample shape.
    case inputShape(expected: [Int], got: [Int])
    /// Labels that do not match the batch or the number of classes.
    case labels(String)
    /// A flat vector of the wrong length.
    case vectorLength(what: String, expected: Int, got: Int)
    /// A named tensor absent from a state dict being loaded.
    case missingTensor(name: String, expectedShape: [Int])
    /// A named tensor present with the wrong shape.
    case tensorShape(name: String, expected: [Int], got: [Int])
    /// A state dict holding tensors the model does not have.
    case unexpectedTensors([String])
    /// A malformed data file or dataset specification.
    case dataset(String)
    /// A bad optimizer, schedule or training option.
    case invalidOption(String)
    /// An ONNX graph could not be evaluated (the message names the file and the node).
    case graph(String)
    /// The loss stopped being a finite number (`epoch` and `iteration` 1-based: the step or epoch
    /// end where it was first seen).
    case diverged(what: String, value: Double, epoch: Int, iteration: Int, learningRate: Double)

    public var description: String {
        switch self {
        case .invalidSpec(let m): return "invalid model spec: \(m)"
        case let .incompatibleShape(layer, input): return "layer \(layer) cannot take input of shape \(input)"
        case let .inputShape(expected, got): return "inputs must have shape [batch] + \(expected), got \(got)"
        case .labels(let m): return "bad labels: \(m)"
        case let .vectorLength(what, expected, got): return "\(what) must have \(expected) elements, got \(got)"
        case let .missingTensor(name, shape): return "missing tensor \(name) (expected shape \(shape))"
        case let .tensorShape(name, expected, got): return "tensor \(name) has shape \(got), expected \(expected)"
        case .unexpectedTensors(let names): return "unexpected tensors: \(names.joined(separator: ", "))"
        case .dataset(let m): return "dataset: \(m)"
        case .invalidOption(let m): return "invalid option: \(m)"
        case .graph(let m): return m
        case let .diverged(what, value, epoch, iteration, lr):
            return "training diverged: the \(what) is \(value) at epoch \(epoch), iteration \(iteration) (learning rate \(lr)); "
                + "the run keeps the epochs saved before it — lower the learning rate (or add warmup) and train into a new folder"
        }
    }
}
