import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors
import Trainer

/// The learning-rate schedule of curve training.
public enum CurveSchedule: String, Codable, Sendable, CaseIterable, ExpressibleByArgument {
    /// lr for the first 50% of steps, linear decay to 1% of it by 90%, then 1% (Garipov et al.'s
    /// `learning_rate_schedule`).
    case garipov
    /// lr throughout.
    case constant
}

/// How the bends are trained (every field changes the curve; all are recorded).
public struct CurveTrainingSettings: Codable, Sendable, Equatable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Double
    public var momentum: Double
    /// L2 penalty (wd/2)·‖φ_θ(t)‖² on the curve point, as Garipov et al. regularise the curve.
    public var weightDecay: Double
    public var schedule: CurveSchedule
    /// Converged when the last epoch's mean curve loss changed by at most this fraction.
    public var tolerance: Double
    /// Forward mode while training: `batch statistics` for BN models, `eval` otherwise.
    public var forwardMode: String

    public func learningRate(atFraction f: Double) -> Double {
        guard schedule == .garipov else { return learningRate }
        if f <= 0.5 { return learningRate }
        if f <= 0.9 { return learningRate * (1 - (f - 0.5) / 0.4 * 0.99) }
        return learningRate * 0.01
    }
}

/// What the iterative curve training did: never a silent stop.
public struct CurveTrainingReport: Codable, Sendable {
    public var iterations: Int
    public var epochs: Int
    /// Mean minibatch loss L(φ_θ(t)) over each epoch's steps, `[epochs]`.
    public var epochLosses: [Double]
    /// The last epoch's mean loss.
    public var finalLoss: Double
    /// |L_last − L_previous| / L_previous.
    public var finalRelativeChange: Double?
    public var converged: Bool
}

/// Trains the bends θ of a curve between fixed endpoints (paper 001 section 2; Garipov et al.
/// 2018, arXiv:1802.10026): minimise ℓ(θ) = E_{t~U(0,1)} L(φ_θ(t)) by SGD with momentum, using
/// ∇_θ L(φ_θ(t)) at one t drawn per step as an unbiased estimate of ∇ℓ. Bends start evenly spaced
/// on the segment (one bend: (w_a + w_b)/2).
public enum PolychainConnector {
    /// - Parameters:
    ///   - model: the architecture; its stored θ and buffers are not changed (evaluation uses `at:`).
    ///   - a, b: endpoint parameters `[parameterCount]`.
    ///   - rng: draws t and the minibatch order.
    /// - Returns: the trained bends `[bends][parameterCount]` and the training report.
    public static func train(model: Model, a: Tensor<Float>, b: Tensor<Float>, shape: CurveShape, data: Dataset,
                             settings: CurveTrainingSettings, rng: RandomGenerator,
                             progress: ProgressReporter?) throws -> (bends: [Tensor<Float>], report: CurveTrainingReport) {
        var bends = shape.initialBends(a, b)
        guard !bends.isEmpty else { return ([], CurveTrainingReport(iterations: 0, epochs: 0, epochLosses: [], finalLoss: .nan, finalRelativeChange: nil, converged: true)) }
        let n = a.count
        var velocity = bends.map { _ in [Float](repeating: 0, count: n) }
        let perEpoch = max(1, (data.count + settings.batchSize - 1) / settings.batchSize)
        let total = perEpoch * settings.epochs
        let mode: ForwardMode = model.namedBuffers.isEmpty ? .eval : .batchStatistics
        var order = rng.split("order")
        var draws = rng.split("t")
        var epochLosses: [Double] = []
        var step = 0
        progress?.start("connect: training \(shape.description)", total: total)
        for _ in 0..<settings.epochs {
            let perm = order.permutation(data.count)
            var sum = 0.0
            for k in 0..<perEpoch {
                let idx = Array(perm[(k * settings.batchSize)..<min((k + 1) * settings.batchSize, data.count)])
                let t = draws.nextDouble()
                let w = shape.weights(at: t)
                let phi = ParameterVectors.combine([a] + bends + [b], weights: w)
                let g = try model.gradient(data.batch(idx), loss: .crossEntropy, mode: mode, at: phi)
                guard g.evaluation.loss.isFinite else {
                    throw AnalysisError.diverged(analysis: "connect", detail: "the curve loss became \(g.evaluation.loss) at step \(step + 1) (t = \(t))",
                                                 hint: "lower --lr (was \(settings.learningRate))")
                }
                sum += g.evaluation.loss
                let lr = Float(settings.learningRate(atFraction: Double(step) / Double(total)))
                let mu = Float(settings.momentum), wd = Float(settings.weightDecay)
                // ∂L(φ)/∂θⱼ = w_{j+1}(t)·(∇L(φ) + wd·φ); PyTorch SGD: v ← μv + g, θ ← θ − lr·v.
                g.gradient.withUnsafeBufferPointer { gp in
                    phi.withUnsafeBufferPointer { pp in
                        for j in bends.indices where w[j + 1] != 0 {
                            let wj = Float(w[j + 1])
                            velocity[j].withUnsafeMutableBufferPointer { v in
                                bends[j].withUnsafeMutableBufferPointer { th in
                                    for i in 0..<n {
                                        v[i] = mu * v[i] + wj * (gp[i] + wd * pp[i])
                                        th[i] -= lr * v[i]
                                    }
                                }
                            }
                        }
                    }
                }
                step += 1
                progress?.advance()
            }
            epochLosses.append(sum / Double(perEpoch))
        }
        progress?.finish()
        let last = epochLosses.last ?? .nan
        let change = epochLosses.count >= 2 ? abs(last - epochLosses[epochLosses.count - 2]) / max(abs(epochLosses[epochLosses.count - 2]), 1e-12) : nil
        let report = CurveTrainingReport(iterations: step, epochs: settings.epochs, epochLosses: epochLosses, finalLoss: last,
                                         finalRelativeChange: change, converged: change.map { $0 <= settings.tolerance } ?? false)
        return (bends, report)
    }
}
