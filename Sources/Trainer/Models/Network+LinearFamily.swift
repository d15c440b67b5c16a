import Tensors

/// Evaluating many points of one linear family θ = Σᵢ wᵢ·bᵢ (a segment, a Bézier curve, a plane,
/// a surface around a point) with the first layer's products shared between the points.
///
/// The layer that reads the data — a `Linear` or `Conv2d` at the start of a sequential network —
/// is linear in its own parameters, and its input does not depend on θ, so its output at θ is
/// Σᵢ wᵢ·zᵢ where zᵢ is its output at bᵢ (bias included: bᵢ's bias slice enters zᵢ with the
/// same weight). The zᵢ of a batch are computed once per basis vector; each point then costs
/// the combination of those outputs instead of the layer's product. For an MLP on images the
/// first layer is most of the arithmetic (784·512 of the 535 000 multiply-adds per sample of
/// 784-512-256-10). The result differs from evaluating θ directly only by float rounding.
extension Network {
    /// The layer that reads the network's input when it is a `Linear` or `Conv2d` reached
    /// through sequential containers (parameter-free `Flatten`s before it are skipped), else nil:
    /// residual roots and ONNX graphs read their input in more than one place.
    var leadingAffineLayer: (layer: Layer<Scalar>, offset: Int)? {
        func first(_ layer: Layer<Scalar>) -> (layer: Layer<Scalar>, offset: Int)? {
            switch layer {
            case .linear(let l): return (layer, l.parameterOffset)
            case .conv2d(let c): return (layer, c.parameterOffset)
            case .sequential(let s):
                for child in s.children {
                    if case .flatten = child.layer { continue }
                    return first(child.layer)
                }
                return nil
            default: return nil
            }
        }
        return first(root)
    }

    /// Elements per sample of the leading layer's output when `evaluate(_:weights:…)` can share
    /// that layer's products for this network, else nil.
    public var leadingOutputCount: Int? {
        guard let leading = leadingAffineLayer, let shape = leading.layer.outputShape(spec.inputShape) else { return nil }
        return shape.reduce(1, *)
    }

    /// `batch` made ready for evaluation at points of the family spanned by `basis`: the leading
    /// layer's output at every basis vector. Nil when the network has no such layer
    /// (`sharesLeadingProducts`).
    /// - Throws: `TrainerError` for a wrong input shape or a basis vector of the wrong length.
    @_specialize(exported: true, where Scalar == Float)
    public func prepare(_ batch: Batch<Scalar>, family basis: [Tensor<Scalar>]) throws(TrainerError) -> FamilyBatch<Scalar>? {
        guard let leading = leadingAffineLayer else { return nil }
        let shape = try validatedShape(batch.inputs)
        for b in basis { try validate(parameters: b) }
        let x = Dual(shape: shape, value: Buffer(batch.inputs), tangent: nil, constant: true)
        var outputs: [Buffer<Scalar>] = [], outputShape: [Int] = []
        for b in basis {
            withParameters(b) { theta in
                let pass = Pass(parameters: theta, direction: nil, gradient: nil, hvp: nil, buffers: bufferStorage.pointer, mode: .eval)
                let y = leading.layer.forward(x, pass, name: "", recorder: nil)
                outputs.append(y.value)
                outputShape = y.shape
            }
        }
        root.releaseCaches()
        return FamilyBatch(batch: batch, offset: leading.offset, outputs: outputs, outputShape: outputShape)
    }

    /// The loss and accuracy on a prepared batch at θ = Σᵢ weights[i]·basis[i], where
    /// `parameters` is that θ (the layers after the first read it): as `evaluate(_:loss:mode:at:)`
    /// at `parameters`, up to float rounding in the first layer's output.
    /// - Throws: `TrainerError` for `.train` mode (it would update running statistics), one
    ///   weight per basis vector, or a wrong parameter count.
    @_specialize(exported: true, where Scalar == Float)
    public func evaluate(_ prepared: FamilyBatch<Scalar>, weights: [Double], loss: LossFunction, mode: ForwardMode,
                         at parameters: Tensor<Scalar>) throws(TrainerError) -> Evaluation {
        guard mode != .train else { throw .invalidOption("a linear family is evaluated in eval or batch-statistics mode, not train") }
        guard weights.count == prepared.outputs.count, let n = prepared.outputs.first?.count else {
            throw .vectorLength(what: "family weights", expected: prepared.outputs.count, got: weights.count)
        }
        // Σ wᵢ·zᵢ over the non-zero weights, as `ParameterVectors.combine` skips them (so a
        // vertex, weight 1 on one vector, gets exactly that vector's output).
        let z = Buffer<Scalar>(count: n)
        for (w, y) in zip(weights, prepared.outputs) where w != 0 { axpy(n, Scalar(w), UnsafePointer(y.pointer), z.pointer) }
        let output = Dual(shape: prepared.outputShape, value: z, tangent: nil)
        return try run(prepared.batch, loss: loss, mode: mode, at: parameters, direction: nil, wantGradient: false,
                       leading: (prepared.offset, output)).evaluation
    }
}

/// A batch with its leading layer's output at each vector of a linear family's basis
/// (`Network.prepare(_:family:)`).
public struct FamilyBatch<Scalar: BLASScalar>: @unchecked Sendable {
    public let batch: Batch<Scalar>
    let offset: Int
    let outputs: [Buffer<Scalar>]
    let outputShape: [Int]
}
