import CPNG
import Foundation

/// PNG encoding and decoding through libpng's simplified `png_image_*` API, plus provenance text chunks.
///
/// Why this split: the simplified API reports errors through a return code and `image.message`, which
/// Swift can handle; the classic `png_write_*` API (the only libpng path that writes text chunks) reports
/// errors with `longjmp`, which Swift cannot catch safely. So the pixels are encoded in memory with
/// `png_image_write_to_memory`, and the `tEXt`/`iTXt` chunks (a length, a type, the data and a CRC-32,
/// PNG spec §11.3.4) are spliced in right after `IHDR` by a few lines of our own.
enum PNGFile {
    /// The width in pixels from a PNG's IHDR chunk (bytes 16–19, big-endian), if the data is a PNG.
    static func width(_ data: Data) -> Int? {
        guard data.count >= 24, data.starts(with: signature) else { return nil }
        return data.dropFirst(16).prefix(4).reduce(0) { $0 << 8 | Int($1) }
    }

    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    /// Encodes `image` (dropping alpha when every pixel is opaque) with `metadata` as text chunks.
    static func encode(_ image: RasterImage, metadata: [String: String]) throws -> [UInt8] {
        let opaque = stride(from: 3, to: image.pixels.count, by: 4).allSatisfy { image.pixels[$0] == 255 }
        var pixels = image.pixels
        var channels = 4
        if opaque {
            channels = 3
            pixels = [UInt8](); pixels.reserveCapacity(image.width * image.height * 3)
            for i in stride(from: 0, to: image.pixels.count, by: 4) { pixels.append(contentsOf: image.pixels[i..<i + 3]) }
        }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_FLAG_COLOR) | (opaque ? 0 : UInt32(PNG_FORMAT_FLAG_ALPHA))
        let rowStride = Int32(image.width * channels)
        var size = 0
        var ok = pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, rowStride, nil) }
        guard ok != 0, size > 0 else { throw RenderError.png(message(of: &png)) }
        var bytes = [UInt8](repeating: 0, count: size)
        ok = bytes.withUnsafeMutableBytes { out in
            pixels.withUnsafeBytes { png_image_write_to_memory(&png, out.baseAddress, &size, 0, $0.baseAddress, rowStride, nil) }
        }
        guard ok != 0 else { throw RenderError.png(message(of: &png)) }
        bytes.removeSubrange(size...)
        // IHDR is always first: 8 signature + 4 length + 4 type + 13 data + 4 CRC.
        let afterIHDR = 8 + 25
        var text = [UInt8]()
        for key in metadata.keys.sorted() { text += textChunk(key: key, value: metadata[key] ?? "") }
        bytes.insert(contentsOf: text, at: afterIHDR)
        return bytes
    }

    /// A `tEXt` chunk for Latin-1 printable text, an `iTXt` (UTF-8) chunk otherwise. Keys are cut to 79 bytes.
    static func textChunk(key: String, value: String) -> [UInt8] {
        let keyBytes = Array(key.unicodeScalars.filter { $0.value >= 32 && $0.value < 127 }.map { UInt8($0.value) }.prefix(79))
        let latin1 = value.unicodeScalars.allSatisfy { $0.value < 256 && ($0.value >= 32 || $0 == "\n") }
        var data = keyBytes + [0]
        let type: [UInt8]
        if latin1 {
            type = Array("tEXt".utf8)
            data += value.unicodeScalars.map { UInt8($0.value) }
        } else {
            type = Array("iTXt".utf8)
            data += [0, 0, 0, 0] + Array(value.utf8) // no compression, empty language tag and translated keyword
        }
        return chunk(type: type, data: data)
    }

    static func chunk(type: [UInt8], data: [UInt8]) -> [UInt8] {
        let n = UInt32(data.count)
        let crc = crc32(type + data)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + type + data +
            [UInt8(crc >> 24), UInt8((crc >> 16) & 0xff), UInt8((crc >> 8) & 0xff), UInt8(crc & 0xff)]
    }

    /// CRC-32 (ISO 3309, polynomial 0xEDB88320) as PNG chunks use it.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xffff_ffff
    }

    static func message(of png: inout png_image) -> String {
        withUnsafeBytes(of: &png.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}

/// Reads a PNG file into 8-bit RGBA with libpng's simplified API (used by tests and by anyone checking output).
///
/// - Throws: ``RenderError/cannotRead(path:reason:)`` naming the file when it is missing or not a PNG.
public func readPNG(path: String) throws -> RasterImage {
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    guard png_image_begin_read_from_file(&png, path) != 0 else {
        throw RenderError.cannotRead(path: path, reason: PNGFile.message(of: &png))
    }
    png.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
    let w = Int(png.width), h = Int(png.height)
    var pixels = [UInt8](repeating: 0, count: w * h * 4)
    let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&png, nil, $0.baseAddress, Int32(w * 4), nil) }
    guard ok != 0 else { throw RenderError.cannotRead(path: path, reason: PNGFile.message(of: &png)) }
    return RasterImage(width: w, height: h, pixels: pixels)
}

/// Reads the `tEXt` and `iTXt` chunks of a PNG file as key → text.
///
/// - Throws: ``RenderError/cannotRead(path:reason:)`` when the file is missing or not a PNG.
public func readPNGText(path: String) throws -> [String: String] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw RenderError.cannotRead(path: path, reason: "no such file or not readable")
    }
    let bytes = [UInt8](data)
    guard bytes.count >= 8, Array(bytes[0..<8]) == PNGFile.signature else {
        throw RenderError.cannotRead(path: path, reason: "not a PNG file (bad signature)")
    }
    var out: [String: String] = [:]
    var i = 8
    while i + 12 <= bytes.count {
        let n = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
        let type = String(decoding: bytes[i + 4..<i + 8], as: UTF8.self)
        guard i + 12 + n <= bytes.count else { break }
        let body = Array(bytes[i + 8..<i + 8 + n])
        if let zero = body.firstIndex(of: 0) {
            let key = String(decoding: body[..<zero], as: UTF8.self)
            if type == "tEXt" {
                out[key] = String(String.UnicodeScalarView(body[(zero + 1)...].map { Unicode.Scalar($0) }))
            } else if type == "iTXt", zero + 3 <= body.count {
                // compression flag, method, then language tag and translated keyword, each NUL-terminated.
                var j = zero + 3
                for _ in 0..<2 { while j < body.count && body[j] != 0 { j += 1 }; j += 1 }
                if j <= body.count { out[key] = String(decoding: body[j...], as: UTF8.self) }
            }
        }
        if type == "IEND" { break }
        i += 12 + n
    }
    return out
}
