/// `Render`: figures (PNG, SVG, PDF) and the HTML report. Knows nothing of neural networks: it draws numbers.
///
/// Every figure first records its marks into a ``Drawing`` (a display list in points, origin top-left,
/// y down). Backends then replay that list: cairo for PNG and PDF, a small SVG writer for SVG (so that
/// SVG text stays `<text>`, searchable and editable, like matplotlib's `svg.fonttype = 'none'`).

/// A point in figure coordinates (points; origin top-left, y grows downwards).
public struct Point: Equatable, Sendable {
    public var x: Double
    public var y: Double
    public init(x: Double, y: Double) { self.x = x; self.y = y }
}

/// An axis-aligned rectangle in figure coordinates (points).
public struct Rect: Equatable, Sendable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public var minX: Double { x }
    public var maxX: Double { x + width }
    public var minY: Double { y }
    public var maxY: Double { y + height }
    public var midX: Double { x + width / 2 }
    public var midY: Double { y + height / 2 }
    /// Whether the two rectangles share interior area.
    public func intersects(_ other: Rect) -> Bool {
        minX < other.maxX && other.minX < maxX && minY < other.maxY && other.minY < maxY
    }
    public func contains(_ p: Point) -> Bool { p.x >= minX && p.x <= maxX && p.y >= minY && p.y <= maxY }
    /// The rectangle grown by `d` on every side (shrunk for negative `d`).
    public func inset(by d: Double) -> Rect { Rect(x: x + d, y: y + d, width: width - 2 * d, height: height - 2 * d) }
}

/// An sRGB colour with straight (not premultiplied) alpha, components in [0, 1].
public struct Color: Equatable, Sendable {
    public var red: Double, green: Double, blue: Double, alpha: Double
    public init(red: Double, green: Double, blue: Double, alpha: Double = 1) {
        self.red = red; self.green = green; self.blue = blue; self.alpha = alpha
    }
    /// A colour from a 24-bit hex value, e.g. `Color(hex: 0x1f77b4)`.
    public init(hex: UInt32, alpha: Double = 1) {
        self.init(red: Double((hex >> 16) & 0xff) / 255, green: Double((hex >> 8) & 0xff) / 255,
                  blue: Double(hex & 0xff) / 255, alpha: alpha)
    }
    public func withAlpha(_ a: Double) -> Color { Color(red: red, green: green, blue: blue, alpha: a) }
    /// `#rrggbb` for SVG and HTML.
    public var hexString: String {
        func byte(_ v: Double) -> String {
            let b = Int((min(max(v, 0), 1) * 255).rounded())
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }
        return "#" + byte(red) + byte(green) + byte(blue)
    }
    /// Relative luminance (ITU-R BT.709 weights on sRGB values): picks black or white text on a cell.
    public var luminance: Double { 0.2126 * red + 0.7152 * green + 0.0722 * blue }

    public static let black = Color(red: 0, green: 0, blue: 0)
    public static let white = Color(red: 1, green: 1, blue: 1)
    public static let text = Color(hex: 0x222222)
    public static let axis = Color(hex: 0x333333)
    public static let grid = Color(hex: 0xb0b0b0, alpha: 0.35)
    public static let missing = Color(hex: 0xd9d9d9)
    /// matplotlib's default `tab10` cycle, the colours most readers already associate with plots.
    public static let cycle: [Color] = [0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                        0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf].map { Color(hex: $0) }
    /// The `i`-th colour of ``cycle``, wrapping around.
    public static func cycle(_ i: Int) -> Color { cycle[((i % cycle.count) + cycle.count) % cycle.count] }
}

/// One element of a path.
enum PathElement: Equatable, Sendable {
    case move(Point)
    case line(Point)
    /// A full circle (its own closed sub-path).
    case circle(center: Point, radius: Double)
    case close
}

/// How a path's outline is drawn.
struct Stroke: Equatable, Sendable {
    var color: Color
    var width: Double = 1
    var dash: [Double] = []
    var roundJoins = true
}

/// Horizontal anchor of a text mark.
enum HAnchor: Sendable { case left, center, right }
/// Vertical anchor of a text mark: `top`/`bottom` of the font's ascent/descent box, `middle` of it, or the baseline.
enum VAnchor: Sendable { case top, middle, baseline, bottom }

/// A text mark.
struct TextMark: Equatable, Sendable {
    var string: String
    var at: Point
    var size: Double
    var bold = false
    var color = Color.text
    var h = HAnchor.center
    var v = VAnchor.baseline
    /// Rotation in degrees, counter-clockwise (90 = reading bottom to top).
    var rotation = 0.0
}

/// One recorded drawing operation.
enum Op: Equatable, Sendable {
    case path([PathElement], fill: Color?, stroke: Stroke?)
    case text(TextMark)
    /// Clip following operations to a rectangle until the matching ``popClip``.
    case pushClip(Rect)
    case popClip
}

/// A recorded figure: a display list in points, replayed by the PNG, PDF and SVG backends.
public struct Drawing: Sendable {
    /// Figure size in points (one point is one pixel at PNG scale 1).
    public let width: Double
    public let height: Double
    var ops: [Op] = []
    /// Named regions (e.g. `"plot"`, `"colorbar"`) for tests and for callers who annotate figures.
    public internal(set) var regions: [String: Rect] = [:]
    /// Problems found in the data (NaN, Inf, non-positive values on a log axis …), in the order met.
    public internal(set) var warnings: [String] = []
    /// Colour range actually used by a colour bar, when the figure has one.
    public internal(set) var colorRange: ClosedRange<Double>?

    init(width: Double, height: Double, background: Color? = .white) {
        self.width = width; self.height = height
        if let background {
            ops.append(.path(rectPath(Rect(x: 0, y: 0, width: width, height: height)), fill: background, stroke: nil))
        }
    }

    mutating func fill(_ path: [PathElement], _ color: Color) { ops.append(.path(path, fill: color, stroke: nil)) }
    mutating func stroke(_ path: [PathElement], _ stroke: Stroke) { ops.append(.path(path, fill: nil, stroke: stroke)) }
    mutating func fillRect(_ r: Rect, _ color: Color) { fill(rectPath(r), color) }
    mutating func line(_ a: Point, _ b: Point, color: Color, width: Double = 1, dash: [Double] = []) {
        stroke([.move(a), .line(b)], Stroke(color: color, width: width, dash: dash))
    }
    mutating func text(_ mark: TextMark) { ops.append(.text(mark)) }
    mutating func clip(_ r: Rect, _ body: (inout Drawing) -> Void) {
        ops.append(.pushClip(r)); body(&self); ops.append(.popClip)
    }
    mutating func warn(_ message: String) { if !warnings.contains(message) { warnings.append(message) } }

    /// All text strings drawn, in order (handy for tests and accessibility).
    public var texts: [String] {
        ops.compactMap { if case .text(let t) = $0 { return t.string } else { return nil } }
    }
}

/// A closed rectangle path.
func rectPath(_ r: Rect) -> [PathElement] {
    [.move(Point(x: r.minX, y: r.minY)), .line(Point(x: r.maxX, y: r.minY)),
     .line(Point(x: r.maxX, y: r.maxY)), .line(Point(x: r.minX, y: r.maxY)), .close]
}
