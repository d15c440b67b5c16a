import Foundation
import Tensors
import Trainer

/// Networks lent to worker threads (a network caches activations and is not thread-safe).
private final class ModelPool: @unchecked Sendable {
    private var free: [Model]
    private let lock = NSLock()
    init(_ model: Model, copies: Int) { free = [model] + (0..<max(copies - 1, 0)).map { _ in model.copy() } }
    func borrow() -> Model {
        lock.lock(); defer { lock.unlock() }
        // The pool starts with one network per worker, so it is never empty while workers borrow.
        guard let m = free.popLast() else { preconditionFailure("ModelPool: more borrowers than networks") }
        return m
    }
    func giveBack(_ m: Model) { lock.lock(); free.append(m); lock.unlock() }
}

/// The Hessian of the mean training loss, H = ∇²[(1/N)·Σ ℓ(f(xₙ; θ), yₙ)] (+ wd·I), as a
/// `SymmetricOperator` on float64 vectors.
///
/// Each product is the trainer's exact Pearlmutter R-op in float32 (no finite differences),
/// batch by batch: H·v = (1/N)·Σ_j B_j·H_j·v. Batches are fixed by `batchSize` and summed in
/// batch order whatever the thread count, so results do not depend on `threads`. With
/// `.batchStatistics` the Hessian is that of the loss with each batch normalised by its own
/// statistics, so it depends on `batchSize` (recorded in the result).
public enum HessianOperator {
    /// - Parameters:
    ///   - model: the network at θ (θ and buffers are read, never changed).
    ///   - data: the samples the loss averages over.
    ///   - weightDecay: adds wd·I, the Hessian of (wd/2)·‖θ‖² (PyTorch's `weight_decay` term).
    ///   - counter: called after each product (progress).
    public static func make(model: Model, data: Dataset, loss: LossFunction = .crossEntropy, mode: ForwardMode,
                            batchSize: Int, weightDecay: Double, threads: Int,
                            counter: (@Sendable () -> Void)? = nil) -> SymmetricOperator {
        let n = model.parameterCount
        let theta = model.parameters
        let batches = stride(from: 0, to: data.count, by: max(batchSize, 1)).map { Array($0..<min($0 + batchSize, data.count)) }
        let pool = ModelPool(model, copies: min(threads, batches.count))
        return SymmetricOperator(dimension: n) { x in
            let v = Tensor<Float>(vector: x.map { Float($0) })
            let parts: [[Float]] = try parallelMap(batches.count, threads: threads) { b in
                let m = pool.borrow()
                defer { pool.giveBack(m) }
                // H·v without the gradient: the same bits, a fifth less arithmetic on an MLP.
                let r = try m.hessianVectorProductOnly(data.batch(batches[b]), direction: v, loss: loss, mode: mode, at: theta)
                return r.product.scalars
            }
            // Sum in float64, in batch order.
            var y = [Double](repeating: 0, count: n)
            for (b, part) in parts.enumerated() {
                let w = Double(batches[b].count) / Double(max(data.count, 1))
                for i in 0..<n { y[i] += w * Double(part[i]) }
            }
            if weightDecay != 0 { Vec.axpy(weightDecay, x, &y) }
            counter?()
            return y
        }
    }
}
