import Tensors
import Trainer

/// Weight matching (Ainsworth et al. 2023, "Git Re-Basin", Algorithm 1): the permutations of B's
/// hidden units that maximise Σ over every permuted tensor of ⟨W_A, π(W_B)⟩.
///
/// Coordinate descent over the groups: with every other group's permutation held, the objective
/// is linear in one group's permutation — Σ_{axes of the group} W_A(unit i) · π₋(W_B)(unit j) with
/// π₋ applying the other groups to the tensor's other axes — so each step is one linear
/// assignment. Groups are visited in a seeded random order each sweep; a group's permutation
/// changes only when the assignment strictly improves the objective, and the sweeps stop at the
/// first one that changes nothing (a fixed point: no single group can improve), or after
/// `maxSweeps`. The products are float64 GEMMs of the tensors with the group's axis moved first.
public enum WeightMatching {
    public struct Outcome: Sendable {
        public var permutations: [[Int]]
        /// Sweeps run, the last being the one that changed nothing (or `maxSweeps`).
        public var sweeps: Int
        public var converged: Bool
        /// Σ ⟨W_A, π(W_B)⟩ over the permuted tensors, before (identity) and after.
        public var objectiveBefore: Double
        public var objectiveAfter: Double
        /// The order the groups were visited in, sweep by sweep (seeded).
        public var orders: [[Int]]
    }

    /// - Parameters:
    ///   - a, b: the two networks' trainable tensors by state-dict name (not their running statistics).
    ///   - skipUnchanged: skip a group whose neighbours did not change since it was last solved
    ///     (the same result; false recomputes every step, as git-re-basin does — for tests).
    public static func match(_ groups: PermutationGroups, a: [String: Tensor<Float>], b: [String: Tensor<Float>],
                             seed: UInt64, maxSweeps: Int = 100, skipUnchanged: Bool = true,
                             progress: ((_ sweep: Int, _ step: Int) -> Void)? = nil) throws -> Outcome {
        let axesOf = tensorAxes(groups)
        var perms = groups.groups.map { Array(0..<$0.size) }
        let aD = doubles(a, names: axesOf.keys), bD = doubles(b, names: axesOf.keys)
        if let missing = aD.keys.sorted().first(where: { bD[$0] == nil }) {
            throw AnalysisError.unusable(path: missing, detail: "the second checkpoint lacks tensor '\(missing)'")
        }
        let before = try objective(groups, aD, bD, perms, axesOf)
        var rng = RandomGenerator(seed: seed).split("weight-matching")
        var sweeps = 0, converged = false, orders: [[Int]] = []
        // Groups that share a tensor with each group, how often each group's permutation changed,
        // and the neighbours' change counts when each group was last solved.
        var neighbours = [Set<Int>](repeating: [], count: groups.groups.count)
        for axes in axesOf.values { for x in axes { for y in axes where y.group != x.group { neighbours[x.group].insert(y.group) } } }
        let neighbourList = neighbours.map { $0.sorted() }
        // A group permuting two axes of one tensor depends on itself: always recomputed.
        var selfDependent = [Bool](repeating: false, count: groups.groups.count)
        for axes in axesOf.values { for (k, x) in axes.enumerated() where axes[(k + 1)...].contains(where: { $0.group == x.group }) { selfDependent[x.group] = true } }
        var changes = [Int](repeating: 0, count: groups.groups.count)
        var lastSeen = [[Int]?](repeating: nil, count: groups.groups.count)
        var unitsFirstA: [String: [Double]] = [:]
        var products = groups.groups.map { [(versions: [Int], matrix: [Double])?](repeating: nil, count: $0.axes.count) }
        while sweeps < maxSweeps {
            sweeps += 1
            var changed = false
            var order = Array(groups.groups.indices)
            order.shuffle(using: &rng)
            orders.append(order)
            for (step, g) in order.enumerated() {
                progress?(sweeps, step)
                // S_g depends only on the permutations of the groups sharing a tensor with g. When
                // none of them changed since g was last solved, S_g and its best assignment are what
                // they were — and g's permutation already is that assignment — so the step would
                // change nothing: skipped, with the same result as recomputing it.
                let seen = neighbourList[g].map { changes[$0] }
                if skipUnchanged, !selfDependent[g], let last = lastSeen[g], last == seen { continue }
                lastSeen[g] = seen
                let n = groups.groups[g].size
                // S_g as the sum, in the group's axis order, of one product per axis; a product
                // depends only on the permutations of its tensor's other axes, so it is kept and
                // reused until one of those changes (a bias's or batch norm's never does).
                var score = [Double](repeating: 0, count: n * n)
                for (k, axis) in groups.groups[g].axes.enumerated() {
                    let versions = (axesOf[axis.tensor] ?? []).filter { $0.axis != axis.axis }.map { changes[$0.group] }
                    let product: [Double]
                    if skipUnchanged, let kept = products[g][k], kept.versions == versions {
                        product = kept.matrix
                    } else {
                        guard let p = try contribution(group: g, axis: axis, groups, aD, bD, perms, axesOf, unitsFirstA: &unitsFirstA) else { continue }
                        product = p
                        if skipUnchanged { products[g][k] = (versions, p) }
                    }
                    for i in score.indices { score[i] += product[i] }
                }
                let old = LinearAssignment.total(score, size: n, assignment: perms[g])
                let best = try LinearAssignment.maximizing(score, size: n)
                let new = LinearAssignment.total(score, size: n, assignment: best)
                if new > old + 1e-12 * max(1, abs(old)) { perms[g] = best; changed = true; changes[g] += 1 }
            }
            if !changed { converged = true; break }
        }
        let after = try objective(groups, aD, bD, perms, axesOf)
        return Outcome(permutations: perms, sweeps: sweeps, converged: converged, objectiveBefore: before, objectiveAfter: after, orders: orders)
    }

    /// For each tensor a group touches: (group, axis, block) of every permuted axis of it.
    static func tensorAxes(_ groups: PermutationGroups) -> [String: [(group: Int, axis: Int, block: Int)]] {
        var out: [String: [(group: Int, axis: Int, block: Int)]] = [:]
        for (g, group) in groups.groups.enumerated() {
            for a in group.axes { out[a.tensor, default: []].append((g, a.axis, a.block)) }
        }
        return out
    }

    /// The tensors among `names` that `tensors` holds, in float64. The caller passes trainable
    /// parameters only: running statistics are permuted with their layer but do not score a match.
    static func doubles(_ tensors: [String: Tensor<Float>], names: some Sequence<String>) -> [String: Tensor<Double>] {
        var out: [String: Tensor<Double>] = [:]
        for name in names { if let t = tensors[name] { out[name] = Tensor(converting: t) } }
        return out
    }

    /// B's tensor with every group's permutation applied except on `skipAxis`.
    static func permuted(_ name: String, _ b: [String: Tensor<Double>], _ perms: [[Int]],
                         _ axesOf: [String: [(group: Int, axis: Int, block: Int)]], skipAxis: Int?) throws -> Tensor<Double> {
        guard var t = b[name] else { throw AnalysisError.unusable(path: name, detail: "the second checkpoint lacks tensor '\(name)'") }
        for a in axesOf[name] ?? [] where a.axis != skipAxis {
            t = try PermutationGroups.permute(t, name: name, axis: a.axis, block: a.block, by: perms[a.group])
        }
        return t
    }

    /// `t` as a matrix [units, everything else] with `axis` (in units of `block`) moved first.
    static func unitsFirst(_ t: Tensor<Double>, axis: Int, block: Int, units: Int) -> [Double] {
        let outer = t.shape[..<axis].reduce(1, *)
        let inner = t.shape[(axis + 1)...].reduce(1, *) * block
        if outer == 1 { return t.scalars }
        return [Double](unsafeUninitializedCapacity: t.count) { out, initialized in
            t.withUnsafeBufferPointer { s in
                guard let src = s.baseAddress, let dst = out.baseAddress else { return }
                for o in 0..<outer {
                    for u in 0..<units {
                        (dst + (u * outer + o) * inner).initialize(from: src + (o * units + u) * inner, count: inner)
                    }
                }
            }
            initialized = t.count
        }
    }

    /// One axis's term of the group's similarity: [i, j] = ⟨A's unit i, π₋(B)'s unit j⟩ along
    /// `axis`, `[n·n]` row-major; nil for a tensor A does not score (running statistics).
    static func contribution(group g: Int, axis: PermutationGroups.Axis, _ groups: PermutationGroups, _ a: [String: Tensor<Double>],
                             _ b: [String: Tensor<Double>], _ perms: [[Int]],
                             _ axesOf: [String: [(group: Int, axis: Int, block: Int)]],
                             unitsFirstA: inout [String: [Double]]) throws -> [Double]? {
        let n = groups.groups[g].size
        guard let ta = a[axis.tensor] else { return nil }
        let tb = try permuted(axis.tensor, b, perms, axesOf, skipAxis: axis.axis)
        guard ta.count / max(n, 1) > 0 else { return [Double](repeating: 0, count: n * n) }
        let outer = ta.shape[..<axis.axis].reduce(1, *)
        let inner = ta.shape[(axis.axis + 1)...].reduce(1, *) * axis.block
        if outer > 1 && inner == 1 {
            // The units are the last axis (a Linear's inputs): S = Aᵀ·B as [outer, n] matrices, no rearranging.
            return try Tensor.matmul(ta.reshaped([outer, n]), tb.reshaped([outer, n]), transposeA: true).scalars
        }
        // A never changes: its rearranged matrices are made once.
        let key = "\(axis.tensor)#\(axis.axis)"
        let ma = unitsFirstA[key] ?? unitsFirst(ta, axis: axis.axis, block: axis.block, units: n)
        unitsFirstA[key] = ma
        let mb = unitsFirst(tb, axis: axis.axis, block: axis.block, units: n)
        let k = ta.count / n
        return try Tensor.matmul(Tensor(shape: [n, k], scalars: ma), Tensor(shape: [n, k], scalars: mb), transposeB: true).scalars
    }

    /// Σ over permuted tensors of ⟨A, π(B)⟩.
    static func objective(_ groups: PermutationGroups, _ a: [String: Tensor<Double>], _ b: [String: Tensor<Double>], _ perms: [[Int]],
                          _ axesOf: [String: [(group: Int, axis: Int, block: Int)]]) throws -> Double {
        var total = 0.0
        for name in axesOf.keys.sorted() {
            guard let ta = a[name] else { continue }
            let tb = try permuted(name, b, perms, axesOf, skipAxis: nil)
            total += zip(ta.scalars, tb.scalars).reduce(0) { $0 + $1.0 * $1.1 }
        }
        return total
    }
}
