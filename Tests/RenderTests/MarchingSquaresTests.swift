import Foundation
import Testing
@testable import Render

/// Signed area of a polygon (shoelace).
func area(_ p: [Point]) -> Double {
    var s = 0.0
    for k in 0..<p.count { let a = p[k], b = p[(k + 1) % p.count]; s += a.x * b.y - b.x * a.y }
    return abs(s) / 2
}

@Test func contourOfAPlaneIsAStraightLine() {
    // z = column index: the level 2.5 is the vertical line x = 2.5 from the bottom row to the top one.
    let z = (0..<5).map { _ in (0..<6).map(Double.init) }
    let lines = MarchingSquares.lines(z, level: 2.5)
    #expect(lines.count == 1)
    let line = lines[0]
    #expect(line.points.allSatisfy { abs($0.x - 2.5) < 1e-12 })
    #expect(Set(line.points.map(\.y)) == Set([0, 1, 2, 3, 4]))
    #expect(!line.closed)
}

@Test(arguments: [0.5, 1.0, 1.7])
func contourOfAParaboloidIsAClosedCircle(radius: Double) {
    let n = 61, h = 4.0 / Double(n - 1)
    let z = (0..<n).map { i in (0..<n).map { j in pow(-2 + Double(j) * h, 2) + pow(-2 + Double(i) * h, 2) } }
    let lines = MarchingSquares.lines(z, level: radius * radius)
    #expect(lines.count == 1)
    #expect(lines[0].closed)
    for p in lines[0].points {
        let r = hypot(-2 + p.x * h, -2 + p.y * h)
        #expect(abs(r - radius) < h * h, "point at radius \(r), level radius \(radius)")
    }
}

@Test func filledBandsCoverTheGridAndMatchTheDiscArea() {
    let n = 81, h = 4.0 / Double(n - 1)
    let z = (0..<n).map { i in (0..<n).map { j in pow(-2 + Double(j) * h, 2) + pow(-2 + Double(i) * h, 2) } }
    let bands = MarchingSquares.filledBands(z, levels: [0, 1, 9])
    // Band 0 paints everything below level 1 (cells wholly above it are left to band 1): the unit disc and
    // nothing else, up to cells cut by the circle. Band 1 paints the region ≥ 1: the square minus the disc.
    let cellArea = h * h
    let outside = bands[1].map(area).reduce(0, +) * cellArea
    #expect(abs(outside - (16 - Double.pi)) < 0.01, "area ≥ 1 is \(outside)")
    // Every cell is painted at least once.
    let painted = bands.flatMap { $0 }.map(area).reduce(0, +)
    #expect(painted >= Double((n - 1) * (n - 1)) - 1e-6)
}

@Test func saddleCellsAgreeBetweenLinesAndFills() {
    // Mean above the level: the high corners are joined, the two low corners are cut off.
    let z: [[Double]] = [[1, 0], [0, 1]]
    #expect(MarchingSquares.lines(z, level: 0.4).count == 2)
    let region = MarchingSquares.cellRegion(z, 0, 0, level: 0.4)
    #expect(region.count == 1 && region[0].count == 6)
    // Mean below the level: two separate high corners.
    let low = MarchingSquares.cellRegion(z, 0, 0, level: 0.6)
    #expect(low.count == 2 && low.allSatisfy { $0.count == 3 })
}

@Test func nanCellsAreSkipped() {
    var z = (0..<4).map { _ in (0..<4).map(Double.init) }
    z[1][1] = .nan
    let lines = MarchingSquares.lines(z, level: 1.5)
    // The line x = 1.5 is broken by the NaN at (1, 1): cells (0,1) and (1,1) touch it.
    #expect(lines.count == 1 && lines[0].points.allSatisfy { $0.y >= 2 - 1e-12 })
}
