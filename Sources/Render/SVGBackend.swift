/// Writes a ``Drawing`` as SVG 1.1 text.
///
/// Text stays `<text>` in DejaVu Sans (searchable, editable in Inkscape or Illustrator, small files),
/// the equivalent of matplotlib's `svg.fonttype = 'none'`; cairo's own SVG surface would turn every
/// glyph into an outline. Coordinates are in points with two decimals.
enum SVGWriter {
    static func svg(_ drawing: Drawing, title: String? = nil, description: String? = nil) -> String {
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(num(drawing.width))pt" height="\(num(drawing.height))pt" \
        viewBox="0 0 \(num(drawing.width)) \(num(drawing.height))" font-family="'DejaVu Sans', 'Bitstream Vera Sans', Arial, sans-serif">

        """
        if let title { out += "<title>\(escape(title))</title>\n" }
        if let description { out += "<desc>\(escape(description))</desc>\n" }
        var clipID = 0
        for op in drawing.ops {
            switch op {
            case .path(let elements, let fill, let stroke):
                var d = ""
                for e in elements {
                    switch e {
                    case .move(let p): d += "M\(num(p.x)) \(num(p.y))"
                    case .line(let p): d += "L\(num(p.x)) \(num(p.y))"
                    case .circle(let c, let r):
                        d += "M\(num(c.x + r)) \(num(c.y))A\(num(r)) \(num(r)) 0 1 0 \(num(c.x - r)) \(num(c.y))"
                        d += "A\(num(r)) \(num(r)) 0 1 0 \(num(c.x + r)) \(num(c.y))Z"
                    case .close: d += "Z"
                    }
                }
                var attrs = "d=\"\(d)\""
                if let fill { attrs += paint("fill", fill) } else { attrs += " fill=\"none\"" }
                if let stroke {
                    attrs += paint("stroke", stroke.color) + " stroke-width=\"\(num(stroke.width))\""
                    attrs += stroke.roundJoins ? " stroke-linejoin=\"round\"" : " stroke-linejoin=\"miter\""
                    if !stroke.dash.isEmpty { attrs += " stroke-dasharray=\"\(stroke.dash.map(num).joined(separator: ","))\"" }
                }
                out += "<path \(attrs)/>\n"
            case .text(let t):
                let anchor = t.h == .left ? "start" : (t.h == .center ? "middle" : "end")
                var transform = "translate(\(num(t.at.x)) \(num(t.at.y)))"
                if t.rotation != 0 { transform += " rotate(\(num(-t.rotation)))" }
                var attrs = "transform=\"\(transform)\" y=\"\(num(baselineOffset(t.v, size: t.size)))\" font-size=\"\(num(t.size))\""
                attrs += " text-anchor=\"\(anchor)\"" + paint("fill", t.color)
                if t.bold { attrs += " font-weight=\"bold\"" }
                out += "<text \(attrs)>\(escape(t.string))</text>\n"
            case .pushClip(let r):
                clipID += 1
                out += "<clipPath id=\"c\(clipID)\"><rect x=\"\(num(r.x))\" y=\"\(num(r.y))\" width=\"\(num(r.width))\" height=\"\(num(r.height))\"/></clipPath>\n"
                out += "<g clip-path=\"url(#c\(clipID))\">\n"
            case .popClip:
                out += "</g>\n"
            }
        }
        return out + "</svg>\n"
    }

    static func paint(_ name: String, _ c: Color) -> String {
        var s = " \(name)=\"\(c.hexString)\""
        if c.alpha < 1 { s += " \(name)-opacity=\"\(num(c.alpha))\"" }
        return s
    }

    /// A compact decimal with at most two fractional digits ("12.5", "3", "-0.25").
    static func num(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let r = (v * 100).rounded() / 100
        if r == r.rounded() { return String(Int(r)) }
        var s = String(r)
        if s.contains("e") { s = String(format: "%.2f", r) }
        return s
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for XML and HTML text and attributes.
func escape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for ch in s {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(ch)
        }
    }
    return out
}
