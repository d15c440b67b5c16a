/// Contour lines and filled contour regions over a regular grid, by marching squares.
///
/// Grid convention: `z` is `[rows][columns]`; `z[i][j]` is the value at grid point (column `j`, row `i`).
/// Points are returned in fractional *index* coordinates (`x` = column, `y` = row); callers map them to
/// data coordinates. Values are interpolated linearly along cell edges. Saddle cells (two opposite corners
/// above the level, two below) are resolved by the cell's mean value (the "asymptotic decider" light),
/// and the lines and the filled regions use the same resolution, so fills and lines always agree.
/// Cells with a NaN or ±Inf corner are skipped: they become gaps.
enum MarchingSquares {
    /// A contour line: a polyline in index coordinates; `closed` when it returns to its start.
    struct Line { var points: [Point]; var closed: Bool }

    /// Corners in walking order around a cell: (row offset, column offset).
    static let corners = [(0, 0), (0, 1), (1, 1), (1, 0)]   // bottom-left, bottom-right, top-right, top-left

    /// Whether every corner of cell (`i`, `j`) is finite.
    static func finiteCell(_ z: [[Double]], _ i: Int, _ j: Int) -> Bool {
        corners.allSatisfy { z[i + $0.0][j + $0.1].isFinite }
    }

    /// Unique key of the cell edge leaving corner `k` of cell (`i`, `j`) in walking order
    /// (0 bottom, 1 right, 2 top, 3 left), shared with the neighbouring cell.
    static func edgeKey(_ i: Int, _ j: Int, _ k: Int, cols: Int) -> Int {
        switch k {
        case 0: return (i * cols + j) * 2              // horizontal edge at row i
        case 1: return (i * cols + j + 1) * 2 + 1      // vertical edge at column j+1
        case 2: return ((i + 1) * cols + j) * 2        // horizontal edge at row i+1
        default: return (i * cols + j) * 2 + 1         // vertical edge at column j
        }
    }

    /// Where the level crosses edge `k` of cell (`i`, `j`), or nil when it does not.
    static func crossing(_ z: [[Double]], _ i: Int, _ j: Int, _ k: Int, level: Double) -> Point? {
        let (ai, aj) = corners[k], (bi, bj) = corners[(k + 1) % 4]
        let a = z[i + ai][j + aj], b = z[i + bi][j + bj]
        guard (a >= level) != (b >= level) else { return nil }
        let t = (level - a) / (b - a)
        return Point(x: Double(j + aj) + t * Double(bj - aj), y: Double(i + ai) + t * Double(bi - ai))
    }

    /// Contour lines of `z` at `level`, joined into polylines.
    static func lines(_ z: [[Double]], level: Double) -> [Line] {
        let rows = z.count, cols = z.first?.count ?? 0
        guard rows >= 2, cols >= 2, z.allSatisfy({ $0.count == cols }) else { return [] }
        // Segments as (edge key, point) pairs.
        var segs: [((Int, Point), (Int, Point))] = []
        for i in 0..<(rows - 1) {
            for j in 0..<(cols - 1) where finiteCell(z, i, j) {
                let above = corners.map { z[i + $0.0][j + $0.1] >= level }
                let cross = (0..<4).map { crossing(z, i, j, $0, level: level) }
                let hits = (0..<4).filter { cross[$0] != nil }
                func seg(_ e1: Int, _ e2: Int) {
                    if let p = cross[e1], let q = cross[e2] {
                        segs.append(((edgeKey(i, j, e1, cols: cols), p), (edgeKey(i, j, e2, cols: cols), q)))
                    }
                }
                if hits.count == 2 { seg(hits[0], hits[1]) } else if hits.count == 4 {
                    let centre = corners.map { z[i + $0.0][j + $0.1] }.reduce(0, +) / 4 >= level
                    // Cut off each corner on the other side from the centre: its two adjacent edges are k-1 and k.
                    for k in 0..<4 where above[k] != centre { seg((k + 3) % 4, k) }
                }
            }
        }
        return join(segs)
    }

    /// Joins segments sharing edge keys into polylines.
    static func join(_ segs: [((Int, Point), (Int, Point))]) -> [Line] {
        var byKey: [Int: [Int]] = [:]
        for (n, s) in segs.enumerated() { byKey[s.0.0, default: []].append(n); byKey[s.1.0, default: []].append(n) }
        var used = [Bool](repeating: false, count: segs.count)
        var out: [Line] = []
        func walk(from start: Int, entering key: Int) -> Line {
            var points: [Point] = []
            var n = start, k = key
            let first = segs[start].0.0 == key ? segs[start].0.1 : segs[start].1.1
            points.append(first)
            while true {
                used[n] = true
                let s = segs[n]
                let (nextKey, p) = s.0.0 == k ? s.1 : s.0
                points.append(p)
                guard let m = byKey[nextKey]?.first(where: { !used[$0] }) else {
                    return Line(points: points, closed: nextKey == key && points.count > 2)
                }
                n = m; k = nextKey
            }
        }
        // Open lines start at an edge used by one segment only (the grid border or a NaN gap).
        for (n, s) in segs.enumerated() where !used[n] {
            for end in [s.0.0, s.1.0] where (byKey[end]?.count ?? 0) == 1 && !used[n] {
                out.append(walk(from: n, entering: end))
            }
        }
        for (n, s) in segs.enumerated() where !used[n] { out.append(walk(from: n, entering: s.0.0)) }
        return out
    }

    /// Polygons covering the part of cell (`i`, `j`) where the value is ≥ `level`, in index coordinates.
    static func cellRegion(_ z: [[Double]], _ i: Int, _ j: Int, level: Double) -> [[Point]] {
        let vals = corners.map { z[i + $0.0][j + $0.1] }
        let above = vals.map { $0 >= level }
        let cross = (0..<4).map { crossing(z, i, j, $0, level: level) }
        let corner = { (k: Int) in Point(x: Double(j + corners[k].1), y: Double(i + corners[k].0)) }
        if above.filter({ $0 }).count == 2 && above[0] == above[2] {
            // Saddle: joined through the centre when the mean is above the level, else two corner triangles.
            if vals.reduce(0, +) / 4 < level {
                return (0..<4).filter { above[$0] }.compactMap { k in
                    guard let a = cross[(k + 3) % 4], let b = cross[k] else { return nil }
                    return [a, corner(k), b]
                }
            }
        }
        var poly: [Point] = []
        for k in 0..<4 {
            if above[k] { poly.append(corner(k)) }
            if let c = cross[k] { poly.append(c) }
        }
        return poly.count >= 3 ? [poly] : []
    }

    /// Filled contour bands: for each band `b` (values in [levels[b], levels[b+1]), the lowest band also taking
    /// everything below, the highest everything above), polygons to paint in order b = 0, 1, … .
    ///
    /// Painting is cumulative (band b paints the region ≥ levels[b]) so that neighbouring bands overlap
    /// instead of abutting, which would leave antialiasing hairlines; cells wholly above the next level are
    /// left to later bands, and runs of whole cells in a row are merged into one rectangle.
    static func filledBands(_ z: [[Double]], levels: [Double]) -> [[[Point]]] {
        let rows = z.count, cols = z.first?.count ?? 0
        guard rows >= 2, cols >= 2, levels.count >= 2, z.allSatisfy({ $0.count == cols }) else { return [] }
        let bands = levels.count - 1
        var out = [[[Point]]](repeating: [], count: bands)
        for b in 0..<bands {
            let lower = b == 0 ? -Double.infinity : levels[b]
            let upper = b + 1 < bands ? levels[b + 1] : Double.infinity
            for i in 0..<(rows - 1) {
                var runStart: Int? = nil
                func flush(_ end: Int) {
                    if let s = runStart {
                        out[b].append([Point(x: Double(s), y: Double(i)), Point(x: Double(end), y: Double(i)),
                                       Point(x: Double(end), y: Double(i + 1)), Point(x: Double(s), y: Double(i + 1))])
                    }
                    runStart = nil
                }
                for j in 0..<(cols - 1) {
                    guard finiteCell(z, i, j) else { flush(j); continue }
                    let vals = corners.map { z[i + $0.0][j + $0.1] }
                    if vals.allSatisfy({ $0 >= upper }) || vals.allSatisfy({ $0 < lower }) { flush(j); continue }
                    if vals.allSatisfy({ $0 >= lower }) { if runStart == nil { runStart = j }; continue }
                    flush(j)
                    out[b] += cellRegion(z, i, j, level: lower)
                }
                flush(cols - 1)
            }
        }
        return out
    }
}
