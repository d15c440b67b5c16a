import Testing
import Tensors
@testable import Trainer

@Suite("Optimizers (hand-computed PyTorch semantics)")
struct OptimizerTests {
    func steps(_ o: inout some Optimizer, from start: [Float], gradient: [Float], count: Int, ranges: [Range<Int>]? = nil) throws -> [Float] {
        var theta = Tensor<Float>(vector: start)
        for _ in 0..<count { try o.step(parameters: &theta, gradient: Tensor(vector: gradient), ranges: ranges) }
        return theta.scalars
    }

    func close(_ a: [Float], _ b: [Float], _ tol: Float = 1e-6) -> Bool { zip(a, b).allSatisfy { abs($0 - $1) <= tol } }

    @Test("SGD with momentum and weight decay: two steps by hand")
    func sgdMomentumWeightDecay() throws {
        var o = try SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        // Step 1: d = g + λθ = [0.51, 0.48], b = d, θ = [0.949, −2.048].
        // Step 2: d = [0.50949, 0.47952], b = 0.9·b + d = [0.96849, 0.91152], θ = [0.852151, −2.139152].
        let theta = try steps(&o, from: [1, -2], gradient: [0.5, 0.5], count: 2)
        #expect(close(theta, [0.852151, -2.139152]), "\(theta)")
        #expect(o.stepCount == 2)
    }

    @Test("SGD with Nesterov momentum: two steps by hand")
    func sgdNesterov() throws {
        var o = try SGD(learningRate: 0.1, momentum: 0.9, nesterov: true)
        // b = 1, d = 1 + 0.9 = 1.9, θ = 0.81; b = 1.9, d = 1 + 1.71 = 2.71, θ = 0.539.
        #expect(close(try steps(&o, from: [1], gradient: [1], count: 2), [0.539]))
    }

    /// Vectors of 2¹⁵ elements and more are updated on the OpenMP team in parts: every element
    /// gets the hand-written recurrence's value exactly, on every thread count, frozen spans
    /// included (a span's parts start at its own lower bound).
    @Test("SGD over long vectors, updated in parallel parts, equals the per-element recurrence", arguments: [false, true])
    func sgdLongVectorsInParts(nesterov: Bool) throws {
        let n = 3 * SGD.parallelMinimum + 37
        var rng = RandomGenerator(seed: 3)
        let start = (0..<n).map { _ in Float(rng.nextDouble() * 2 - 1) }, g = (0..<n).map { _ in Float(rng.nextDouble() * 2 - 1) }
        let ranges = [5..<(SGD.parallelMinimum + 5), (SGD.parallelMinimum + 100)..<n]
        let (lr, mu, wd): (Float, Float, Float) = (0.1, 0.9, 0.01)
        var expected = start, momentum = [Float](repeating: 0, count: n)
        for step in 0..<3 {
            for r in ranges { for i in r {
                let d = g[i] + wd * expected[i]
                momentum[i] = step == 0 ? d : mu * momentum[i] + d
                expected[i] -= lr * (nesterov ? d + mu * momentum[i] : momentum[i])
            } }
        }
        for threads in [1, 2, 3] {
            var o = try SGD(learningRate: Double(lr), momentum: Double(mu), weightDecay: Double(wd), nesterov: nesterov)
            var parameters = Tensor<Float>(vector: start)
            for _ in 0..<3 { try o.step(parameters: &parameters, gradient: Tensor(vector: g), ranges: ranges, threads: threads) }
            let theta = parameters.scalars
            #expect(theta == expected, "\(threads) threads: \(zip(theta, expected).filter { $0 != $1 }.count) elements differ")
        }
    }

    @Test("plain SGD is θ − η·g")
    func plainSGD() throws {
        var o = try SGD(learningRate: 0.5)
        #expect(close(try steps(&o, from: [1, 2], gradient: [2, -2], count: 1), [0, 3]))
    }

    @Test("Adam under a constant gradient moves exactly η per step (bias correction)")
    func adamConstantGradient() throws {
        var o = try Adam(learningRate: 0.1)
        // m̂ = 2 and v̂ = 4 at every step, so each step is 0.1·2/(2 + 1e-8).
        #expect(close(try steps(&o, from: [1], gradient: [2], count: 2), [0.8], 1e-6))
    }

    @Test("frozen ranges are not updated, not decayed, and keep no momentum")
    func frozenRanges() throws {
        var o = try SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.1)
        let theta = try steps(&o, from: [1, 1], gradient: [1, 1], count: 3, ranges: [1..<2])
        #expect(theta[0] == 1)
        #expect(theta[1] < 1)
    }

    @Test("noisy GD with zero variance is GD; with noise it is reproducible from its seed")
    func noisyGradientDescent() throws {
        var quiet = try NoisyGradientDescent(learningRate: 0.5, noiseVariance: 0, rng: RandomGenerator(seed: 1))
        #expect(close(try steps(&quiet, from: [1], gradient: [2], count: 1), [0]))
        var a = try NoisyGradientDescent(learningRate: 0.1, noiseVariance: 1, rng: RandomGenerator(seed: 7))
        var b = try NoisyGradientDescent(learningRate: 0.1, noiseVariance: 1, rng: RandomGenerator(seed: 7))
        let ta = try steps(&a, from: [0, 0, 0], gradient: [0, 0, 0], count: 3)
        #expect(ta == (try steps(&b, from: [0, 0, 0], gradient: [0, 0, 0], count: 3)))
        #expect(ta != [0, 0, 0])
    }

    @Test("invalid hyper-parameters are rejected before training")
    func invalid() {
        #expect(throws: TrainerError.self) { try SGD(learningRate: -1) }
        #expect(throws: TrainerError.self) { try SGD(learningRate: 0.1, nesterov: true) }
        #expect(throws: TrainerError.self) { try Adam(beta1: 1) }
    }
}

@Suite("Learning-rate schedules (hand-computed values)")
struct ScheduleTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let schedule: LearningRateSchedule
        let points: [(iteration: Int, epoch: Int, expected: Double)]
        var perEpoch = 10
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "constant", schedule: .constant(0.3), points: [(0, 0, 0.3), (999, 99, 0.3)]),
        Case(name: "step ÷5 at 60 and 150 (paper 000)", schedule: .step(initial: 0.05, milestones: [60, 150], factor: 0.2, unit: .epoch),
             points: [(0, 59, 0.05), (0, 60, 0.01), (0, 149, 0.01), (0, 150, 0.002)]),
        Case(name: "linear", schedule: .linear(start: 1, end: 0, duration: 10, unit: .epoch), points: [(0, 0, 1), (0, 5, 0.5), (0, 20, 0)]),
        Case(name: "cosine", schedule: .cosine(etaMax: 1, etaMin: 0, period: 10, unit: .epoch), points: [(0, 0, 1), (0, 5, 0.5), (0, 10, 0), (0, 30, 0)]),
        Case(name: "SGDR T0=10 Tmult=2", schedule: .sgdr(t0: 10, tMult: 2, etaMin: 0, etaMax: 1, unit: .epoch),
             points: [(0, 0, 1), (0, 5, 0.5), (0, 10, 1), (0, 20, 0.5), (0, 30, 1), (0, 50, 0.5), (0, 70, 1)]),
        Case(name: "SGDR per iteration", schedule: .sgdr(t0: 1, tMult: 1, etaMin: 0, etaMax: 1, unit: .fractionalEpoch),
             points: [(5, 0, 0.5), (15, 1, 0.5), (20, 2, 1)]),
        Case(name: "warmup 4 iterations to 2", schedule: .warmup(iterations: 4, start: 0, then: .constant(2)),
             points: [(0, 0, 0.5), (1, 0, 1), (3, 0, 2), (4, 0, 2)]),
        Case(name: "warmup then step", schedule: .warmup(iterations: 10, start: 0,
                                                        then: .step(initial: 1, milestones: [2], factor: 0.1, unit: .epoch)),
             points: [(4, 0, 0.5), (10, 1, 1), (25, 2, 0.1)]),
        Case(name: "trapezoid", schedule: .trapezoid(low: 0, high: 1, end: 0, rise: 10, flat: 10, fall: 10, unit: .iteration),
             points: [(5, 0, 0.5), (15, 1, 1), (25, 2, 0.5), (40, 4, 0)]),
        Case(name: "triangular CLR", schedule: .triangular(base: 0.1, max: 1, stepSize: 10, unit: .iteration),
             points: [(0, 0, 0.1), (5, 0, 0.55), (10, 1, 1), (15, 1, 0.55), (20, 2, 0.1), (30, 3, 1)]),
        Case(name: "scaled", schedule: .scaled(factor: 0.1, .constant(2)), points: [(0, 0, 0.2)]),
    ]

    @Test("schedule values", arguments: cases)
    func values(_ c: Case) {
        for p in c.points {
            let lr = c.schedule.learningRate(at: TrainingTime(iteration: p.iteration, epoch: p.epoch, iterationsPerEpoch: c.perEpoch))
            #expect(abs(lr - p.expected) < 1e-12, "\(c.name) at iteration \(p.iteration), epoch \(p.epoch): \(lr) ≠ \(p.expected)")
        }
    }

    @Test("schedules round-trip through JSON", arguments: cases)
    func codable(_ c: Case) throws {
        let data = try JSONEncoder().encode(c.schedule)
        #expect(try JSONDecoder().decode(LearningRateSchedule.self, from: data) == c.schedule)
    }

    @Test("AutoDecay: bias-corrected average, decay on a significant plateau, stop on a flat stage")
    func autoDecay() throws {
        var a = try AutoDecay(beta: 0.9, window: 3, tolerance: 0.01, drop: 0.9, factor: 0.1)
        #expect(a.observe(loss: 2) == .continue)
        #expect(a.observe(loss: 1) == .continue)
        // ĝ(2) = (0.9·0.2 + 0.1)/(1 − 0.81) = 0.28/0.19.
        #expect(abs((a.smoothedLoss ?? 0) - 0.28 / 0.19) < 1e-12)
        var action = AutoDecay.Action.continue
        var observations = 0
        while action == .continue && observations < 200 { action = a.observe(loss: 1); observations += 1 }
        #expect(action == .decay)
        #expect(a.scale == 0.1 && a.decays == 1)
        // The new stage starts flat at 1: stable after the window, no drop → stop.
        #expect(a.observe(loss: 1) == .continue)
        #expect(a.observe(loss: 1) == .continue)
        #expect(a.observe(loss: 1) == .stop)
    }
}

import Foundation
