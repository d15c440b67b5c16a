import Foundation
import Tensors
import Trainer

/// One point of a landscape, θ = Σᵢ weights[i]·basis[i] — the vectors of the family it lies in
/// (a segment's ends, a curve's control points, a plane's three models, a surface's centre and
/// directions) — and, for `--bn interpolate`, the running statistics to use there
/// `[bufferCount]` (nil: the model's own buffers). Points that share their basis vectors (the
/// same tensors) are evaluated together, sharing the first layer's products
/// (`LossEvaluator.evaluate(count:progress:point:)`).
public struct LandscapePoint: @unchecked Sendable {
    public var basis: [Tensor<Float>]
    public var weights: [Double]
    public var buffers: Tensor<Float>?
    /// The point θ itself (a family of one vector).
    public init(parameters: Tensor<Float>, buffers: Tensor<Float>? = nil) {
        basis = [parameters]; weights = [1]; self.buffers = buffers
    }
    /// The point Σᵢ weights[i]·basis[i]; one weight per vector, all vectors of one length.
    public init(combining basis: [Tensor<Float>], weights: [Double], buffers: Tensor<Float>? = nil) {
        precondition(basis.count == weights.count && !basis.isEmpty, "LandscapePoint: one weight per basis vector")
        self.basis = basis; self.weights = weights; self.buffers = buffers
    }
    /// θ, `[parameterCount]` (`ParameterVectors.combine`, in double, rounded once).
    public var parameters: Tensor<Float> {
        basis.count == 1 && weights[0] == 1 ? basis[0] : ParameterVectors.combine(basis, weights: weights)
    }
    /// The basis vectors' storage, to find points of one family.
    var familyKey: [Int] {
        basis.map { v in v.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } } + [basis.first?.count ?? 0]
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

    /// Bytes of first-layer outputs a family's evaluation holds at once; data beyond it is
    /// evaluated in chunks (the points' θ then formed once per chunk).
    public var familyMemoryBudget = 512 << 20

    /// `[count][splits.count]` values at the points `point(0)…point(count − 1)`. Advances
    /// `progress` once per point.
    ///
    /// Points of one family (the same basis tensors, two or more of them) share the first layer's
    /// products when the network starts with a `Linear` or `Conv2d` (`Network.prepare(_:family:)`)
    /// and its statistics need no per-point pass (no BN, or `--bn interpolate`/`batch`): each
    /// batch's first-layer output at every basis vector is computed once and every point combines
    /// them. Whether a point goes that way depends on the point alone, so a shard's points have
    /// the bits of an unsharded run's. Other points are evaluated one by one (`evaluate(_:)`), θ
    /// formed when its worker reaches it, so a large grid never holds every θ at once.
    public func evaluate(count: Int, progress: ProgressReporter? = nil,
                         point: @Sendable (Int) throws -> LandscapePoint) throws -> [[SplitValue]] {
        let points = try (0..<count).map(point)
        var singles: [Int] = [], families: [[Int]] = [], index: [[Int]: Int] = [:]
        let shares = prototype.leadingOutputCount != nil && !(hasBatchNorm && policy == .recompute)
        for (i, p) in points.enumerated() {
            guard shares, p.basis.count >= 2 else { singles.append(i); continue }
            if let f = index[p.familyKey] { families[f].append(i) } else { index[p.familyKey] = families.count; families.append([i]) }
        }
        var values = [[SplitValue]](repeating: [], count: count)
        let one = singles
        let single = try parallelMap(one.count, threads: threads) { k in
            let v = try self.evaluate(points[one[k]])
            progress?.advance()
            return v
        }
        for (k, i) in singles.enumerated() { values[i] = single[k] }
        for family in families {
            let v = try evaluate(family: family.map { points[$0] }, progress: progress)
            for (k, i) in family.enumerated() { values[i] = v[k] }
        }
        return values
    }

    /// Values at points that share one basis, the first layer's products computed once per batch.
    private func evaluate(family points: [LandscapePoint], progress: ProgressReporter?) throws -> [[SplitValue]] {
        guard let basis = points.first?.basis, let perSample = prototype.leadingOutputCount else { return [] }
        let mode: ForwardMode = hasBatchNorm && policy == .batch ? .batchStatistics : .eval
        // Every split's batches in order, grouped into chunks whose first-layer outputs fit the budget.
        let batches: [(split: Int, rows: Range<Int>)] = splits.enumerated().flatMap { s, split in
            stride(from: 0, to: split.data.count, by: batchSize).map { (s, $0..<min($0 + batchSize, split.data.count)) }
        }
        let (elements, overflow) = basis.count.multipliedReportingOverflow(by: max(perSample, 1))
        let (bytesPerRow, overflowBytes) = elements.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        let rowsPerChunk = overflow || overflowBytes ? batchSize : max(batchSize, familyMemoryBudget / max(bytesPerRow, 1))
        var chunks: [Range<Int>] = [], start = 0, rows = 0
        for (j, b) in batches.enumerated() {
            if rows + b.rows.count > rowsPerChunk, j > start { chunks.append(start..<j); start = j; rows = 0 }
            rows += b.rows.count
        }
        if start < batches.count || chunks.isEmpty { chunks.append(start..<batches.count) }
        // Running sums per point and split, added batch by batch in order as `Model.evaluate` does.
        var totals = [[(loss: Double, correct: Int)]](repeating: Array(repeating: (0, 0), count: splits.count), count: points.count)
        for (c, chunk) in chunks.enumerated() {
            let prepared = try parallelMap(chunk.count, threads: threads) { j -> FamilyBatch<Float> in
                let b = batches[chunk.lowerBound + j], model = self.checkout()
                defer { self.checkin(model) }
                let batch = self.splits[b.split].data.batch(Array(b.rows))
                guard let p = try model.prepare(batch, family: basis) else {
                    throw TrainerError.invalidOption("the model's first layer cannot be shared between points")
                }
                return p
            }
            let before = totals, last = c == chunks.count - 1
            totals = try parallelMap(points.count, threads: threads) { k in
                let p = points[k], model = self.checkout()
                defer { self.checkin(model) }
                if self.hasBatchNorm, self.policy == .interpolate { try model.setBuffers(p.buffers ?? self.prototype.buffers) }
                let theta = p.parameters
                var sums = before[k]
                for (j, pb) in prepared.enumerated() {
                    let s = batches[chunk.lowerBound + j].split
                    let e = try model.evaluate(pb, weights: p.weights, loss: .crossEntropy, mode: mode, at: theta)
                    sums[s].loss += e.loss * Double(e.count)
                    sums[s].correct += e.correct
                }
                if last { progress?.advance() }
                return sums
            }
        }
        return totals.map { sums in
            zip(sums, splits).map { t, split in
                let n = split.data.count
                return SplitValue(loss: n == 0 ? 0 : t.loss / Double(n), accuracy: n == 0 ? 0 : Double(t.correct) / Double(n))
            }
        }
    }

    /// Values at one point, `[splits.count]`.
    public func evaluate(_ point: LandscapePoint) throws -> [SplitValue] {
        let model = checkout()
        defer { checkin(model) }
        let theta = point.parameters
        var mode = ForwardMode.eval
        if hasBatchNorm {
            switch policy {
            case .recompute:
                try model.recomputeBatchNormStatistics(statisticsData, batchSize: batchSize, at: theta)
            case .interpolate:
                try model.setBuffers(point.buffers ?? prototype.buffers)
            case .batch:
                mode = .batchStatistics
            }
        }
        return try splits.map { split in
            let e = try model.evaluate(split.data, mode: mode, batchSize: batchSize, at: theta)
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
