import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// Issue 16 item 3: the assignment solver against brute force, permutation groups that keep the
/// function, and both matching methods recovering a known permutation exactly.
@Suite("Alignment: assignment, permutation groups, weight and activation matching")
struct AlignmentTests {
    // MARK: Linear assignment

    static func bruteForce(_ c: [Double], _ n: Int) -> (best: Double, assignment: [Int]) {
        var best = Double.infinity, arg: [Int] = []
        func visit(_ prefix: [Int], _ used: Set<Int>, _ total: Double) {
            if prefix.count == n { if total < best { best = total; arg = prefix }; return }
            let i = prefix.count
            for j in 0..<n where !used.contains(j) { visit(prefix + [j], used.union([j]), total + c[i * n + j]) }
        }
        visit([], [], 0)
        return (best, arg)
    }

    @Test func assignmentEqualsBruteForceOnHundredsOfRandomMatrices() throws {
        var rng = RandomGenerator(seed: 16)
        for trial in 0..<400 {
            let n = trial < 300 ? 6 : 1 + rng.nextInt(below: 6)
            // Continuous costs (a unique optimum) and small integers (ties everywhere).
            let integer = trial % 4 == 3
            let c = (0..<(n * n)).map { _ in integer ? Double(rng.nextInt(below: 4)) : rng.nextDouble() * 20 - 10 }
            let σ = try LinearAssignment.minimizing(c, size: n)
            #expect(Set(σ) == Set(0..<n) && σ.count == n)
            let (best, arg) = Self.bruteForce(c, n)
            let total = LinearAssignment.total(c, size: n, assignment: σ)
            #expect(abs(total - best) <= 1e-12 * max(1, abs(best)), "trial \(trial): \(total) vs brute force \(best)")
            if !integer { #expect(σ == arg, "trial \(trial)") }
            // Maximising is minimising the negation.
            let μ = try LinearAssignment.maximizing(c, size: n)
            #expect(abs(LinearAssignment.total(c, size: n, assignment: μ) - (-Self.bruteForce(c.map { -$0 }, n).best)) <= 1e-9)
        }
    }

    @Test func assignmentEdgesAndRefusals() throws {
        #expect(try LinearAssignment.minimizing([], size: 0) == [])
        #expect(try LinearAssignment.minimizing([5], size: 1) == [0])
        #expect(try LinearAssignment.maximizing([1, 0, 0, 1], size: 2) == [0, 1])
        #expect(try LinearAssignment.minimizing([1, 0, 0, 1], size: 2) == [1, 0])
        #expect(throws: LinearAssignment.InvalidCost.self) { try LinearAssignment.minimizing([1, .nan, 0, 1], size: 2) }
        #expect(throws: LinearAssignment.InvalidCost.self) { try LinearAssignment.minimizing([1, 2, 3], size: 2) }
        // A 300×300 permutation matrix is found exactly (the solver's scale in practice).
        var rng = RandomGenerator(seed: 2)
        let π = rng.permutation(300)
        var c = [Double](repeating: 0, count: 300 * 300)
        for (i, j) in π.enumerated() { c[i * 300 + j] = 1 }
        #expect(try LinearAssignment.maximizing(c, size: 300) == π)
    }

    // MARK: Permutation groups

    /// Every parameter and buffer random (running variances positive), so a tensor left out of
    /// its group changes the function.
    static func randomized(_ spec: ModelSpec, seed: UInt64) throws -> Model {
        let m = try Model(spec: spec, rng: RandomGenerator(seed: seed))
        var rng = RandomGenerator(seed: seed).split("randomize")
        var state: [String: Tensor<Float>] = [:]
        for (name, t) in m.stateDict() {
            let v: [Float] = (0..<t.count).map { _ in
                if name.hasSuffix("running_var") { return rng.uniform(0.5, 2) }
                if name.hasSuffix("num_batches_tracked") { return 7 }
                if name.hasSuffix("bn1.weight") || name.hasSuffix("bn2.weight") || name.contains("shortcut.1.weight") { return rng.uniform(0.5, 1.5) }
                return rng.uniform(-0.5, 0.5)
            }
            state[name] = try Tensor(shape: t.shape, scalars: v)
        }
        try m.load(named: state)
        return m
    }

    static let specs: [(String, ModelSpec)] = [
        ("mlp", .mlp(inputShape: [1, 6, 6], widths: [12, 10], classes: 4)),
        ("shallow-cnn", .shallowCNN(inputShape: [1, 8, 8], classes: 3, widths: [4, 6, 16, 8])),
        ("vgg11", .vgg(depth: 11, inputShape: [3, 32, 32], classes: 5, widthMultiplier: 1.0 / 16)),
        ("vgg11-bn", .vgg(depth: 11, inputShape: [3, 32, 32], classes: 5, widthMultiplier: 1.0 / 16, batchNorm: true)),
        ("resnet8", .resnet(depth: 8, inputShape: [3, 16, 16], classes: 4, widthMultiplier: 0.5)),
        ("resnet14", .resnet(depth: 14, inputShape: [3, 8, 8], classes: 4, widthMultiplier: 0.25)),
    ]

    static func randomPermutations(_ groups: PermutationGroups, seed: UInt64) -> [[Int]] {
        var rng = RandomGenerator(seed: seed).split("true-permutation")
        return groups.groups.map { rng.permutation($0.size) }
    }

    static func permutedCopy(_ model: Model, _ groups: PermutationGroups, _ π: [[Int]]) throws -> Model {
        try PermutationAlignment.apply(groups, π, to: model, path: "B")
    }

    static func inputs(_ spec: ModelSpec, count: Int, seed: UInt64) throws -> Tensor<Float> {
        var rng = RandomGenerator(seed: seed)
        let n = count * spec.inputShape.reduce(1, *)
        return try Tensor(shape: [count] + spec.inputShape, scalars: (0..<n).map { _ in rng.uniform(-1, 1) })
    }

    static func maxDifference(_ x: Tensor<Float>, _ y: Tensor<Float>) -> Float {
        zip(x.scalars, y.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    @Test(arguments: AlignmentTests.specs.map(\.0))
    func groupsCoverTheArchitectureAndAPermutedCopyComputesTheSameFunction(kind: String) throws {
        let spec = try #require(Self.specs.first { $0.0 == kind }?.1)
        let model = try Self.randomized(spec, seed: 1)
        let groups = try model.permutationGroups()
        // Groups by architecture: one per hidden layer; a residual stage shares one stream group.
        switch kind {
        case "mlp": #expect(groups.groups.map(\.size) == [12, 10])
        case "shallow-cnn": #expect(groups.groups.map(\.size) == [4, 6, 16, 8])
            #expect(groups.groups[1].axes.contains { $0.tensor == "classifier.0.weight" && $0.axis == 1 && $0.block == 4 })
        case "vgg11", "vgg11-bn": #expect(groups.groups.count == 8 + 2)
        case "resnet8": #expect(groups.groups.map(\.size) == [8, 8, 16, 16, 32, 32])  // stream, block 1 middle, …
        default: break
        }
        if kind.hasPrefix("resnet") {
            // Stream groups hold the stem, every block's conv2/bn2 and the shortcuts of that stage.
            let stream = try #require(groups.groups.first { $0.name == "conv1" })
            #expect(stream.axes.contains { $0.tensor == "layer1.0.bn2.running_mean" })
            #expect(stream.axes.contains { $0.tensor == "layer2.0.shortcut.0.weight" && $0.axis == 1 })
            #expect(!groups.groups.contains { g in g.axes.contains { $0.tensor == "linear.weight" && $0.axis == 0 } })
        }
        // Every parameter and buffer of a hidden layer is in some group (the output layer's bias is not).
        let touched = Set(groups.groups.flatMap { $0.axes.map(\.tensor) })
        let output = model.namedParameters.last?.name
        for (name, shape) in model.namedParameters + model.namedBuffers where !shape.isEmpty && name != output {
            #expect(touched.contains(name), "\(name) is permuted by no group")
        }
        let π = Self.randomPermutations(groups, seed: 5)
        let copy = try Self.permutedCopy(model, groups, π)
        #expect(ParameterVectors.distance(model.parameters, copy.parameters) > 0.1, "the permutation moved nothing")
        let x = try Self.inputs(spec, count: 16, seed: 9)
        let (y0, y1) = (try model.logits(x, mode: .eval), try copy.logits(x, mode: .eval))
        let scale = y0.scalars.reduce(0) { max($0, abs($1)) }
        #expect(Self.maxDifference(y0, y1) <= 1e-5 * max(1, scale), "\(kind): the permuted copy computes another function")
        // Batch statistics too (train mode): BN permutes with its channels.
        #expect(Self.maxDifference(try model.logits(x, mode: .batchStatistics), try copy.logits(x, mode: .batchStatistics)) <= 1e-4 * max(1, scale))
    }

    static func inverse(_ π: [Int]) -> [Int] {
        var out = [Int](repeating: 0, count: π.count)
        for (i, j) in π.enumerated() { out[j] = i }
        return out
    }

    @Test(arguments: AlignmentTests.specs.map(\.0), AlignmentMethod.allCases)
    func bothMethodsRecoverARandomPermutationExactly(kind: String, method: AlignmentMethod) throws {
        let spec = try #require(Self.specs.first { $0.0 == kind }?.1)
        let a = try Self.randomized(spec, seed: 11)
        let groups = try a.permutationGroups()
        let π = Self.randomPermutations(groups, seed: 12)
        let b = try Self.permutedCopy(a, groups, π)
        let data = try Dataset(name: "noise", inputs: Self.inputs(spec, count: 300, seed: 13), labels: Array(repeating: 0, count: 300),
                               classes: spec.classes)
        let result = try PermutationAlignment.align(a, "A", b, "B", method: method, data: data, samples: 300, seed: 4)
        #expect(result.permutations == π.map(Self.inverse), "\(kind), \(method): the permutation was not recovered")
        #expect(result.aligned.parameters == a.parameters)
        #expect(result.aligned.buffers == a.buffers)
        #expect(result.summary.distanceAfter == 0 && result.summary.distanceBefore > 0)
        #expect(result.summary.functionCheckRelativeDifference <= 1e-4)
        if method == .weights { #expect(result.summary.converged == true) }
    }

    @Test func weightMatchingIsSeededAndImprovesTheObjectiveOnUnrelatedNetworks() throws {
        let spec = ModelSpec.mlp(inputShape: [20], widths: [32, 24], classes: 5)
        let a = try Self.randomized(spec, seed: 1), b = try Self.randomized(spec, seed: 2)
        let r1 = try PermutationAlignment.align(a, "A", b, "B", method: .weights, data: nil, seed: 3)
        let r2 = try PermutationAlignment.align(a, "A", b, "B", method: .weights, data: nil, seed: 3)
        #expect(r1.permutations == r2.permutations)
        let s = r1.summary
        #expect(try #require(s.objectiveAfter) > (try #require(s.objectiveBefore)))
        #expect(s.distanceAfter < s.distanceBefore && s.cosineAfter > s.cosineBefore)
        #expect(s.functionCheckRelativeDifference <= 1e-4)
        // A fixed point: no single group's assignment improves the objective further.
        let groups = try a.permutationGroups()
        let names = Set(a.namedParameters.map(\.name))
        let sa = Dictionary(a.stateDict().filter { names.contains($0.name) }.map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
        let sp = Dictionary(r1.aligned.stateDict().filter { names.contains($0.name) }.map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
        let again = try WeightMatching.match(groups, a: sa, b: sp, seed: 9)
        #expect(again.permutations == groups.groups.map { Array(0..<$0.size) })
    }

    @Test(arguments: ["vgg11-bn", "resnet14", "shallow-cnn"])
    func skippingUnchangedGroupsGivesTheSameResultAsRecomputingEveryStep(kind: String) throws {
        let spec = try #require(Self.specs.first { $0.0 == kind }?.1)
        let a = try Self.randomized(spec, seed: 31), b = try Self.randomized(spec, seed: 32)
        let groups = try a.permutationGroups()
        let names = Set(a.namedParameters.map(\.name))
        func state(_ m: Model) -> [String: Tensor<Float>] {
            Dictionary(m.stateDict().filter { names.contains($0.name) }.map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
        }
        let fast = try WeightMatching.match(groups, a: state(a), b: state(b), seed: 3)
        let full = try WeightMatching.match(groups, a: state(a), b: state(b), seed: 3, skipUnchanged: false)
        #expect(fast.permutations == full.permutations && fast.sweeps == full.sweeps && fast.objectiveAfter == full.objectiveAfter)
        #expect(fast.sweeps > 1, "\(kind): more than one sweep, so something was skipped")
    }

    @Test func permutationsOfTheWrongSizeAndMismatchedNetworksAreRefused() throws {
        let a = try Self.randomized(.mlp(inputShape: [4], widths: [3], classes: 2), seed: 1)
        let groups = try a.permutationGroups()
        #expect(throws: TrainerError.self) { try groups.apply([[0, 1]], to: Dictionary(uniqueKeysWithValues: a.stateDict().map { ($0.name, $0.tensor) })) }
        #expect(throws: TrainerError.self) { try groups.apply([[0, 0, 1]], to: Dictionary(uniqueKeysWithValues: a.stateDict().map { ($0.name, $0.tensor) })) }
        let other = try Self.randomized(.mlp(inputShape: [4], widths: [5], classes: 2), seed: 1)
        #expect(throws: (any Error).self) { try PermutationAlignment.align(a, "A.ckpt", other, "B.ckpt", method: .weights, data: nil, seed: 0) }
        #expect(throws: (any Error).self) { try PermutationAlignment.align(a, "A.ckpt", a, "B.ckpt", method: .activations, data: nil, seed: 0) }
    }
}
