import Foundation

/// How values map to an axis.
public enum AxisScale: Sendable, Equatable {
    case linear
    /// Base-10 logarithmic; non-positive values cannot be shown and are reported as gaps.
    case log
}

/// Tick positions and labels, chosen like a good plotting library: 1-2-5 steps on linear axes,
/// decades (or every n-th decade, or 1-2-5 within a short range) on log axes.
public enum Ticks {
    /// Linear ticks inside [`min`, `max`] with a step of 1, 2 or 5 × 10^k, at most `maxCount` of them.
    ///
    /// The step is the smallest 1-2-5 value that keeps the count ≤ `maxCount`, unless that step leaves fewer
    /// than two ticks in the range, in which case the step before it is used; ticks are exact multiples
    /// of the step (computed as integer multiples divided by a power of ten, so 0.1 + 0.2 prints "0.3").
    /// - Returns: ticks in increasing order and the step; a degenerate range is widened around its value.
    public static func linear(min lo: Double, max hi: Double, maxCount: Int = 8) -> (ticks: [Double], step: Double) {
        guard lo.isFinite, hi.isFinite else { return ([], 1) }
        var a = Swift.min(lo, hi), b = Swift.max(lo, hi)
        if b - a <= abs(b) * 1e-12 || b == a { let d = a == 0 ? 1 : abs(a) * 0.1; a -= d; b += d }
        let span = b - a
        // A range wider than Double holds (±1e308) has no ticks to draw.
        guard span.isFinite, span > 0 else { return ([], 1) }
        var exponent = Int(floor(log10(span / Double(Swift.max(maxCount, 1))))) - 1
        var lastWithTwo: (ticks: [Double], step: Double)? = nil
        while true {
            for m in [1, 2, 5] {
                let step = Double(m) * pow(10, Double(exponent))
                // A relative 1e-9 slack keeps 0.7 / 0.1 = 6.9999… from dropping the tick at 0.7.
                let first = Int((a / step - 1e-9).rounded(.up)), last = Int((b / step + 1e-9).rounded(.down))
                let ticks = first <= last ? (first...last).map { value(multiple: $0 * m, exponent: exponent) } : []
                if ticks.count <= Swift.max(maxCount, 2) {
                    // The first step with few enough ticks; if it leaves fewer than two, take the step before.
                    if ticks.count >= 2 { return (ticks, step) }
                    return lastWithTwo ?? (ticks, step)
                }
                lastWithTwo = (ticks, step)
            }
            exponent += 1
        }
    }

    /// `n × 10^e` with as little rounding error as possible.
    static func value(multiple n: Int, exponent e: Int) -> Double {
        e >= 0 ? Double(n) * pow(10, Double(e)) : Double(n) / pow(10, Double(-e))
    }

    /// Log-axis ticks inside [`min`, `max`] (both > 0): major ticks at decades (every n-th decade when there
    /// are more than `maxCount`), or at 1, 2, 5 × 10^k when the range holds fewer than two decades; minor
    /// ticks at 2…9 × 10^k when decades are shown one by one.
    public static func log(min lo: Double, max hi: Double, maxCount: Int = 8) -> (major: [Double], minor: [Double]) {
        let t = logLabelled(min: lo, max: hi, maxCount: maxCount)
        return (t.major, t.minor)
    }

    /// ``log(min:max:maxCount:)`` with labels: 10ⁿ at decades, linear-style labels for the short-range fallback.
    static func logLabelled(min lo: Double, max hi: Double, maxCount: Int) -> (major: [Double], labels: [String], minor: [Double]) {
        guard lo > 0, hi > 0, lo.isFinite, hi.isFinite else { return ([], [], []) }
        let a = Swift.min(lo, hi), b = Swift.max(lo, hi)
        let e0 = Int(floor(log10(a) + 1e-9)), e1 = Int(floor(log10(b) + 1e-9))
        let decades = (e0...e1).map { value(multiple: 1, exponent: $0) }.filter { $0 >= a * (1 - 1e-9) && $0 <= b * (1 + 1e-9) }
        if decades.count < 2 {
            // Short range: 1-2-5 mantissas, else fall back to linear ticks (e.g. 0.31 … 0.36).
            var major: [Double] = []
            for e in e0...e1 { for m in [1, 2, 5] {
                let v = value(multiple: m, exponent: e)
                if v >= a * (1 - 1e-9) && v <= b * (1 + 1e-9) { major.append(v) }
            } }
            if major.count >= 3 && major.count <= maxCount { return (major, logLabels(major), []) }
            let lin = linear(min: a, max: b, maxCount: Swift.min(maxCount, 5))
            let ticks = lin.ticks.filter { $0 > 0 }
            return (ticks, labels(ticks, step: lin.step), [])
        }
        if decades.count == 2 {
            // Two decades in view: label 2 and 5 too, in plain numbers, so the axis has enough landmarks.
            var major: [Double] = []
            for e in e0...e1 { for m in [1, 2, 5] {
                let v = value(multiple: m, exponent: e)
                if v >= a * (1 - 1e-9) && v <= b * (1 + 1e-9) { major.append(v) }
            } }
            if major.count <= maxCount {
                var minor: [Double] = []
                for e in e0...e1 { for m in [3, 4, 6, 7, 8, 9] {
                    let v = value(multiple: m, exponent: e)
                    if v >= a && v <= b { minor.append(v) }
                } }
                let plain = major.allSatisfy { $0 >= 1e-3 && $0 < 1e5 }
                return (major, plain ? major.map { compact($0) } : logLabels(major), minor)
            }
        }
        let every = Swift.max(1, Int((Double(decades.count) / Double(Swift.max(maxCount, 1))).rounded(.up)))
        let major = decades.enumerated().filter { $0.offset % every == 0 }.map(\.element)
        var minor: [Double] = []
        if every == 1 {
            for e in e0...e1 { for m in 2...9 {
                let v = value(multiple: m, exponent: e)
                if v >= a && v <= b { minor.append(v) }
            } }
        } else {
            minor = decades.filter { !major.contains($0) }
        }
        return (major, logLabels(major), minor)
    }

    /// Labels for linear ticks with spacing `step`: as many decimals as the step needs, scientific
    /// notation ("2.5e−4") for very large or very small values, "0" for zero, a true minus sign.
    public static func labels(_ ticks: [Double], step: Double) -> [String] {
        let biggest = ticks.map(abs).max() ?? 0
        let stepExp = Int(floor(log10(step) + 1e-9))
        if biggest >= 1e5 || (biggest < 1e-3 && biggest > 0) {
            let e = Int(floor(log10(biggest) + 1e-9))
            let decimals = Swift.max(0, e - stepExp)
            return ticks.map { v in
                if abs(v) < step * 1e-6 { return "0" }
                let m = v / pow(10, Double(e))
                return minusSign(String(format: "%.\(decimals)f", m) + "e" + String(e))
            }
        }
        let decimals = Swift.max(0, -stepExp)
        return ticks.map { v in abs(v) < step * 1e-6 ? "0" : minusSign(String(format: "%.\(decimals)f", v)) }
    }

    /// Labels for log ticks: decades as 10ⁿ; other values compactly ("0.02", "500", "2×10⁻⁵").
    public static func logLabels(_ ticks: [Double]) -> [String] {
        ticks.map { v in
            let e = Int(floor(log10(v) + 1e-9))
            let m = v / pow(10, Double(e))
            if abs(m - 1) < 1e-6 { return "10" + superscript(e) }
            if v >= 1e-3 && v < 1e5 { return compact(v) }
            return compact(m) + "×10" + superscript(e)
        }
    }

    /// A number with up to `significant` significant digits, trailing zeros dropped, scientific when it
    /// is very large or small: 0.1234 → "0.123", 12345 → "1.23e4", −0.5 → "−0.5".
    public static func compact(_ v: Double, significant: Int = 3) -> String {
        guard v.isFinite else { return v.isNaN ? "NaN" : (v > 0 ? "∞" : "−∞") }
        if v == 0 { return "0" }
        let e = Int(floor(log10(abs(v))))
        if e >= 5 || e < -3 {
            let m = v / pow(10, Double(e))
            return minusSign(trim(String(format: "%.\(Swift.max(0, significant - 1))f", m))) + "e" + minusSign(String(e))
        }
        let decimals = Swift.max(0, significant - 1 - e)
        return minusSign(trim(String(format: "%.\(decimals)f", v)))
    }

    static func trim(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = s
        while t.hasSuffix("0") { t.removeLast() }
        if t.hasSuffix(".") { t.removeLast() }
        return t == "-0" ? "0" : t
    }

    static func minusSign(_ s: String) -> String { s.replacingOccurrences(of: "-", with: "\u{2212}") }

    static func superscript(_ n: Int) -> String {
        let digits: [Character] = ["⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"]
        return (n < 0 ? "⁻" : "") + String(abs(n)).compactMap { $0.wholeNumberValue.map { digits[$0] } }
    }
}
