import Foundation
import Testing
@testable import CheckpointFormat
import Tensors

/// Sizes declared in tar headers are checked before anything is allocated (issue 12, item 1).
/// A regression that allocated the declared size would ask for 8 GiB or 1 TiB here: the
/// 1 TiB cases crash the test process instead of passing.
@Suite struct BoundedReadingTests {
    @Test(arguments: ["manifest.json", "classifier.weight.npy"], [1 << 33 - 1, 1 << 40])
    func plainTarHeaderClaimingMoreThanTheFileFailsAtTheHeader(entry: String, size: Int) throws {
        let dir = temporaryDirectory()
        let path = dir + "/huge.ckpt"
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: path)
        var bytes = readBytes(path)
        let header = try #require(tarHeaderOffset(of: entry, in: bytes))
        setTarSize(size, headerAt: header, in: &bytes)
        writeBytes(bytes, path)
        #expect(bytes.count < 20_000)
        #expect {
            _ = try CheckpointReader(path: path).arrays()
        } throws: { error in
            guard case let .truncated(p, e, detail)? = error as? CheckpointError else { return false }
            return p == path && e == entry && detail.contains("declares \(size) bytes")
        }
    }

    /// Compressed: the tar header cannot be compared with the file, so the manifest bounds it.
    @Test(arguments: [Compression.gzip, .zstd])
    func compressedEntryLargerThanTheManifestSaysIsRefusedUnread(compression: Compression) throws {
        let dir = temporaryDirectory()
        let w = tensorEntry("w", shape: [4, 4])
        try writeArchive(manifest([w.record]), entries: [w.entry], to: dir + "/plain.ckpt")
        var bytes = readBytes(dir + "/plain.ckpt")
        setTarSize(1 << 40, headerAt: try #require(tarHeaderOffset(of: "w.npy", in: bytes)), in: &bytes)
        let path = dir + "/huge.ckpt"
        writeBytes(try compressed(bytes, compression), path)
        let sizes = try w.record.entrySizes(in: path)
        for (what, read) in everyRead(path, subset: ["w"]) where what != "open" {
            #expect(throws: CheckpointError.entrySize(path: path, entry: "w.npy", declared: 1 << 40, expected: sizes), "\(what)") {
                try read()
            }
        }
    }

    /// Compressed, and the manifest agrees with the lying header (a crafted file with a
    /// valid manifest checksum): the entry is read in chunks as bytes arrive, and the short
    /// stream is reported as truncated without the declared terabyte being allocated.
    @Test(arguments: [Compression.gzip, .zstd])
    func compressedEntryIsReadAsItArrivesNotAsDeclared(compression: Compression) throws {
        let dir = temporaryDirectory()
        var w = tensorEntry("w", shape: [4, 4])
        w.record.shape = [1 << 38]   // 1 TiB of float32
        try writeArchive(manifest([w.record]), entries: [w.entry], to: dir + "/plain.ckpt")
        var bytes = readBytes(dir + "/plain.ckpt")
        setTarSize((1 << 40) + 128, headerAt: try #require(tarHeaderOffset(of: "w.npy", in: bytes)), in: &bytes)
        let path = dir + "/huge.ckpt"
        writeBytes(try compressed(bytes, compression), path)
        #expect {
            _ = try CheckpointReader(path: path).arrays()
        } throws: { error in
            guard case let .truncated(p, entry, _)? = error as? CheckpointError else { return false }
            return p == path && entry == "w.npy"
        }
    }

    @Test(arguments: [Compression.gzip, .zstd])
    func compressedManifestLargerThanItsCapIsRefusedUnread(compression: Compression) throws {
        let dir = temporaryDirectory()
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: dir + "/plain.ckpt")
        var bytes = readBytes(dir + "/plain.ckpt")
        setTarSize(1 << 40, headerAt: try #require(tarHeaderOffset(of: "manifest.json", in: bytes)), in: &bytes)
        let path = dir + "/huge.ckpt"
        writeBytes(try compressed(bytes, compression), path)
        #expect(throws: CheckpointError.entrySize(path: path, entry: "manifest.json", declared: 1 << 40,
                                                  expected: 0...CheckpointManifest.maxBytes)) {
            try CheckpointReader(path: path)
        }
    }

    /// A manifest shape far larger than its entry: the entry's declared size is checked
    /// against the shape before it is read or skipped.
    /// A zstd frame asking for a 2 GiB window (`zstd --long=31`) is refused by the decoder for
    /// its memory, not because data is missing: the message says so and how to fix it. The
    /// same frame with a 1 MiB window reads, so the hand-made frame is a valid one.
    @Test func aZstdFrameNeedingAHugeWindowIsNotCalledTruncated() throws {
        let dir = temporaryDirectory()
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: dir + "/plain.ckpt")
        let tar = readBytes(dir + "/plain.ckpt")
        func frame(windowDescriptor: UInt8) -> [UInt8] {
            // Magic, a descriptor without single-segment, checksum or content size, the window,
            // then raw blocks of at most 128 KiB (3-byte headers: size << 3 | type 0 | last).
            var out: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0x00, windowDescriptor]
            var start = 0
            repeat {
                let end = min(start + (1 << 17), tar.count)
                let header = (end - start) << 3 | (end == tar.count ? 1 : 0)
                out += [UInt8(header & 0xFF), UInt8(header >> 8 & 0xFF), UInt8(header >> 16 & 0xFF)]
                out += tar[start..<end]
                start = end
            } while start < tar.count
            return out
        }
        let fine = dir + "/fine.ckpt", huge = dir + "/huge.ckpt"
        writeBytes(frame(windowDescriptor: 10 << 3), fine)      // 2^(10 + 10) = 1 MiB
        writeBytes(frame(windowDescriptor: 21 << 3), huge)      // 2^(10 + 21) = 2 GiB
        #expect(try CheckpointReader(path: fine).manifest.epoch == 3)
        #expect {
            try CheckpointReader(path: huge)
        } throws: { error in
            guard case let .archiveFailure(p, _, detail)? = error as? CheckpointError else { return false }
            return p == huge && detail.hasSuffix(ArchiveReader.memoryAdvice) && detail.lowercased().contains("memory")
        }
    }

    @Test func entrySmallerThanItsShapeIsRefusedEvenWhenSkipped() throws {
        let dir = temporaryDirectory()
        let path = dir + "/small.ckpt"
        let w = tensorEntry("w", shape: [2])
        var b = tensorEntry("b", shape: [2])
        b.record.shape = [1 << 40]
        try writeArchive(manifest([w.record, b.record]), entries: [w.entry, b.entry], to: path)
        let sizes = try b.record.entrySizes(in: path)
        #expect(throws: CheckpointError.entrySize(path: path, entry: "b.npy", declared: b.entry.1.count, expected: sizes)) {
            try CheckpointReader(path: path).arrays(named: ["w"])
        }
    }
}

/// Manifest shapes are multiplied only through `ElementCount` (issue 12, item 2).
@Suite struct ManifestShapeTests {
    @Test(arguments: [[1 << 62, 4], [1 << 40, 1 << 30], [3, -1]])
    func overflowingOrNegativeShapeIsOneLineNamingTheTensor(shape: [Int]) throws {
        let dir = temporaryDirectory()
        let path = dir + "/shape.ckpt"
        var w = tensorEntry("w", shape: [4])
        w.record.shape = shape
        try writeArchive(manifest([w.record]), entries: [w.entry], to: path)
        #expect {
            try CheckpointReader(path: path)
        } throws: { error in
            guard case let .invalidManifest(p, detail)? = error as? CheckpointError else { return false }
            return p == path && detail.contains("tensor 'w' (entry 'w.npy')") && !"\(error)".contains("\n")
        }
        #expect(throws: CheckpointError.self) { try w.record.dataBytes(in: path) }
    }

    @Test func recordSizesAreOverflowChecked() throws {
        let record = TensorRecord(name: "w", entry: "w.npy", dtype: .float64, shape: [1 << 61, 2], sha256: "", role: .parameter)
        #expect(try record.elementCount(in: "x") == 1 << 62)
        #expect(throws: CheckpointError.invalidManifest(path: "x", detail: "tensor 'w' (entry 'w.npy'): \(ShapeSizeError.tooLarge(shape: [1 << 61, 2], elementSize: 8))")) {
            try record.dataBytes(in: "x")
        }
    }
}

/// Every reader refuses duplicated, unlisted and missing entries, and `verify()` (what
/// inspect runs) is the same walk (issue 12, item 4).
@Suite struct ArchiveStructureTests {
    func pair() -> (w: (record: TensorRecord, entry: (String, [UInt8])), b: (record: TensorRecord, entry: (String, [UInt8]))) {
        (tensorEntry("w", shape: [3, 2], fill: 2), tensorEntry("b", shape: [3], fill: 0.5))
    }

    @Test(arguments: [true, false])
    func duplicatedEntryIsRefusedByEveryReader(firstCopyCorrupt: Bool) throws {
        let dir = temporaryDirectory()
        let path = dir + "/dup.ckpt"
        let (w, b) = pair()
        var corrupt = w.entry.1
        corrupt[corrupt.count - 1] ^= 0x40
        let copies = firstCopyCorrupt ? [("w.npy", corrupt), w.entry] : [w.entry, ("w.npy", corrupt)]
        try writeArchive(manifest([w.record, b.record]), entries: copies + [b.entry], to: path)
        for (what, read) in everyRead(path, subset: ["b"]) where what != "open" {
            #expect(throws: CheckpointError.self, "\(what)") { try read() }
        }
        #expect(throws: CheckpointError.duplicateEntry(path: path, entry: "w.npy")) {
            try CheckpointReader(path: path).arrays(named: ["b"])
        }
        let status = try #require(try CheckpointReader(path: path).verify().first { $0.entry == "w.npy" })
        #expect(!status.ok)
    }

    @Test(arguments: ["manifest.json", "manifest.json.sha256"])
    func repeatedStructuralEntryIsADuplicate(entry: String) throws {
        let dir = temporaryDirectory()
        let path = dir + "/dup.ckpt"
        let (w, _) = pair()
        try writeArchive(manifest([w.record]), entries: [w.entry, (entry, Array("{}".utf8))], to: path)
        #expect(throws: CheckpointError.duplicateEntry(path: path, entry: entry)) { try CheckpointReader(path: path).arrays() }
        #expect(try CheckpointReader(path: path).verify().contains { !$0.ok && $0.entry == entry })
    }

    @Test func unlistedEntryIsRefusedByEveryReader() throws {
        let dir = temporaryDirectory()
        let path = dir + "/extra.ckpt"
        let (w, b) = pair()
        try writeArchive(manifest([w.record]), entries: [w.entry, b.entry], to: path)
        for (what, read) in everyRead(path, subset: ["w"]) where what != "open" {
            #expect("\(what)") { try read() } throws: { "\($0)".contains("entry 'b.npy' is not listed in the manifest") }
        }
        #expect(throws: CheckpointError.unlistedEntry(path: path, entry: "b.npy")) { try CheckpointReader(path: path).arrays(named: ["w"]) }
    }

    @Test func missingEntryIsRefusedEvenWhenNotAskedFor() throws {
        let dir = temporaryDirectory()
        let path = dir + "/missing.ckpt"
        let (w, b) = pair()
        try writeArchive(manifest([w.record, b.record]), entries: [w.entry], to: path)
        #expect(throws: CheckpointError.missingEntry(path: path, entry: "b.npy")) { try CheckpointReader(path: path).arrays(named: ["w"]) }
        #expect(try CheckpointReader(path: path).verify().map(\.ok) == [true, false])
    }

    /// The documented trade (docs/FORMAT.md §1.6): a subset read checks the whole structure
    /// but hashes only what it reads; a full read and verify() hash everything.
    @Test func subsetReadDoesNotHashSkippedEntriesButFullReadsDo() throws {
        let dir = temporaryDirectory()
        let path = dir + "/skip.ckpt"
        let (w, b) = pair()
        var damaged = b.entry.1
        damaged[damaged.count - 1] ^= 0x01
        try writeArchive(manifest([w.record, b.record]), entries: [w.entry, ("b.npy", damaged)], to: path)
        let reader = try CheckpointReader(path: path)
        #expect(try reader.arrays(named: ["w"])["w"]?.bytes == Array(w.entry.1.suffix(24)))
        #expect { try reader.arrays() } throws: { ($0 as? CheckpointError)?.entry == "b.npy" }
        #expect(try reader.verify().filter { !$0.ok }.map(\.entry) == ["b.npy"])
    }
}
