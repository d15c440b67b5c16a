import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Render

/// A fresh temporary folder for one test.
func temporaryFolder(_ name: String = #function) throws -> String {
    let clean = name.filter { $0.isLetter || $0.isNumber }
    let dir = NSTemporaryDirectory() + "basin-render-\(clean)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Pixels inside `rect` (points, scaled to pixels by `scale`) that differ from white by more than `tolerance`.
func inkPixels(_ image: RasterImage, in rect: Rect, scale: Double, tolerance: Int = 24) -> Int {
    let x0 = max(0, Int(rect.minX * scale) + 2), x1 = min(image.width, Int(rect.maxX * scale) - 2)
    let y0 = max(0, Int(rect.minY * scale) + 2), y1 = min(image.height, Int(rect.maxY * scale) - 2)
    var n = 0
    for y in y0..<max(y0, y1) {
        for x in x0..<max(x0, x1) {
            let p = image.pixel(x: x, y: y)
            if 255 - Int(p.r) > tolerance || 255 - Int(p.g) > tolerance || 255 - Int(p.b) > tolerance { n += 1 }
        }
    }
    return n
}

/// Parses an SVG file as XML; returns the text of every `<text>` element, or throws the parser's error.
func svgTexts(path: String) throws -> [String] {
    final class Collector: NSObject, XMLParserDelegate {
        var texts: [String] = []
        var current: String?
        var elements = 0
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            elements += 1
            if name == "text" { current = "" }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { current? += string }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "text", let c = current { texts.append(c); current = nil }
        }
    }
    let parser = XMLParser(contentsOf: URL(fileURLWithPath: path))
    let collector = Collector()
    guard let parser else { throw RenderError.cannotRead(path: path, reason: "XMLParser could not open it") }
    parser.delegate = collector
    guard parser.parse(), collector.elements > 3 else {
        throw RenderError.cannotRead(path: path, reason: "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "too few elements")")
    }
    return collector.texts
}

/// Whether two colours agree within `tolerance` per 8-bit channel.
func close(_ p: (r: UInt8, g: UInt8, b: UInt8, a: UInt8), _ c: Color, tolerance: Int = 6) -> Bool {
    abs(Int(p.r) - Int((c.red * 255).rounded())) <= tolerance && abs(Int(p.g) - Int((c.green * 255).rounded())) <= tolerance
        && abs(Int(p.b) - Int((c.blue * 255).rounded())) <= tolerance
}
