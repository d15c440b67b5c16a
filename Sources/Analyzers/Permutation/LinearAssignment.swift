/// The linear assignment problem on a square matrix: the permutation σ minimising (or
/// maximising) Σᵢ C[i, σ(i)].
///
/// Kuhn–Munkres with row and column potentials and shortest augmenting paths (the O(n³) form
/// in which Jonker and Volgenant's and scipy's `linear_sum_assignment` solvers also work): rows
/// are added one at a time; each finds the cheapest augmenting path to a free column by a
/// Dijkstra-like scan over reduced costs C[i, j] − u[i] − v[j] ≥ 0, then the potentials move by
/// the path's slack so every assigned pair keeps reduced cost 0. When all rows are in, the
/// potentials certify optimality (Σu + Σv = the assignment's cost). Tested against brute force.
public enum LinearAssignment {
    /// A matrix the solver cannot use.
    public struct InvalidCost: Error, CustomStringConvertible {
        public var description: String
    }

    /// σ with σ[i] the column of row i, minimising Σ cost[i·n + σ(i)] over the n×n row-major `cost`.
    /// - Throws: `InvalidCost` when the matrix is not n×n or holds a NaN or infinity.
    public static func minimizing(_ cost: [Double], size n: Int) throws(InvalidCost) -> [Int] {
        guard n >= 0, cost.count == n * n else { throw InvalidCost(description: "cost matrix of \(cost.count) entries is not \(n)×\(n)") }
        if let bad = cost.firstIndex(where: { !$0.isFinite }) {
            throw InvalidCost(description: "cost[\(bad / max(n, 1)), \(bad % max(n, 1))] is \(cost[bad]), not a finite number")
        }
        if n == 0 { return [] }
        // 1-based rows and columns; column 0 is the virtual start of every augmenting path.
        var u = [Double](repeating: 0, count: n + 1), v = [Double](repeating: 0, count: n + 1)
        var rowOf = [Int](repeating: 0, count: n + 1)   // rowOf[j]: the row assigned to column j (0: free)
        var way = [Int](repeating: 0, count: n + 1)     // the previous column on the shortest path
        var minSlack = [Double](repeating: 0, count: n + 1)
        var used = [Bool](repeating: false, count: n + 1)
        cost.withUnsafeBufferPointer { c in
            for i in 1...n {
                rowOf[0] = i
                var j0 = 0
                for j in 0...n { minSlack[j] = .infinity; used[j] = false }
                repeat {
                    used[j0] = true
                    let i0 = rowOf[j0], row = (i0 - 1) * n - 1
                    var delta = Double.infinity, j1 = 0
                    for j in 1...n where !used[j] {
                        let reduced = c[row + j] - u[i0] - v[j]
                        if reduced < minSlack[j] { minSlack[j] = reduced; way[j] = j0 }
                        if minSlack[j] < delta { delta = minSlack[j]; j1 = j }
                    }
                    for j in 0...n {
                        if used[j] { u[rowOf[j]] += delta; v[j] -= delta } else { minSlack[j] -= delta }
                    }
                    j0 = j1
                } while rowOf[j0] != 0
                repeat {
                    let j1 = way[j0]
                    rowOf[j0] = rowOf[j1]
                    j0 = j1
                } while j0 != 0
            }
        }
        var assignment = [Int](repeating: 0, count: n)
        for j in 1...n { assignment[rowOf[j] - 1] = j - 1 }
        return assignment
    }

    /// σ maximising Σ score[i·n + σ(i)] (similarities: weight inner products, correlations).
    public static func maximizing(_ score: [Double], size n: Int) throws(InvalidCost) -> [Int] {
        try minimizing(score.map { -$0 }, size: n)
    }

    /// Σ m[i·n + σ(i)].
    public static func total(_ m: [Double], size n: Int, assignment σ: [Int]) -> Double {
        σ.enumerated().reduce(0) { $0 + m[$1.offset * n + $1.element] }
    }
}
