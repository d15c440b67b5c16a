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
            do { try sum.add(r.gradient, scaledBy: Float(chunk.count)) } catch {
                throw .vectorLength(what: "batch gradient", expected: parameterCount, got: r.gradient.count)
            }
            total += r.evaluation.loss * Double(chunk.count)
            correct += r.evaluation.correct
        }
        if data.count > 0 { sum.scale(by: 1 / Float(data.count)) }
        return GradientResult(evaluation: Evaluation(loss: data.count == 0 ? 0 : total / Double(data.count), correct: correct,
                                                     count: data.count), gradient: sum)
    }
}

extension Network where Scalar == Float {
    /// The full-data Hessian-vector product H·v = (1/N)·Σ_j B_j·H_j·v over batches of `batchSize`
    /// (exact per batch; with `.eval` the batch split does not change the result).
    public func hessianVectorProduct(_ data: Dataset, direction: Tensor<Float>, loss: LossFunction = .crossEntropy,
                                     mode: ForwardMode, batchSize: Int = 500,
                                     at parameters: Tensor<Float>? = nil) throws(TrainerError) -> HessianVectorResult<Float> {
        var g = Tensor<Float>(zeros: [parameterCount]), hv = Tensor<Float>(zeros: [parameterCount])
        var total = 0.0, correct = 0
        for start in stride(from: 0, to: data.count, by: Swift.max(batchSize, 1)) {
            let chunk = Array(start..<Swift.min(start + batchSize, data.count))
            let r = try hessianVectorProduct(data.batch(chunk), direction: direction, loss: loss, mode: mode, at: parameters)
            do {
                try g.add(r.gradient, scaledBy: Float(chunk.count))
                try hv.add(r.hessianVectorProduct, scaledBy: Float(chunk.count))
            } catch {
                throw .vectorLength(what: "batch Hessian-vector product", expected: parameterCount, got: r.hessianVectorProduct.count)
            }
            total += r.evaluation.loss * Double(chunk.count)
            correct += r.evaluation.correct
        }
        if data.count > 0 { g.scale(by: 1 / Float(data.count)); hv.scale(by: 1 / Float(data.count)) }
        return HessianVectorResult(evaluation: Evaluation(loss: data.count == 0 ? 0 : total / Double(data.count), correct: correct,
                                                          count: data.count), gradient: g, hessianVectorProduct: hv)
    }

    /// Recomputes every batch-norm layer's running statistics at θ from scratch, as the cumulative
    /// average over `data` (Garipov et al. 2018's `update_bn`, needed at points on a curve whose
    /// statistics were never collected): running stats are reset, then each batch updates them with
    /// momentum B_j/(seen + B_j), so the result is the sample-weighted mean of the batch statistics.
    /// Only buffers change; θ (stored or given) is read, never written.
    public func recomputeBatchNormStatistics(_ data: Dataset, batchSize: Int = 500,
                                             at parameters: Tensor<Float>? = nil) throws(TrainerError) {
        var layers: [BatchNorm<Float>] = []
        var graphs: [GraphLayer<Float>] = []
        root.visitLeaves(prefix: "") { _, layer in
            if case .batchNorm(let bn) = layer { layers.append(bn) }
            if case .graph(let g) = layer, !g.statistics.isEmpty { graphs.append(g) }
        }
        guard !layers.isEmpty || !graphs.isEmpty else { return }
        defer { for g in graphs { g.momentumOverride = nil } }
        for g in graphs { g.resetStatistics(bufferStorage.pointer) }
        let saved = layers.map(\.momentum)
        defer { for (bn, m) in zip(layers, saved) { bn.momentum = m } }
        for bn in layers {
            (bufferStorage.pointer + bn.bufferOffset).update(repeating: 0, count: bn.channels)
            (bufferStorage.pointer + bn.bufferOffset + bn.channels).update(repeating: 1, count: bn.channels)
        }
        var seen = 0
        for start in stride(from: 0, to: data.count, by: Swift.max(batchSize, 1)) {
            let chunk = Array(start..<Swift.min(start + batchSize, data.count))
            for bn in layers { bn.momentum = Float(chunk.count) / Float(seen + chunk.count) }
            for g in graphs { g.momentumOverride = Float(chunk.count) / Float(seen + chunk.count) }
            _ = try logits(data.batch(chunk).inputs, mode: .train, at: parameters)
            seen += chunk.count
        }
    }
}
