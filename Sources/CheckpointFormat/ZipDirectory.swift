import Foundation

/// The layout of a zip file as its central directory states it, checked against the local
/// headers before any entry is decompressed.
///
/// libarchive streams a zip through its local headers and checks each entry's data against
/// the CRC-32 and sizes found there; the central directory at the end of the file — what
/// Python's `zipfile`, and so NumPy, read — is never consulted. A file whose two copies
/// disagree (a damaged central CRC, size or name; a local name length that shifts an entry)
/// is damaged, and NumPy refuses it. So does Basin: every central entry must match its
/// local header (name, method, CRC-32, sizes — through the zip64 extra field where a size is
/// 0xFFFFFFFF, as `numpy.savez` writes them — or the data descriptor that follows the data,
/// as libarchive writes them), and the entries must tile the file from offset 0 to the
/// central directory without gaps or overlaps. APPNOTE.TXT (PKWARE) §4.3 gives the layout.
struct ZipDirectory {
    struct Entry {
        var name: String
        var crc: UInt32
        var compressedSize: Int
        var uncompressedSize: Int
        var localOffset: Int
        var method: UInt16
        var flags: UInt16
    }

    /// Entries in the order their data lies in the file (the order a stream visits them).
    let entries: [Entry]

    /// Reads and cross-checks the directory of the zip file at `path`.
    /// - Throws: `.archiveFailure` naming the entry and the disagreement.
    init(path: String) throws(CheckpointError) {
        let file = try FileReader(path: path)
        func damaged(_ entry: String?, _ detail: String) -> CheckpointError {
            .archiveFailure(path: path, entry: entry, detail: detail + ": the zip file is damaged")
        }
        // End of central directory: 22 bytes plus a comment of up to 65 535 bytes, ending the file.
        let tailLength = min(file.size, 22 + 65_535)
        let tail = try file.read(at: file.size - tailLength, count: tailLength)
        var eocd: Int?
        var i = tail.count - 22
        while i >= 0 {
            if tail.u32(i) == 0x0605_4B50, i + 22 + Int(tail.u16(i + 20)) == tail.count { eocd = i; break }
            i -= 1
        }
        guard let e = eocd else { throw damaged(nil, "no end-of-central-directory record") }
        let eocdOffset = file.size - tailLength + e
        guard tail.u16(e + 4) == 0, tail.u16(e + 6) == 0 else { throw damaged(nil, "multi-disk zip files are not supported") }
        var count = Int(tail.u16(e + 10)), directorySize = Int(tail.u32(e + 12)), directoryOffset = Int(tail.u32(e + 16))
        var directoryEnd = eocdOffset
        guard Int(tail.u16(e + 8)) == count else { throw damaged(nil, "entry counts in the end record disagree") }
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // Zip64: a locator just before the end record points at the zip64 end record.
            guard eocdOffset >= 20 else { throw damaged(nil, "zip64 end-of-central-directory locator missing") }
            let locator = try file.read(at: eocdOffset - 20, count: 20)
            guard locator.u32(0) == 0x0706_4B50, let at = Int(exactly: locator.u64(8)), at >= 0, at <= eocdOffset - 20 - 56
            else { throw damaged(nil, "zip64 end-of-central-directory locator missing or out of range") }
            let record = try file.read(at: at, count: 56)
            guard record.u32(0) == 0x0606_4B50, let n = Int(exactly: record.u64(32)), let size = Int(exactly: record.u64(40)),
                  let offset = Int(exactly: record.u64(48)) else { throw damaged(nil, "zip64 end-of-central-directory record damaged") }
            count = n; directorySize = size; directoryOffset = offset; directoryEnd = at
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset <= directoryEnd,
              directorySize == directoryEnd - directoryOffset else {
            throw damaged(nil, "the central directory's offset and size do not meet the end record")
        }
        // Each central record is at least 46 bytes: a count the directory cannot hold is damage.
        guard count <= directorySize / 46 else { throw damaged(nil, "\(count) entries cannot fit a \(directorySize)-byte central directory") }
        let directory = try file.read(at: directoryOffset, count: directorySize)
        var central: [Entry] = []
        var p = 0
        for _ in 0..<count {
            guard p + 46 <= directory.count, directory.u32(p) == 0x0201_4B50 else { throw damaged(nil, "central directory record \(central.count) damaged") }
            let nameLength = Int(directory.u16(p + 28)), extraLength = Int(directory.u16(p + 30)), commentLength = Int(directory.u16(p + 32))
            let end = p + 46 + nameLength + extraLength + commentLength
            guard end <= directory.count else { throw damaged(nil, "central directory record \(central.count) runs past the directory") }
            let name = String(decoding: directory[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
            var sizes = Zip64Sizes(uncompressed: Int(directory.u32(p + 24)), compressed: Int(directory.u32(p + 20)),
                                   offset: Int(directory.u32(p + 42)))
            guard sizes.resolve(extra: Array(directory[(p + 46 + nameLength)..<(p + 46 + nameLength + extraLength)])) else {
                throw damaged(name, "zip64 sizes missing from the central directory")
            }
            central.append(Entry(name: name, crc: directory.u32(p + 16), compressedSize: sizes.compressed,
                                 uncompressedSize: sizes.uncompressed, localOffset: sizes.offset,
                                 method: directory.u16(p + 10), flags: directory.u16(p + 8)))
            p = end
        }
        guard p == directory.count else { throw damaged(nil, "the central directory holds more than its \(count) entries") }
        central.sort { $0.localOffset < $1.localOffset }
        // The entries must tile the file: local header, data, optional descriptor, next entry.
        var position = 0
        for (k, c) in central.enumerated() {
            guard c.localOffset == position else {
                throw damaged(c.name, "local header at offset \(c.localOffset), expected \(position) (a gap or an overlap)")
            }
            let next = k + 1 < central.count ? central[k + 1].localOffset : directoryOffset
            position = try Self.checkLocal(c, next: next, file: file, damaged: damaged)
        }
        guard position == directoryOffset else { throw damaged(nil, "bytes between the last entry and the central directory") }
        entries = central
    }

    /// Checks one entry's local header (and data descriptor) against its central record;
    /// returns the offset just past the entry.
    private static func checkLocal(_ c: Entry, next: Int, file: FileReader,
                                   damaged: (String?, String) -> CheckpointError) throws(CheckpointError) -> Int {
        guard c.localOffset <= file.size - 30 else { throw damaged(c.name, "local header past the end of the file") }
        let fixed = try file.read(at: c.localOffset, count: 30)
        guard fixed.u32(0) == 0x0403_4B50 else { throw damaged(c.name, "no local header where the central directory says") }
        let nameLength = Int(fixed.u16(26)), extraLength = Int(fixed.u16(28))
        let variable = try file.read(at: c.localOffset + 30, count: nameLength + extraLength, entry: c.name)
        let name = String(decoding: variable[0..<nameLength], as: UTF8.self)
        guard name == c.name else { throw damaged(c.name, "the local header names it '\(name)'") }
        let flags = fixed.u16(6)
        guard fixed.u16(8) == c.method, flags & 0x8 == c.flags & 0x8 else {
            throw damaged(c.name, "local header and central directory disagree on method or flags")
        }
        var sizes = Zip64Sizes(uncompressed: Int(fixed.u32(22)), compressed: Int(fixed.u32(18)), offset: 0)
        guard sizes.resolve(extra: Array(variable[nameLength...])) else { throw damaged(c.name, "zip64 sizes missing from the local header") }
        let dataStart = c.localOffset + 30 + nameLength + extraLength
        let (dataEnd, overflow) = dataStart.addingReportingOverflow(c.compressedSize)
        guard !overflow, dataEnd <= next else { throw damaged(c.name, "its data runs past the next entry") }
        if flags & 0x8 == 0 {
            guard fixed.u32(14) == c.crc else { throw damaged(c.name, "local and central CRC-32 differ") }
            guard sizes.compressed == c.compressedSize, sizes.uncompressed == c.uncompressedSize else {
                throw damaged(c.name, "local and central sizes differ")
            }
            return dataEnd
        }
        // A data descriptor follows the data: [signature] CRC-32, compressed and uncompressed
        // sizes, 4 bytes each (8 in a zip64 entry).
        let length = next - dataEnd
        guard [12, 16, 20, 24].contains(length) else { throw damaged(c.name, "no data descriptor after its data") }
        let d = try file.read(at: dataEnd, count: length, entry: c.name)
        let signed = length == 16 || length == 24 ? (d.u32(0) == 0x0807_4B50 ? 4 : -1) : 0
        guard signed >= 0 else { throw damaged(c.name, "data descriptor damaged") }
        let wide = length - signed == 20
        let crc = d.u32(signed)
        let compressed = wide ? Int(exactly: d.u64(signed + 4)) : Int(d.u32(signed + 4))
        let uncompressed = wide ? Int(exactly: d.u64(signed + 12)) : Int(d.u32(signed + 8))
        guard crc == c.crc, compressed == c.compressedSize, uncompressed == c.uncompressedSize else {
            throw damaged(c.name, "data descriptor and central directory disagree")
        }
        return next
    }
}

/// Sizes that may be stored as 0xFFFFFFFF with the real value in the zip64 extra field
/// (id 0x0001: uncompressed, compressed, offset — only those that overflowed, in that order).
private struct Zip64Sizes {
    var uncompressed: Int, compressed: Int, offset: Int

    /// Replaces the 0xFFFFFFFF fields from `extra`; false when the extra field lacks them.
    mutating func resolve(extra: [UInt8]) -> Bool {
        let wanted = [uncompressed, compressed, offset].filter { $0 == 0xFFFF_FFFF }.count
        guard wanted > 0 else { return true }
        var p = 0
        while p + 4 <= extra.count {
            let id = extra.u16(p), size = Int(extra.u16(p + 2))
            guard p + 4 + size <= extra.count else { return false }
            if id == 0x0001 {
                var q = p + 4
                func take() -> Int? {
                    guard q + 8 <= p + 4 + size, let v = Int(exactly: extra.u64(q)) else { return nil }
                    q += 8
                    return v
                }
                if uncompressed == 0xFFFF_FFFF { guard let v = take() else { return false }; uncompressed = v }
                if compressed == 0xFFFF_FFFF { guard let v = take() else { return false }; compressed = v }
                if offset == 0xFFFF_FFFF { guard let v = take() else { return false }; offset = v }
                return true
            }
            p += 4 + size
        }
        return false
    }
}

private extension Array where Element == UInt8 {
    /// Little-endian integers at a byte offset the caller has checked.
    func u16(_ i: Int) -> UInt16 { UInt16(self[i]) | UInt16(self[i + 1]) << 8 }
    func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) | UInt32(u16(i + 2)) << 16 }
    func u64(_ i: Int) -> UInt64 { UInt64(u32(i)) | UInt64(u32(i + 4)) << 32 }
}
