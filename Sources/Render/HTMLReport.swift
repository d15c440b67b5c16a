import Foundation

/// A self-contained `index.html` report: title, settings, and sections with figures and tables.
///
/// The page has no scripts and loads nothing from the network: the CSS is inline, figures are PNG files
/// next to the page (or embedded as data URIs with `embedImages`), each linked to its SVG. It reflows
/// from phone width to a wide screen (CSS grid, images scaled to their column, wide tables scroll).
///
/// ```swift
/// var report = HTMLReport(title: "Run resnet20-seed1")
/// report.settings = [("seed", "1"), ("epochs", "150")]
/// report.sections.append(.init(title: "Barrier", text: "…", figures: [.init(png: "barrier.png", svg: "barrier.svg",
///                              caption: "Loss along the segment")], tables: [.init(header: ["pair", "barrier"], rows: [["70–150", "0.12"]])]))
/// try report.write(to: "run/report/index.html")
/// ```
public struct HTMLReport: Sendable {
    /// The `<meta name="generator">` every report page carries: how a later `analyze report`
    /// recognises a folder holding its own earlier report (and no one else's index.html).
    public static let generator = "basin-report"

    /// A figure on the page: paths relative to the page.
    public struct FigureRef: Sendable {
        public var png: String
        public var svg: String?
        public var caption: String
        /// Span the full width of the page (for small multiples and other wide figures).
        public var wide: Bool
        public init(png: String, svg: String? = nil, caption: String, wide: Bool = false) {
            self.png = png; self.svg = svg; self.caption = caption; self.wide = wide
        }
    }
    /// A table of key numbers; every row should have `header.count` cells.
    public struct Table: Sendable {
        public var caption: String?
        public var header: [String]
        public var rows: [[String]]
        public init(caption: String? = nil, header: [String], rows: [[String]]) { self.caption = caption; self.header = header; self.rows = rows }
    }
    /// One analysis: a heading, a paragraph, its figures, tables and the settings it ran with.
    public struct Section: Sendable {
        public var title: String
        public var text: String?
        public var figures: [FigureRef]
        public var tables: [Table]
        public var settings: [(String, String)]
        public init(title: String, text: String? = nil, figures: [FigureRef] = [], tables: [Table] = [], settings: [(String, String)] = []) {
            self.title = title; self.text = text; self.figures = figures; self.tables = tables; self.settings = settings
        }
    }

    public var title: String
    public var subtitle: String?
    /// Settings of the whole run (model, data, seed …), shown at the top.
    public var settings: [(String, String)] = []
    public var sections: [Section] = []
    /// A line at the bottom, e.g. "Basin 0.1, 2026-11-23".
    public var footer: String?

    public init(title: String, subtitle: String? = nil, settings: [(String, String)] = [], sections: [Section] = [], footer: String? = nil) {
        self.title = title; self.subtitle = subtitle; self.settings = settings; self.sections = sections; self.footer = footer
    }

    /// Formats a number for a table cell: four significant digits, compact ("0.1235", "1.235e5").
    public static func number(_ v: Double) -> String { Ticks.compact(v, significant: 4) }

    /// The page. `imageData` maps a PNG path to its bytes when images are embedded; `pixelWidths`
    /// maps a PNG path to its width, so no figure is shown larger than its natural size.
    public func html(imageData: [String: Data] = [:], pixelWidths: [String: Int] = [:]) -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="\(HTMLReport.generator)">
        <title>\(escape(title))</title>
        <style>\(Self.css)</style>
        </head>
        <body>
        <header><h1>\(escape(title))</h1>
        """
        if let subtitle { h += "<p class=\"subtitle\">\(escape(subtitle))</p>" }
        h += "</header>\n<main>\n"
        if sections.count > 1 {
            h += "<nav><ol>" + sections.enumerated().map { "<li><a href=\"#s\($0.offset + 1)\">\(escape($0.element.title))</a></li>" }.joined() + "</ol></nav>\n"
        }
        if !settings.isEmpty { h += "<section><h2>Settings</h2>\n" + Self.settingsTable(settings) + "</section>\n" }
        for (i, s) in sections.enumerated() {
            h += "<section id=\"s\(i + 1)\"><h2>\(escape(s.title))</h2>\n"
            if let text = s.text { h += text.components(separatedBy: "\n\n").map { "<p>\(escape($0))</p>" }.joined(separator: "\n") + "\n" }
            if !s.figures.isEmpty {
                h += "<div class=\"figures\">\n"
                for f in s.figures {
                    let src = imageData[f.png].map { "data:image/png;base64," + $0.base64EncodedString() } ?? f.png
                    // Figures are drawn at 2 device pixels per point: never show one larger than its
                    // natural size, or its text grows out of proportion with the page's.
                    let natural = (pixelWidths[f.png] ?? imageData[f.png].flatMap(PNGFile.width)).map { " style=\"max-width: \($0 / 2)px\"" } ?? ""
                    h += "<figure\(f.wide ? " class=\"wide\"" : "")><a href=\"\(escape(f.svg ?? f.png))\"><img src=\"\(escape(src))\" alt=\"\(escape(f.caption))\"\(natural) loading=\"lazy\"></a>"
                    h += "<figcaption>\(escape(f.caption))"
                    if let svg = f.svg { h += " <a class=\"fmt\" href=\"\(escape(svg))\">SVG</a>" }
                    h += " <a class=\"fmt\" href=\"\(escape(f.png))\">PNG</a></figcaption></figure>\n"
                }
                h += "</div>\n"
            }
            for t in s.tables {
                h += "<div class=\"table\"><table>"
                if let c = t.caption { h += "<caption>\(escape(c))</caption>" }
                h += "<thead><tr>" + t.header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
                for r in t.rows {
                    h += "<tr>" + r.map { "<td\(Double($0.replacingOccurrences(of: "\u{2212}", with: "-")) != nil ? " class=\"num\"" : "")>\(escape($0))</td>" }.joined() + "</tr>\n"
                }
                h += "</tbody></table></div>\n"
            }
            if !s.settings.isEmpty { h += "<details><summary>Settings</summary>" + Self.settingsTable(s.settings) + "</details>\n" }
            h += "</section>\n"
        }
        h += "</main>\n"
        if let footer { h += "<footer>\(escape(footer))</footer>\n" }
        return h + "</body>\n</html>\n"
    }

    static func settingsTable(_ kv: [(String, String)]) -> String {
        "<div class=\"table\"><table class=\"settings\"><tbody>" +
            kv.map { "<tr><th scope=\"row\">\(escape($0.0))</th><td><code>\(escape($0.1))</code></td></tr>" }.joined() + "</tbody></table></div>\n"
    }

    /// Writes the page to `path` (atomically). With `embedImages`, PNGs are read relative to the page's
    /// folder and embedded, so the single file can be mailed around.
    ///
    /// - Throws: ``RenderError/cannotRead(path:reason:)`` for a missing PNG to embed,
    ///   ``RenderError/cannotWrite(path:reason:)`` when the page cannot be written.
    public func write(to path: String, embedImages: Bool = false) throws {
        var data: [String: Data] = [:]
        var widths: [String: Int] = [:]
        let dir = (path as NSString).deletingLastPathComponent
        for f in sections.flatMap(\.figures) {
            let file = f.png.hasPrefix("/") ? f.png : (dir as NSString).appendingPathComponent(f.png)
            if embedImages {
                guard let bytes = FileManager.default.contents(atPath: file) else {
                    throw RenderError.cannotRead(path: file, reason: "figure to embed in \(path) is missing")
                }
                data[f.png] = bytes
            } else if let handle = FileHandle(forReadingAtPath: file) {
                if let head = try? handle.read(upToCount: 24), let w = PNGFile.width(head) { widths[f.png] = w }
                try? handle.close()
            }
        }
        try writeAtomically(Data(html(imageData: data, pixelWidths: widths).utf8), to: path)
    }

    static let css = """

    :root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --accent: #1f77b4; }
    * { box-sizing: border-box; }
    body { margin: 0; font-family: "DejaVu Sans", system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
           background: var(--bg); line-height: 1.5; font-size: 15px; }
    header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 20px; }
    header { padding-top: 28px; border-bottom: 1px solid var(--line); }
    h1 { font-size: 1.7em; margin: 0 0 4px; }
    h2 { font-size: 1.3em; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
    .subtitle { color: var(--muted); margin: 0 0 16px; }
    nav ol { padding-left: 1.4em; columns: 2 260px; }
    a { color: var(--accent); }
    .figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap: 18px; }
    figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 10px; background: #fff; }
    figure.wide { grid-column: 1 / -1; }
    figure img { width: 100%; height: auto; display: block; margin: 0 auto; }
    figcaption { color: var(--muted); font-size: 0.9em; margin-top: 6px; }
    .fmt { font-size: 0.85em; margin-left: 6px; }
    .table { overflow-x: auto; margin: 14px 0; }
    table { border-collapse: collapse; font-size: 0.92em; }
    caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
    th, td { border-bottom: 1px solid var(--line); padding: 5px 12px; text-align: left; vertical-align: top; }
    thead th { border-bottom: 2px solid var(--fg); }
    td.num { text-align: right; font-variant-numeric: tabular-nums; }
    table.settings th { font-weight: normal; color: var(--muted); }
    code { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 0.92em; overflow-wrap: anywhere; }
    details { margin: 10px 0; } summary { cursor: pointer; color: var(--muted); }
    footer { color: var(--muted); font-size: 0.85em; padding-top: 24px; padding-bottom: 28px; }
    @media (max-width: 600px) { body { font-size: 14px; } header, main, footer { padding: 0 12px; } }

    """
}
