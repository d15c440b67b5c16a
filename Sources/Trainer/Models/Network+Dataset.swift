import Tensors

extension Network where Scalar == Float {
    /// Loss and accuracy over a whole dataset, in batches of `batchSize` (the batch-weighted mean,
    /// i.e. the full-data loss whatever the batch size, except through BN batch statistics).
    /// - Parameter indices: the samples to use (nil: all), e.g. a dataset group such as `noisy`.
    public func evaluate(_ data: Dataset, loss: LossFunction = .crossEntropy, mode: ForwardMode, batchSize: Int = 500,
                         indices: [Int]? = nil, at parameters: Tensor<Float>? = nil) throws(TrainerError) -> Evaluation {
        let all = indices ?? Array(0..<data.count)
        var total = 0.0, correct = 0
        for start in stride(from: 0, to: all.count, by: Swift.max(batchSize, 1)) {
            let chunk = Array(all[start..<Swift.min(start + batchSize, all.count)])
            let e = try evaluate(data.batch(chunk), loss: loss, mode: mode, at: parameters)
            total += e.loss * Double(chunk.count)
            correct += e.correct
        }
        return Evaluation(loss: all.isEmpty ? 0 : total / Double(all.count), correct: correct, count: all.count)
    }

    /// The full-data gradient ∇L = (1/N)·Σ over batches of B_j·∇L_j, in batches of `batchSize`.
    public func gradient(_ data: Dataset, loss: LossFunction = .crossEntropy, mode: ForwardMode, batchSize: Int = 500,
                         at parameters: Tensor<Float>? = nil) throws(TrainerError) -> GradientResult<Float> {
        var sum = Tensor<Float>(zeros: [parameterCount])
        var total = 0.0, correct = 0
        for start in stride(from: 0, to: data.count, by: Swift.max(batchSize, 1)) {
            let chunk = Array(start..<Swift.min(start + batchSize, data.count))
            let r = try gradient(data.batch(chunk), loss: loss, mode: mode, at: parameters)
            do { try sum.add(r.gradient, scaledBy: Float(chunk.count)) } catch { preconditionFailure("\(error)") }
            total += r.evaluation.loss * Double(chunk.count)
            correct += r.evaluation.correct
        }
        if data.count > 0 { sum.scale(by: 1 / Float(data.count)) }
        return GradientResult(evaluation: Evaluation(loss: data.count == 0 ? 0 : total / Double(data.count), correct: correct,
                                                     count: data.count), gradient: sum)
    }
}
