import Foundation
import Testing
@testable import Render

/// A sweep of ranges: tiny, huge, negative, straddling zero, offset far from zero.
let tickRanges: [(Double, Double)] = [
    (0, 1), (0, 0.7), (-1, 1), (0.31, 0.36), (1e-6, 3e-6), (-250, 17), (0, 1e7), (12, 13), (1000, 1001.5),
    (-3e-4, -1e-4), (0, 201), (2.5, 97.3), (-0.05, 1.05), (0.001, 0.0013), (-1e9, 1e9), (5, 5),
]

@Test(arguments: tickRanges)
func linearTicksAreMultiplesOfOneTwoFiveSteps(range: (Double, Double)) {
    for maxCount in [3, 5, 8] {
        let (ticks, step) = Ticks.linear(min: range.0, max: range.1, maxCount: maxCount)
        let exponent = floor(log10(step))
        let mantissa = step / pow(10, exponent)
        #expect([1.0, 2.0, 5.0].contains { abs($0 - mantissa) < 1e-9 }, "step \(step) for \(range)")
        #expect(ticks.count >= 2, "\(ticks.count) ticks for \(range)")
        if ticks.count > maxCount {
            // Allowed only when the next 1-2-5 step would leave fewer than two ticks in the range.
            let next = step * (abs(mantissa - 2) < 1e-9 ? 2.5 : 2)
            let inRange = Int(floor(range.1 / next + 1e-9)) - Int(ceil(range.0 / next - 1e-9)) + 1
            #expect(inRange < 2, "\(ticks.count) ticks for \(range) although step \(next) would give \(inRange)")
        }
        for t in ticks {
            #expect(abs(t / step - (t / step).rounded()) < 1e-6, "tick \(t) not a multiple of \(step) for \(range)")
        }
        if range.0 != range.1 {
            #expect(ticks.allSatisfy { $0 >= range.0 - step * 1e-6 && $0 <= range.1 + step * 1e-6 }, "ticks outside \(range): \(ticks)")
        }
        #expect(zip(ticks, ticks.dropFirst()).allSatisfy { $0 < $1 })
    }
}

@Test func tickLabelsAreCompactAndExact() {
    let (ticks, step) = Ticks.linear(min: 0, max: 0.7, maxCount: 8)
    #expect(Ticks.labels(ticks, step: step) == ["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"])
    #expect(Ticks.labels([-2, 0, 2], step: 2) == ["\u{2212}2", "0", "2"])
    #expect(Ticks.labels([0, 2e5, 4e5], step: 2e5) == ["0", "2e5", "4e5"])
    #expect(Ticks.labels([1e-4, 2e-4], step: 1e-4) == ["1e\u{2212}4", "2e\u{2212}4"])
    #expect(Ticks.compact(0.12345) == "0.123")
    #expect(Ticks.compact(123456) == "1.23e5")
    #expect(Ticks.compact(-0.5) == "\u{2212}0.5")
    #expect(Ticks.compact(2.0) == "2")
    #expect(Ticks.compact(.nan) == "NaN")
}

@Test func logTicksLandOnDecades() {
    let (major, minor) = Ticks.log(min: 1e-4, max: 10, maxCount: 8)
    #expect(major == [1e-4, 1e-3, 1e-2, 1e-1, 1, 10])
    #expect(minor.contains(2e-4) && minor.contains(9))
    #expect(Ticks.logLabels([1e-3, 1, 100]) == ["10⁻³", "10⁰", "10²"])
    // Many decades: every n-th decade, still at most maxCount.
    let wide = Ticks.log(min: 1e-12, max: 1e12, maxCount: 6).major
    #expect(wide.count <= 6 && wide.count >= 3)
    #expect(wide.allSatisfy { abs(log10($0) - log10($0).rounded()) < 1e-9 })
    // Two decades in view: 1-2-5 ticks so there are enough labels.
    #expect(Ticks.log(min: 0.05, max: 2.5, maxCount: 8).major == [0.05, 0.1, 0.2, 0.5, 1, 2])
    // Under a decade: still labelled ticks inside the range.
    let short = Ticks.log(min: 0.31, max: 0.36, maxCount: 8).major
    #expect(short.count >= 2 && short.allSatisfy { $0 >= 0.31 && $0 <= 0.36 })
}

@Test func axisTicksDoNotOverlapOnNarrowAxes() {
    let m = TextMeasurer()
    for length in [60.0, 120.0, 250.0, 500.0] {
        for (lo, hi) in [(0.0, 1e6), (-123.0, 4567.0), (0.0, 1.0)] {
            let set = chooseTicks(scale: .linear, lo: lo, hi: hi, length: length, horizontal: true, measurer: m)
            let map = AxisMap(scale: .linear, lo: lo, hi: hi, from: 0, to: length)
            let spans = zip(set.major, set.labels).compactMap { t, s -> (Double, Double)? in
                guard let x = map.px(t) else { return nil }
                let w = m.width(s, size: Style.tickFont)
                return (x - w / 2, x + w / 2)
            }
            for (a, b) in zip(spans, spans.dropFirst()) {
                #expect(a.1 < b.0, "labels overlap on a \(length) pt axis over \(lo)…\(hi): \(set.labels)")
            }
        }
    }
}

@Test func colormapsMatchPublishedEndpoints() {
    #expect(Colormap.viridis.color(at: 0) == Color(red: 0.267004, green: 0.004874, blue: 0.329415))
    #expect(Colormap.viridis.color(at: 1) == Color(red: 0.993248, green: 0.906157, blue: 0.143936))
    #expect(Colormap.magma.color(at: 0) == Color(red: 0.001462, green: 0.000466, blue: 0.013866))
    #expect(Colormap.diverging.color(at: 0.5) == Color(hex: 0xf7f7f7))
    #expect(Colormap.diverging.color(at: 0) == Color(hex: 0x053061))
    // Perceptually uniform maps grow monotonically in lightness.
    let lum = stride(from: 0.0, through: 1.0, by: 0.05).map { Colormap.viridis.color(at: $0).luminance }
    #expect(zip(lum, lum.dropFirst()).allSatisfy { $0 < $1 })
}

@Test func rangeWiderThanDoubleHasNoTicksInsteadOfTrapping() {
    #expect(Ticks.linear(min: -1e308, max: 1e308).ticks.isEmpty)
}
