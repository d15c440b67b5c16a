import ArgumentParser
import Foundation
import Tensors
import Trainer

/// How `align` and `barrier --align` match B's hidden units to A's.
public enum AlignmentMethod: String, Codable, Sendable, CaseIterable, ExpressibleByArgument {
    /// Weight matching: coordinate descent over the groups, one assignment per step (no data).
    case weights
    /// Activation matching: correlation of the units' activations on a data sample.
    case activations
}

/// What an alignment found, as results record it.
public struct AlignmentSummary: Codable, Sendable {
    public struct GroupSummary: Codable, Sendable {
        public var name: String
        public var size: Int
        /// Permuted axes (tensor:axis) of the group.
        public var tensors: [String]
        /// Units that moved (π(i) ≠ i).
        public var moved: Int
        /// Activation matching: mean correlation of matched units before and after.
        public var correlationBefore: Double?
        public var correlationAfter: Double?
    }
    public var method: AlignmentMethod
    public var groups: [GroupSummary]
    /// Weight matching: sweeps over the groups, whether the last changed nothing, and
    /// Σ⟨W_A, π(W_B)⟩ before and after.
    public var sweeps: Int?
    public var converged: Bool?
    public var objectiveBefore: Double?
    public var objectiveAfter: Double?
    /// Activation matching: samples the correlations were computed on.
    public var samples: Int?
    public var seed: UInt64
    /// ‖θ_A − θ_B‖₂ and ‖θ_A − π(θ_B)‖₂.
    public var distanceBefore: Double
    public var distanceAfter: Double
    /// cos(θ_A, θ_B) and cos(θ_A, π(θ_B)).
    public var cosineBefore: Double
    public var cosineAfter: Double
    /// max |logits(π(B)) − logits(B)| / max(1, max |logits(B)|) on the check batch: the permuted
    /// network computes B's function (float32 sums in another order differ by rounding only).
    public var functionCheckRelativeDifference: Double
    public var functionCheckSamples: Int
}

/// B permuted onto A: the permutations, the aligned network and its summary.
public struct PermutationAlignment {
    public var groups: PermutationGroups
    public var permutations: [[Int]]
    public var aligned: Model
    public var summary: AlignmentSummary

    /// Aligns `b` to `a`.
    /// - Parameters:
    ///   - data: inputs for activation matching (and the function check); nil uses seeded
    ///     Gaussian inputs for the check and refuses activation matching.
    ///   - samples: how many of `data`'s samples activation matching correlates (all if fewer).
    /// - Throws: `AnalysisError` naming `pathA`/`pathB` when the models differ or cannot be aligned.
    public static func align(_ a: Model, _ pathA: String, _ b: Model, _ pathB: String, method: AlignmentMethod, data: Dataset?,
                             samples: Int = 2000, seed: UInt64, maxSweeps: Int = 100,
                             progress: ProgressReporter? = nil) throws -> PermutationAlignment {
        try LandscapeCheckpoints.requireCompatible(a, pathA, b, pathB)
        let groups: PermutationGroups
        do { groups = try b.permutationGroups() } catch { throw AnalysisError.unusable(path: pathB, detail: "\(error)") }
        guard !groups.groups.isEmpty else {
            throw AnalysisError.unusable(path: pathB, detail: "the model has no hidden units to permute")
        }
        let parameterNames = Set(a.namedParameters.map(\.name))
        let stateA = Dictionary(a.stateDict().map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
        let stateB = Dictionary(b.stateDict().map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
        var summaryParts: (sweeps: Int?, converged: Bool?, before: Double?, after: Double?, samples: Int?,
                           corrBefore: [Double]?, corrAfter: [Double]?) = (nil, nil, nil, nil, nil, nil, nil)
        let permutations: [[Int]]
        switch method {
        case .weights:
            var shown = 0
            let outcome = try WeightMatching.match(groups, a: stateA.filter { parameterNames.contains($0.key) },
                                                   b: stateB.filter { parameterNames.contains($0.key) }, seed: seed,
                                                   maxSweeps: maxSweeps) { sweep, step in
                if sweep != shown {
                    if shown > 0 { progress?.finish() }
                    progress?.start("align: weight matching, sweep \(sweep)", total: groups.groups.count)
                    shown = sweep
                }
                progress?.set(step + 1)
            }
            if shown > 0 { progress?.finish() }
            permutations = outcome.permutations
            summaryParts.sweeps = outcome.sweeps; summaryParts.converged = outcome.converged
            summaryParts.before = outcome.objectiveBefore; summaryParts.after = outcome.objectiveAfter
        case .activations:
            guard let data else {
                throw AnalysisError.unusable(path: pathB, detail: "activation matching needs data (--data, or checkpoints of a run whose run.json names it)")
            }
            let batches = Self.batches(data, samples: samples, seed: seed)
            progress?.start("align (activation matching, \(min(samples, data.count)) samples)", total: batches.count)
            let outcome = try ActivationMatching.match(groups, a: a, b: b, inputs: batches) { progress?.set($0) }
            progress?.finish()
            permutations = outcome.permutations
            summaryParts.samples = outcome.samples
            summaryParts.corrBefore = outcome.correlationBefore; summaryParts.corrAfter = outcome.correlationAfter
        }
        let aligned = try Self.apply(groups, permutations, to: b, path: pathB, state: stateB)
        // The permuted network must compute B's function: checked on data (or seeded noise).
        let check: Tensor<Float>
        if let data, let first = Self.batches(data, samples: 256, seed: seed).first { check = first } else {
            check = Self.noise(shape: b.spec.inputShape, count: 64, seed: seed)
        }
        let lb = try b.logits(check, mode: .eval), lp = try aligned.logits(check, mode: .eval)
        let scale = lb.scalars.reduce(1.0) { max($0, Double(abs($1))) }
        let diff = zip(lb.scalars, lp.scalars).reduce(0.0) { max($0, Double(abs($1.0 - $1.1))) } / scale
        let ta = a.parameters, tb = b.parameters, tp = aligned.parameters
        let groupSummaries = groups.groups.enumerated().map { g, group in
            AlignmentSummary.GroupSummary(name: group.name, size: group.size, tensors: group.axes.map { "\($0.tensor):\($0.axis)" },
                                          moved: permutations[g].enumerated().filter { $0.offset != $0.element }.count,
                                          correlationBefore: summaryParts.corrBefore?[g], correlationAfter: summaryParts.corrAfter?[g])
        }
        let summary = AlignmentSummary(method: method, groups: groupSummaries, sweeps: summaryParts.sweeps, converged: summaryParts.converged,
                                       objectiveBefore: summaryParts.before, objectiveAfter: summaryParts.after, samples: summaryParts.samples,
                                       seed: seed, distanceBefore: ParameterVectors.distance(ta, tb), distanceAfter: ParameterVectors.distance(ta, tp),
                                       cosineBefore: cosine(ta, tb), cosineAfter: cosine(ta, tp),
                                       functionCheckRelativeDifference: diff, functionCheckSamples: check.shape.first ?? 0)
        return PermutationAlignment(groups: groups, permutations: permutations, aligned: aligned, summary: summary)
    }

    /// `b` with `permutations` applied to every tensor of every group (running statistics too).
    /// - Parameter state: `b`'s state dict by name when the caller already has it.
    public static func apply(_ groups: PermutationGroups, _ permutations: [[Int]], to b: Model, path: String,
                             state known: [String: Tensor<Float>]? = nil) throws -> Model {
        let state = known ?? Dictionary(b.stateDict().map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
        let out = b.copy()
        do { try out.load(named: try groups.apply(permutations, to: state)) } catch {
            throw AnalysisError.unusable(path: path, detail: "permuting the checkpoint's tensors failed: \(error)")
        }
        return out
    }

    /// The first `samples` of a seeded permutation of `data`, in batches of 250 inputs.
    static func batches(_ data: Dataset, samples: Int, seed: UInt64) -> [Tensor<Float>] {
        var rng = RandomGenerator(seed: seed).split("align-samples")
        let chosen = Array(rng.permutation(data.count).prefix(max(0, samples)))
        return stride(from: 0, to: chosen.count, by: 250).map { start in
            data.batch(Array(chosen[start..<min(start + 250, chosen.count)])).inputs
        }
    }

    static func noise(shape: [Int], count: Int, seed: UInt64) -> Tensor<Float> {
        var rng = RandomGenerator(seed: seed).split("align-check")
        let n = count * shape.reduce(1, *)
        return (try? Tensor(shape: [count] + shape, scalars: (0..<n).map { _ in rng.uniform(-1, 1) })) ?? Tensor(zeros: [count] + shape)
    }

    static func cosine(_ x: Tensor<Float>, _ y: Tensor<Float>) -> Double {
        var xy = 0.0, xx = 0.0, yy = 0.0
        for (p, q) in zip(x.scalars, y.scalars) { xy += Double(p) * Double(q); xx += Double(p) * Double(p); yy += Double(q) * Double(q) }
        return xx > 0 && yy > 0 ? xy / (xx * yy).squareRoot() : 0
    }
}
