import Foundation

/// Errors from rendering and writing figures; each names the file or the step that failed.
public enum RenderError: Error, CustomStringConvertible, Equatable {
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String, reason: String)
    case png(String)
    case cairo(what: String, status: String)
    case invalidFigure(String)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason)"
        case .cannotRead(let path, let reason): return "cannot read \(path): \(reason)"
        case .png(let message): return "libpng could not encode the image: \(message)"
        case .cairo(let what, let status): return "cairo failed on \(what): \(status)"
        case .invalidFigure(let why): return "invalid figure: \(why)"
        }
    }
}

/// Where and how to write one figure. Any path left `nil` is skipped.
public struct FigureOutput: Sendable {
    public var pngPath: String?
    public var svgPath: String?
    public var pdfPath: String?
    /// PNG pixels per point: 2 gives a 1280×840 PNG for a 640×420 figure (sharp in papers and on HiDPI screens).
    public var scale: Double
    /// Provenance stored as PNG text chunks (e.g. `"Software": "Basin 0.1"`, `"basin:analyzer": "plane"`,
    /// `"basin:run"`, `"basin:arguments"`), and as the SVG's `<desc>` (`"Title"` also becomes its `<title>`).
    public var metadata: [String: String]

    public init(pngPath: String? = nil, svgPath: String? = nil, pdfPath: String? = nil,
                scale: Double = 2, metadata: [String: String] = [:]) {
        self.pngPath = pngPath; self.svgPath = svgPath; self.pdfPath = pdfPath
        self.scale = scale; self.metadata = metadata
    }

    /// `<base>.png` and `<base>.svg` (and `<base>.pdf` when `pdf` is true).
    public static func files(base: String, pdf: Bool = false, scale: Double = 2,
                             metadata: [String: String] = [:]) -> FigureOutput {
        FigureOutput(pngPath: base + ".png", svgPath: base + ".svg", pdfPath: pdf ? base + ".pdf" : nil,
                     scale: scale, metadata: metadata)
    }
}

/// What rendering produced: files written, data warnings, and the layout.
public struct RenderReport: Sendable {
    /// Paths written, in the order PNG, SVG, PDF.
    public var files: [String]
    /// Problems in the data that were drawn around (NaN/Inf as gaps, non-positive values on log axes …).
    public var warnings: [String]
    /// PNG size in pixels (0 × 0 when no PNG was asked for).
    public var pixelWidth: Int
    public var pixelHeight: Int
    /// Named regions in points (`"plot"`, `"colorbar"`, `"panel0"` …); multiply by the scale for PNG pixels.
    public var regions: [String: Rect]
    /// The colour range used, for figures with a colour bar.
    public var colorRange: ClosedRange<Double>?
}

/// A figure: a value that records itself as a ``Drawing``. Every figure kind conforms.
public protocol Figure: Sendable {
    /// Records the figure's marks. Never fails: bad data is drawn around and reported in `warnings`.
    func makeDrawing() -> Drawing
}

extension Figure {
    /// Renders the figure to every path set in `output` and returns the warnings and layout.
    ///
    /// - Throws: ``RenderError/cannotWrite(path:reason:)`` naming the file that could not be written.
    @discardableResult
    public func render(to output: FigureOutput) throws -> RenderReport {
        let drawing = makeDrawing()
        var report = RenderReport(files: [], warnings: drawing.warnings, pixelWidth: 0, pixelHeight: 0,
                                  regions: drawing.regions, colorRange: drawing.colorRange)
        if let path = output.pngPath {
            let image = try rasterize(drawing, scale: output.scale)
            let bytes = try PNGFile.encode(image, metadata: output.metadata)
            try writeAtomically(Data(bytes), to: path)
            report.files.append(path)
            report.pixelWidth = image.width; report.pixelHeight = image.height
        }
        if let path = output.svgPath {
            let desc = output.metadata.keys.sorted().map { "\($0): \(output.metadata[$0] ?? "")" }.joined(separator: "\n")
            let svg = SVGWriter.svg(drawing, title: output.metadata["Title"], description: desc.isEmpty ? nil : desc)
            try writeAtomically(Data(svg.utf8), to: path)
            report.files.append(path)
        }
        if let path = output.pdfPath {
            try createParent(of: path)
            try writePDF(drawing, path: path)
            report.files.append(path)
        }
        return report
    }

    /// Renders `<base>.png` and `<base>.svg`; shorthand for `render(to: .files(base:metadata:))`.
    @discardableResult
    public func write(base: String, metadata: [String: String] = [:]) throws -> RenderReport {
        try render(to: .files(base: base, metadata: metadata))
    }
}

func createParent(of path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    guard !dir.isEmpty else { return }
    do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
        throw RenderError.cannotWrite(path: path, reason: "cannot create folder \(dir): \(error.localizedDescription)")
    }
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
func writeAtomically(_ data: Data, to path: String) throws {
    try createParent(of: path)
    do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw RenderError.cannotWrite(path: path, reason: error.localizedDescription)
    }
}
