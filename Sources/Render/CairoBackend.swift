import CCairo
import Foundation

/// Font metrics and text widths, measured with cairo and DejaVu Sans.
///
/// Layout needs real widths (to avoid overlapping tick labels, to size legends), so every figure measures
/// with the same font the PNG is drawn with. The SVG names the same family, so widths agree wherever
/// DejaVu Sans is installed (fonts-dejavu-core); elsewhere a viewer substitutes a similar sans font.
final class TextMeasurer {
    private let surface: OpaquePointer?
    private let cr: OpaquePointer?
    init() {
        surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 4, 4)
        cr = cairo_create(surface)
    }
    deinit { cairo_destroy(cr); cairo_surface_destroy(surface) }

    /// Advance width in points of `string` at font `size`.
    func width(_ string: String, size: Double, bold: Bool = false) -> Double {
        guard !string.isEmpty else { return 0 }
        selectFont(cr, size: size, bold: bold)
        var ext = cairo_text_extents_t()
        cairo_text_extents(cr, string, &ext)
        return ext.x_advance
    }
}

/// Font family used everywhere.
let fontFamily = "DejaVu Sans"

func selectFont(_ cr: OpaquePointer?, size: Double, bold: Bool) {
    cairo_select_font_face(cr, fontFamily, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
    cairo_set_font_size(cr, size)
}

/// Baseline offset from the anchor point for a vertical anchor, from DejaVu Sans metrics
/// (cap height 0.73 em, descent 0.24 em), so PNG and SVG place text identically.
func baselineOffset(_ v: VAnchor, size: Double) -> Double {
    switch v {
    case .top: return 0.76 * size
    case .middle: return 0.365 * size
    case .baseline: return 0
    case .bottom: return -0.24 * size
    }
}

/// Replays a ``Drawing`` onto a cairo context (used for PNG and PDF).
func replay(_ drawing: Drawing, on cr: OpaquePointer?) {
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT)
    for op in drawing.ops {
        switch op {
        case .path(let elements, let fill, let stroke):
            cairo_new_path(cr)
            for e in elements {
                switch e {
                case .move(let p): cairo_move_to(cr, p.x, p.y)
                case .line(let p): cairo_line_to(cr, p.x, p.y)
                case .circle(let c, let r):
                    cairo_new_sub_path(cr)
                    cairo_arc(cr, c.x, c.y, r, 0, 2 * Double.pi)
                    cairo_close_path(cr)
                case .close: cairo_close_path(cr)
                }
            }
            if let fill {
                cairo_set_source_rgba(cr, fill.red, fill.green, fill.blue, fill.alpha)
                if stroke != nil { cairo_fill_preserve(cr) } else { cairo_fill(cr) }
            }
            if let stroke {
                cairo_set_source_rgba(cr, stroke.color.red, stroke.color.green, stroke.color.blue, stroke.color.alpha)
                cairo_set_line_width(cr, stroke.width)
                cairo_set_line_join(cr, stroke.roundJoins ? CAIRO_LINE_JOIN_ROUND : CAIRO_LINE_JOIN_MITER)
                stroke.dash.withUnsafeBufferPointer { cairo_set_dash(cr, $0.baseAddress, Int32($0.count), 0) }
                cairo_stroke(cr)
            }
        case .text(let t):
            cairo_save(cr)
            selectFont(cr, size: t.size, bold: t.bold)
            var ext = cairo_text_extents_t()
            cairo_text_extents(cr, t.string, &ext)
            let dx: Double
            switch t.h {
            case .left: dx = 0
            case .center: dx = -ext.x_advance / 2
            case .right: dx = -ext.x_advance
            }
            cairo_translate(cr, t.at.x, t.at.y)
            cairo_rotate(cr, -t.rotation * Double.pi / 180)
            cairo_move_to(cr, dx, baselineOffset(t.v, size: t.size))
            cairo_set_source_rgba(cr, t.color.red, t.color.green, t.color.blue, t.color.alpha)
            cairo_show_text(cr, t.string)
            cairo_restore(cr)
        case .pushClip(let r):
            cairo_save(cr)
            cairo_new_path(cr)
            cairo_rectangle(cr, r.x, r.y, r.width, r.height)
            cairo_clip(cr)
        case .popClip:
            cairo_restore(cr)
        }
    }
}

/// An 8-bit RGBA raster, rows top to bottom, `pixels` is `[height][width][4]` flattened, straight alpha.
public struct RasterImage: Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]
    /// The RGBA bytes of pixel (`x`, `y`).
    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8) {
        let i = 4 * (y * width + x)
        return (pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3])
    }
}

/// Rasterises `drawing` with cairo at `scale` pixels per point.
func rasterize(_ drawing: Drawing, scale: Double) throws -> RasterImage {
    let w = max(1, Int((drawing.width * scale).rounded()))
    let h = max(1, Int((drawing.height * scale).rounded()))
    guard let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(w), Int32(h)) else {
        throw RenderError.cairo(what: "image surface \(w)×\(h)", status: "null surface")
    }
    defer { cairo_surface_destroy(surface) }
    let cr = cairo_create(surface)
    defer { cairo_destroy(cr) }
    cairo_scale(cr, scale, scale)
    replay(drawing, on: cr)
    cairo_surface_flush(surface)
    let status = cairo_status(cr)
    guard status == CAIRO_STATUS_SUCCESS else {
        throw RenderError.cairo(what: "drawing", status: String(cString: cairo_status_to_string(status)))
    }
    guard let data = cairo_image_surface_get_data(surface) else {
        throw RenderError.cairo(what: "image data", status: "no pixel data")
    }
    let stride = Int(cairo_image_surface_get_stride(surface))
    var out = [UInt8](repeating: 0, count: w * h * 4)
    // cairo's ARGB32 is a native-endian 32-bit word with premultiplied alpha; PNG wants straight RGBA bytes.
    for y in 0..<h {
        let row = UnsafeRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
        for x in 0..<w {
            let v = row[x]
            let a = (v >> 24) & 0xff
            var r = (v >> 16) & 0xff, g = (v >> 8) & 0xff, b = v & 0xff
            if a != 0 && a != 255 {
                r = min(255, (r * 255 + a / 2) / a); g = min(255, (g * 255 + a / 2) / a); b = min(255, (b * 255 + a / 2) / a)
            }
            let i = 4 * (y * w + x)
            out[i] = UInt8(r); out[i + 1] = UInt8(g); out[i + 2] = UInt8(b); out[i + 3] = UInt8(a)
        }
    }
    return RasterImage(width: w, height: h, pixels: out)
}

/// Writes `drawing` as a PDF (vector, fonts embedded) through cairo's PDF surface.
func writePDF(_ drawing: Drawing, path: String) throws {
    guard let surface = cairo_pdf_surface_create(path, drawing.width, drawing.height) else {
        throw RenderError.cannotWrite(path: path, reason: "cairo could not create a PDF surface")
    }
    let cr = cairo_create(surface)
    replay(drawing, on: cr)
    cairo_show_page(cr)
    cairo_destroy(cr)
    cairo_surface_finish(surface)
    let status = cairo_surface_status(surface)
    cairo_surface_destroy(surface)
    guard status == CAIRO_STATUS_SUCCESS else {
        throw RenderError.cannotWrite(path: path, reason: String(cString: cairo_status_to_string(status)))
    }
}
