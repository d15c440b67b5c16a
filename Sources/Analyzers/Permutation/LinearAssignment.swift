/// The linear assignment problem on a square matrix: the permutation σ minimising (or
/// maximising) Σᵢ C[i, σ(i)].
///
/// Shortest augmenting paths with row and column potentials (Jonker–Volgenant's scheme in the
/// form Crouse 2016 describes, the algorithm of scipy's `linear_sum_assignment`): rows are added
/// one at a time; each runs a Dijkstra search over reduced costs C[i, j] − u[i] − v[j] ≥ 0 from
/// the new row until it reaches a free column (on a tie, a free column wins), then moves the
/// potentials of the rows and columns the search settled by their path lengths — so every assigned
/// pair keeps reduced cost 0 — and flips the path. The unsettled columns live in a shrinking list,
/// so each search step scans only those. The potentials start from Jonker–Volgenant's column and
/// row reductions, which assign most rows before any search. O(n³); the final potentials certify
/// optimality. Tested against brute force.
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
        var u = [Double](repeating: 0, count: n), v = [Double](repeating: 0, count: n)
        var shortest = [Double](repeating: .infinity, count: n)
        var path = [Int](repeating: -1, count: n)
        var col4row = [Int](repeating: -1, count: n), row4col = [Int](repeating: -1, count: n)
        var settledRow = [Bool](repeating: false, count: n), settledColumn = [Bool](repeating: false, count: n)
        var remaining = [Int](repeating: 0, count: n)
        cost.withUnsafeBufferPointer { c in
        u.withUnsafeMutableBufferPointer { u in
        v.withUnsafeMutableBufferPointer { v in
        shortest.withUnsafeMutableBufferPointer { shortest in
        path.withUnsafeMutableBufferPointer { path in
        col4row.withUnsafeMutableBufferPointer { col4row in
        row4col.withUnsafeMutableBufferPointer { row4col in
        settledRow.withUnsafeMutableBufferPointer { settledRow in
        settledColumn.withUnsafeMutableBufferPointer { settledColumn in
        remaining.withUnsafeMutableBufferPointer { remaining in
            // Start from feasible potentials with a partial assignment at zero reduced cost
            // (Jonker–Volgenant's column and row reductions): v[j] = min over rows of C[i, j],
            // u[i] = min over columns of C[i, j] − v[j]; a row whose cheapest column is still free
            // takes it. Only the rows left free need a shortest-path search.
            for j in 0..<n {
                var m = Double.infinity
                for i in 0..<n where c[i * n + j] < m { m = c[i * n + j] }
                v[j] = m
            }
            for i in 0..<n {
                var m = Double.infinity, arg = -1
                let base = i * n
                for j in 0..<n {
                    let r = c[base + j] - v[j]
                    if r < m { m = r; arg = j }
                }
                u[i] = m
                if arg >= 0, row4col[arg] < 0 { row4col[arg] = i; col4row[i] = arg }
            }
            for row in 0..<n where col4row[row] < 0 {
                for j in 0..<n {
                    remaining[j] = n - 1 - j; shortest[j] = .infinity
                    settledRow[j] = false; settledColumn[j] = false
                }
                var left = n, minimum = 0.0, i = row, sink = -1
                while sink < 0 {
                    settledRow[i] = true
                    let base = i * n, ui = u[i]
                    var lowest = Double.infinity, index = -1
                    for k in 0..<left {
                        let j = remaining[k]
                        let r = minimum + c[base + j] - ui - v[j]
                        if r < shortest[j] { path[j] = i; shortest[j] = r }
                        if shortest[j] < lowest || (shortest[j] == lowest && row4col[j] < 0) { lowest = shortest[j]; index = k }
                    }
                    // Finite costs always leave a finite path to some free column.
                    guard index >= 0 else { return }
                    minimum = lowest
                    let j = remaining[index]
                    if row4col[j] < 0 { sink = j } else { i = row4col[j] }
                    settledColumn[j] = true
                    left -= 1
                    remaining[index] = remaining[left]
                }
                u[row] += minimum
                for r in 0..<n where settledRow[r] && r != row { u[r] += minimum - shortest[col4row[r]] }
                for j in 0..<n where settledColumn[j] { v[j] -= minimum - shortest[j] }
                var j = sink
                while true {
                    let r = path[j]
                    row4col[j] = r
                    let previous = col4row[r]
                    col4row[r] = j
                    j = previous
                    if r == row { break }
                }
            }
        }}}}}}}}}}
        guard col4row.allSatisfy({ $0 >= 0 }) else { throw InvalidCost(description: "no complete assignment found for the \(n)×\(n) matrix") }
        return col4row
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
