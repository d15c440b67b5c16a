import Foundation
import Tensors
import Trainer

/// One point of a landscape: parameters θ `[parameterCount]` and, for `--bn interpolate`, the
/// running statistics to use there `[bufferCount]` (nil: the model's own buffers).
public struct LandscapePoint: @unchecked Sendable {
    public var parameters: Tensor<Float>
    public var buffers: Tensor<Float>?
    public init(parameters: Tensor<Float>, buffers: Tensor<Float>? = nil) {
        self.parameters = parameters; self.buffers = buffers
    }
}

/// Loss and accuracy on one split at one point.
public struct SplitValue: Codable, Sendable, Equatable {
    public var loss: Double
    public var accuracy: Double
}

/// The shared loss evaluator: full-split (or subset) loss and accuracy at many parameter vectors.
///
/// Every forward pass goes through the model's batched layers (GEMM / im2col GEMM), in batches of
/// `batchSize`. Points are spread over `threads` workers with BLAS single-threaded (`parallelMap`),
/// each worker on its own copy of the model, because evaluating different points is embarrassingly
/// parallel while one small GEMM does not scale to two threads. Nothing is cached between calls:
/// BN statistics are recomputed or set for every point, so results never depend on call order.
public final class LossEvaluator: @unchecked Sendable {
    public let prototype: Model
    /// The splits every point is evaluated on, in order (`train`, `val`).
    public let splits: [(name: String, data: Dataset)]
    /// Training data for `--bn recompute`.
    public let statisticsData: Dataset
    public let policy: BatchNormPolicy
    public let batchSize: Int
    public let threads: Int
    public let hasBatchNorm: Bool
    private var pool: [Model] = []
    private let lock = NSLock()

    public init(model: Model, splits: [(name: String, data: Dataset)], statisticsData: Dataset, policy: BatchNormPolicy,
                batchSize: Int, threads: Int) {
        prototype = model.copy()
        self.splits = splits; self.statisticsData = statisticsData; self.policy = policy
        self.batchSize = max(1, batchSize); self.threads = max(1, threads)
        hasBatchNorm = !model.namedBuffers.isEmpty
    }

    /// `[count][splits.count]` values at the points `point(0)…point(count − 1)` (made lazily, so a
    /// 21×21 grid never holds 441 parameter vectors at once). Advances `progress` once per point.
    public func evaluate(count: Int, progress: ProgressReporter? = nil,
                         point: @Sendable (Int) throws -> LandscapePoint) throws -> [[SplitValue]] {
        try parallelMap(count, threads: threads) { i in
            let values = try self.evaluate(try point(i))
            progress?.advance()
            return values
        }
    }

    /// Values at one point, `[splits.count]`.
    public func evaluate(_ point: LandscapePoint) throws -> [SplitValue] {
        let model = checkout()
        defer { checkin(model) }
        var mode = ForwardMode.eval
        if hasBatchNorm {
            switch policy {
            case .recompute:
                try model.recomputeBatchNormStatistics(statisticsData, batchSize: batchSize, at: point.parameters)
            case .interpolate:
                try model.setBuffers(point.buffers ?? prototype.buffers)
            case .batch:
                mode = .batchStatistics
            }
        }
        return try splits.map { split in
            let e = try model.evaluate(split.data, mode: mode, batchSize: batchSize, at: point.parameters)
            return SplitValue(loss: e.loss, accuracy: e.accuracy)
        }
    }

    /// Running statistics Σ wᵢ·bᵢ for `--bn interpolate` (nil when the model has none or another
    /// policy is used); `running_var` is clamped at 1e-5 so extrapolated plane points stay defined.
    public func combineBuffers(_ buffers: [Tensor<Float>], weights: [Double]) -> Tensor<Float>? {
        guard hasBatchNorm, policy == .interpolate else { return nil }
        var out = ParameterVectors.combine(buffers, weights: weights)
        var offset = 0
        out.withUnsafeMutableBufferPointer { p in
            for b in prototype.namedBuffers {
                let n = b.shape.reduce(1, *)
                if b.name.hasSuffix("running_var") { for i in offset..<(offset + n) { p[i] = max(p[i], 1e-5) } }
                offset += n
            }
        }
        return out
    }

    private func checkout() -> Model {
        lock.lock(); defer { lock.unlock() }
        return pool.popLast() ?? prototype.copy()
    }

    private func checkin(_ model: Model) {
        lock.lock(); defer { lock.unlock() }
        pool.append(model)
    }
}
