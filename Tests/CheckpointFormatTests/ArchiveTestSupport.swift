import Foundation
import Testing
@testable import CheckpointFormat
import Tensors

/// Writes an archive as the version 2 writer lays it out — `manifest.json`, then (when
/// `checksum`) `manifest.json.sha256`, then `entries` as given — so tests can build
/// archives the writer refuses to make (duplicates, bad names, huge shapes) that still
/// pass the manifest checksum.
func writeArchive(_ manifest: CheckpointManifest, entries: [(String, [UInt8])], to path: String,
                  checksum: Bool = true) throws {
    let bytes = try manifest.encoded()
    let head = [("manifest.json", bytes)] + (checksum ? [(CheckpointManifest.checksumEntry, CheckpointManifest.checksumEntryBytes(for: bytes))] : [])
    try writeRawTar(head + entries, to: path)
}

/// One float32 tensor's .npy entry and its manifest row.
func tensorEntry(_ name: String, shape: [Int], fill: Float = 1) -> (record: TensorRecord, entry: (String, [UInt8])) {
    let bytes = NPY.encode(NDArray(Tensor<Float>(shape: shape, repeating: fill)))
    return (TensorRecord(name: name, entry: name + ".npy", dtype: .float32, shape: shape, sha256: sha256Hex(bytes), role: .parameter),
            (name + ".npy", bytes))
}

/// A manifest listing `records` (format version 2 unless `version` says otherwise).
func manifest(_ records: [TensorRecord], version: Int = CheckpointManifest.currentVersion) -> CheckpointManifest {
    var m = sampleManifest()
    m.tensors = records
    m.formatVersion = version
    return m
}

/// Offset of the ustar header of `entry` in an uncompressed tar (headers sit on 512-byte
/// boundaries and carry "ustar" at offset 257).
func tarHeaderOffset(of entry: String, in bytes: [UInt8]) -> Int? {
    let name = Array(entry.utf8) + [0]
    return stride(from: 0, to: bytes.count - 512, by: 512).first { o in
        Array(bytes[o..<(o + name.count)]) == name && Array(bytes[(o + 257)..<(o + 262)]) == Array("ustar".utf8)
    }
}

/// Sets the size field of the tar header at `offset` (octal, or GNU base-256 when it does
/// not fit in 11 octal digits) and recomputes the header checksum, as a damaged or hostile
/// file would have it.
func setTarSize(_ size: Int, headerAt offset: Int, in bytes: inout [UInt8]) {
    if size < 1 << 33 {
        let octal = Array(String(size, radix: 8).utf8)
        let field = [UInt8](repeating: 0x30, count: 11 - octal.count) + octal + [0]
        bytes.replaceSubrange((offset + 124)..<(offset + 136), with: field)
    } else {
        var field = [UInt8](repeating: 0, count: 12)
        field[0] = 0x80
        for i in 0..<8 { field[11 - i] = UInt8((size >> (8 * i)) & 0xFF) }
        bytes.replaceSubrange((offset + 124)..<(offset + 136), with: field)
    }
    bytes.replaceSubrange((offset + 148)..<(offset + 156), with: [UInt8](repeating: 0x20, count: 8))
    let sum = bytes[offset..<(offset + 512)].reduce(0) { $0 + Int($1) }
    let digits = Array(String(sum, radix: 8).utf8)
    let field = [UInt8](repeating: 0x30, count: 6 - digits.count) + digits + [0, 0x20]
    bytes.replaceSubrange((offset + 148)..<(offset + 156), with: field)
}

/// `bytes` compressed as a whole by the system's gzip or zstd (as the writer's filters do).
func compressed(_ bytes: [UInt8], _ compression: Compression) throws -> [UInt8] {
    let dir = temporaryDirectory("compress")
    writeBytes(bytes, dir + "/in")
    let tool = compression == .gzip ? "gzip -n -c" : "zstd -q -c"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "\(tool) '\(dir)/in' > '\(dir)/out'"]
    try p.run()
    p.waitUntilExit()
    try #require(p.terminationStatus == 0, "\(tool) failed")
    return readBytes(dir + "/out")
}

/// Every way of reading an archive: each must refuse a damaged one.
func everyRead(_ path: String, subset: [String]) -> [(String, () throws -> Void)] {
    [("open", { _ = try CheckpointReader(path: path) }),
     ("arrays()", { _ = try CheckpointReader(path: path).arrays() }),
     ("arrays(named: \(subset))", { _ = try CheckpointReader(path: path).arrays(named: subset) }),
     ("verify()", {
         // verify() collects per-entry problems: rethrow the first, as a reader would.
         if let bad = try CheckpointReader(path: path).verify().first(where: { !$0.ok }) {
             throw CheckpointError.invalidInput(path: path, detail: bad.problem)
         }
     })]
}
