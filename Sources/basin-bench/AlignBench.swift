import Analyzers
import CheckpointFormat
import Foundation
import Tensors
import Trainer

/// `make bench` section `align` (issue 16): weight matching of two independently initialised
/// networks — an MLP 784-512-512-512-10 (Ainsworth et al.'s MNIST MLP) and a VGG-16 for 32×32
/// images — and one 512×512 linear assignment. Each network's tensors, its permutation groups,
/// the group order of every sweep and Basin's permutations go to
/// $BASIN_BENCH_DIR/basin-bench-align/<model>/ for bench/scipy_align_reference.py, which runs
/// git-re-basin's `weight_matching` (NumPy products, `scipy.optimize.linear_sum_assignment`) in the
/// same order, checks it finds the same permutations, and times it.
enum AlignBench {
    static func run(directory: String, quick: Bool) throws {
        let root = directory + "/basin-bench-align"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let models: [(String, String, ModelSpec)] = [
            ("mlp", "MLP 784-512-512-512-10", .mlp(inputShape: [784], widths: [512, 512, 512], classes: 10)),
            ("vgg16", "VGG-16 (32×32, no BN)", .vgg(depth: 16, inputShape: [3, 32, 32], classes: 10, widthMultiplier: quick ? 0.25 : 1)),
        ]
        for (key, label, spec) in models {
            let folder = root + "/" + key
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let a = try Model(spec: spec, rng: RandomGenerator(seed: 21)), b = try Model(spec: spec, rng: RandomGenerator(seed: 22))
            let groups = try a.permutationGroups()
            let names = Set(a.namedParameters.map(\.name))
            let sa = Dictionary(a.stateDict().filter { names.contains($0.name) }.map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
            let sb = Dictionary(b.stateDict().filter { names.contains($0.name) }.map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
            var outcome: WeightMatching.Outcome?
            let times = try timings(quick ? 1 : 3) { outcome = try WeightMatching.match(groups, a: sa, b: sb, seed: 5) }
            guard let o = outcome else { continue }
            row("align (weight matching), \(label)", String(format: "%7.2f s  (%d sweeps, %d groups, %d params)",
                                                            median(times), o.sweeps, groups.groups.count, a.parameterCount))
            Results.record(section: "align", key: "weights-\(key)", workload: "align by weight matching, \(label), two random inits",
                           seconds: times, note: "\(o.sweeps) sweeps, \(groups.groups.count) groups")
            for (name, t) in sa { try NPYFile.write(NDArray(t), to: folder + "/a.\(name).npy") }
            for (name, t) in sb { try NPYFile.write(NDArray(t), to: folder + "/b.\(name).npy") }
            struct Record: Encodable {
                var groups: PermutationGroups, orders: [[Int]], permutations: [[Int]], objectiveAfter: Double, sweeps: Int
            }
            try JSONEncoder().encode(Record(groups: groups, orders: o.orders, permutations: o.permutations, objectiveAfter: o.objectiveAfter,
                                            sweeps: o.sweeps)).write(to: URL(fileURLWithPath: folder + "/basin.json"))
        }
        // The assignment solver alone: a dense 512×512 similarity (one MLP layer's).
        var rng = RandomGenerator(seed: 23)
        let n = 512
        let scores = (0..<(n * n)).map { _ in rng.nextDouble() }
        var best: [Int] = []
        let times = try timings(quick ? 1 : 5) { best = try LinearAssignment.maximizing(scores, size: n) }
        row("linear assignment 512×512 (maximise)", String(format: "%7.3f s", median(times)))
        Results.record(section: "align", key: "lap-512", workload: "linear assignment, dense 512 × 512 (uniform scores)", seconds: times)
        try NPYFile.write(NDArray(Tensor<Double>(vector: scores)), to: root + "/lap-scores.npy")
        try NPYFile.write(NDArray(Tensor<Double>(vector: best.map(Double.init))), to: root + "/lap-assignment.npy")
    }
}
