import Foundation

/// Where training is, for a schedule: the global iteration (0-based, counting every optimizer
/// step), the epoch (0-based) and the number of iterations per epoch.
public struct TrainingTime: Sendable, Equatable {
    public var iteration: Int
    public var epoch: Int
    public var iterationsPerEpoch: Int

    public init(iteration: Int, epoch: Int, iterationsPerEpoch: Int) {
        self.iteration = iteration
        self.epoch = epoch
        self.iterationsPerEpoch = iterationsPerEpoch
    }

    /// The time in `unit`: iterations, whole epochs, or epochs with the fraction done of the
    /// current one (epoch + (iteration mod per-epoch)/per-epoch: per-iteration SGDR).
    public func value(in unit: TimeUnit) -> Double {
        switch unit {
        case .iteration: return Double(iteration)
        case .epoch: return Double(epoch)
        case .fractionalEpoch:
            let per = Swift.max(iterationsPerEpoch, 1)
            return Double(epoch) + Double(iteration % per) / Double(per)
        }
    }
}

/// The clock a schedule reads.
public enum TimeUnit: String, Codable, Sendable, CaseIterable {
    case iteration
    case epoch
    case fractionalEpoch
}

/// A learning rate as a function of training time; composable through `warmup(…, then:)` and `scaled`.
///
/// Every case is a pure function of `TrainingTime`, so a resumed run gets the same rates.
/// Names and parameters follow the papers (`sgdr(t0:tMult:etaMin:etaMax:)` is Loshchilov & Hutter 2017).
public indirect enum LearningRateSchedule: Codable, Equatable, Sendable {
    /// η.
    case constant(Double)
    /// η₀·factor^k where k counts the milestones ≤ t (PyTorch `MultiStepLR`; paper 000 divides by 5
    /// at epochs 60 and 150: `factor` 0.2).
    case step(initial: Double, milestones: [Int], factor: Double, unit: TimeUnit)
    /// From `start` to `end` linearly over `duration`, then `end`.
    case linear(start: Double, end: Double, duration: Int, unit: TimeUnit)
    /// η_min + ½(η_max − η_min)(1 + cos(π·min(t, T)/T)) (cosine annealing over one period T).
    case cosine(etaMax: Double, etaMin: Double, period: Int, unit: TimeUnit)
    /// SGDR: cosine annealing restarted at the end of each period, periods T₀, T₀·T_mult, T₀·T_mult², …
    /// (in epochs; `.fractionalEpoch` anneals every iteration, `.epoch` once per epoch).
    case sgdr(t0: Int, tMult: Int, etaMin: Double, etaMax: Double, unit: TimeUnit)
    /// Linear warmup over the first `iterations` optimizer steps, then `then`:
    /// η(i) = start + (then(i) − start)·(i + 1)/N for i < N, so the last warmup step reaches `then`.
    case warmup(iterations: Int, start: Double, then: LearningRateSchedule)
    /// Paper 002's trapezoid: `low` → `high` linearly over `rise`, flat for `flat`, then to `end` over `fall`.
    case trapezoid(low: Double, high: Double, end: Double, rise: Int, flat: Int, fall: Int, unit: TimeUnit)
    /// Triangular cyclical learning rate (Smith 2017): up from `base` to `max` over `stepSize`, down
    /// over `stepSize`, repeated; η = base + (max − base)·max(0, 1 − |t/s − 2c + 1|), c = ⌊1 + t/(2s)⌋.
    case triangular(base: Double, max: Double, stepSize: Int, unit: TimeUnit)
    /// `factor` times another schedule (e.g. AutoDecay's decays applied on top).
    case scaled(factor: Double, LearningRateSchedule)

    /// The learning rate at `time`.
    public func learningRate(at time: TrainingTime) -> Double {
        switch self {
        case .constant(let eta):
            return eta
        case let .step(initial, milestones, factor, unit):
            let t = time.value(in: unit)
            let passed = milestones.filter { Double($0) <= t }.count
            return initial * pow(factor, Double(passed))
        case let .linear(start, end, duration, unit):
            let fraction = duration <= 0 ? 1 : Swift.min(time.value(in: unit) / Double(duration), 1)
            return start + (end - start) * fraction
        case let .cosine(etaMax, etaMin, period, unit):
            let t = Swift.min(time.value(in: unit), Double(Swift.max(period, 1)))
            return etaMin + 0.5 * (etaMax - etaMin) * (1 + cos(Double.pi * t / Double(Swift.max(period, 1))))
        case let .sgdr(t0, tMult, etaMin, etaMax, unit):
            var t = time.value(in: unit)
            var period = Double(Swift.max(t0, 1))
            while t >= period {
                t -= period
                period *= Double(Swift.max(tMult, 1))
            }
            return etaMin + 0.5 * (etaMax - etaMin) * (1 + cos(Double.pi * t / period))
        case let .warmup(iterations, start, then):
            let target = then.learningRate(at: time)
            guard time.iteration < iterations else { return target }
            return start + (target - start) * Double(time.iteration + 1) / Double(iterations)
        case let .trapezoid(low, high, end, rise, flat, fall, unit):
            let t = time.value(in: unit)
            if t < Double(rise) { return low + (high - low) * t / Double(rise) }
            if t < Double(rise + flat) { return high }
            let down = fall <= 0 ? 1 : Swift.min((t - Double(rise + flat)) / Double(fall), 1)
            return high + (end - high) * down
        case let .triangular(base, maximum, stepSize, unit):
            let s = Double(Swift.max(stepSize, 1)), t = time.value(in: unit)
            let cycle = (1 + t / (2 * s)).rounded(.down)
            let x = abs(t / s - 2 * cycle + 1)
            return base + (maximum - base) * Swift.max(0, 1 - x)
        case let .scaled(factor, inner):
            return factor * inner.learningRate(at: time)
        }
    }
}
