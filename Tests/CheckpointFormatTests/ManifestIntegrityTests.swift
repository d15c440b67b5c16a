import Foundation
import Testing
@testable import CheckpointFormat
import Tensors

/// Format version 2: the manifest is covered by `manifest.json.sha256` (issue 12, item 3).
@Suite struct ManifestChecksumTests {
    @Test func writerPutsTheManifestChecksumSecondInSha256sumFormat() throws {
        let dir = temporaryDirectory()
        let path = dir + "/a.ckpt"
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: path)
        let reader = try CheckpointReader(path: path)
        #expect(reader.manifest.formatVersion == 2)
        let bytes = readBytes(path)
        let header = try #require(tarHeaderOffset(of: "manifest.json.sha256", in: bytes))
        let firstTensor = try #require(tarHeaderOffset(of: "features.0.weight.npy", in: bytes))
        #expect(header < firstTensor)
        let line = String(decoding: bytes[(header + 512)..<(header + 512 + 80)], as: UTF8.self)
        #expect(line == "\(try #require(reader.manifestSHA256))  manifest.json\n")
    }

    /// One flipped bit anywhere in the manifest — iteration, learning rate, metrics, model
    /// spec, tensor names, the version itself — is refused when the archive is opened, so
    /// by every reader.
    @Test func everyFlippedManifestByteIsRefused() throws {
        let dir = temporaryDirectory()
        let good = dir + "/good.ckpt"
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: good)
        let bytes = readBytes(good)
        let start = try #require(tarHeaderOffset(of: "manifest.json", in: bytes)) + 512
        let length = try CheckpointReader(path: good).manifest.encoded().count
        let path = dir + "/flipped.ckpt"
        var accepted: [Int] = []
        for i in start..<(start + length) {
            var damaged = bytes
            damaged[i] ^= UInt8(1 << (i % 8))
            writeBytes(damaged, path)
            do {
                _ = try CheckpointReader(path: path)
                accepted.append(i - start)
            } catch .manifestChecksumMismatch(let p, _, _) where p == path {
                continue
            } catch {
                Issue.record("byte \(i - start): \(error)")
            }
        }
        #expect(accepted.isEmpty, "accepted flips at manifest bytes \(accepted)")
    }

    /// A bit flip turning `"formatVersion" : 2` into 1 would skip the checksum if the
    /// version decided whether to check it; the checksum entry is checked whenever present.
    @Test func versionFlippedToOneStillFailsTheChecksum() throws {
        let dir = temporaryDirectory()
        let path = dir + "/v.ckpt"
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: path)
        var bytes = readBytes(path)
        let marker = Array("\"formatVersion\" : 2".utf8)
        let at = try #require((0..<(bytes.count - marker.count)).first { Array(bytes[$0..<($0 + marker.count)]) == marker })
        bytes[at + marker.count - 1] = UInt8(ascii: "1")
        writeBytes(bytes, path)
        #expect { try CheckpointReader(path: path) } throws: {
            if case .manifestChecksumMismatch? = $0 as? CheckpointError { return true }
            return false
        }
    }

    @Test func damagedChecksumEntryIsRefused() throws {
        let dir = temporaryDirectory()
        let path = dir + "/c.ckpt"
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: path)
        let bytes = readBytes(path)
        let data = try #require(tarHeaderOffset(of: "manifest.json.sha256", in: bytes)) + 512
        for (offset, value) in [(0, UInt8(ascii: "g")), (3, UInt8(ascii: "0") == bytes[data + 3] ? UInt8(ascii: "1") : UInt8(ascii: "0")), (70, 0x00)] {
            var damaged = bytes
            damaged[data + offset] = value
            writeBytes(damaged, path)
            #expect { try CheckpointReader(path: path) } throws: {
                ($0 as? CheckpointError)?.entry.map { $0.hasPrefix("manifest.json") } ?? false
            }
        }
        writeBytes(bytes, path)   // the undamaged file still reads
        #expect(try CheckpointReader(path: path).manifestSHA256 != nil)
    }

    @Test func version2WithoutItsChecksumIsRefused() throws {
        let dir = temporaryDirectory()
        let path = dir + "/nochecksum.ckpt"
        let w = tensorEntry("w", shape: [2])
        try writeArchive(manifest([w.record]), entries: [w.entry], to: path, checksum: false)
        #expect(throws: CheckpointError.missingManifestChecksum(path: path)) { try CheckpointReader(path: path) }
    }

    /// Version 1 archives (no manifest checksum) stay readable, and say they have none.
    @Test(arguments: Compression.allCases)
    func version1ArchivesAreStillRead(compression: Compression) throws {
        let dir = temporaryDirectory()
        let path = dir + "/v1.ckpt"
        let w = tensorEntry("w", shape: [3, 2], fill: 3), b = tensorEntry("b", shape: [3], fill: -1)
        try writeArchive(manifest([w.record, b.record], version: 1), entries: [w.entry, b.entry], to: path, checksum: false)
        if compression != .none { writeBytes(try compressed(readBytes(path), compression), path) }
        let reader = try CheckpointReader(path: path)
        #expect(reader.manifest.formatVersion == 1 && reader.manifestSHA256 == nil)
        let arrays = try reader.arrays()
        #expect(arrays["w"]?.floatTensor() == Tensor<Float>(shape: [3, 2], repeating: 3))
        #expect(arrays["b"]?.floatTensor() == Tensor<Float>(shape: [3], repeating: -1))
        #expect(try reader.verify().allSatisfy(\.ok))
    }
}

/// Names are checked when the manifest is read (issue 12, item 5).
@Suite struct TensorNameTests {
    @Test(arguments: [("../../escaped", "../../escaped.npy"), ("a/b", "a/b.npy"), (".hidden", ".hidden.npy"),
                      ("", ".npy"), ("nul\u{0}byte", "nul\u{0}byte.npy"), ("two\nlines", "two\nlines.npy"),
                      ("w", "x.npy"), ("w", "../w.npy"), ("w", "w.npy/../../x")])
    func unsafeNameOrEntryIsRefusedWhenRead(name: String, entry: String) throws {
        let dir = temporaryDirectory()
        let path = dir + "/names.ckpt"
        var t = tensorEntry("w", shape: [2])
        t.record.name = name
        t.record.entry = entry
        try writeArchive(manifest([t.record]), entries: [t.entry], to: path)
        #expect {
            try CheckpointReader(path: path)
        } throws: { error in
            guard case let .invalidManifest(p, _)? = error as? CheckpointError else { return false }
            return p == path && !"\(error)".contains("\n")
        }
    }

    @Test(arguments: ["../escaped", "a/b", ".hidden", "", "nul\u{0}", "tab\there"])
    func writerRefusesUnsafeNames(name: String) throws {
        let dir = temporaryDirectory()
        #expect {
            try CheckpointWriter.write([TensorSource(name: name, tensor: Tensor<Float>(zeros: [2]))],
                                       manifest: sampleManifest(), to: dir + "/w.ckpt")
        } throws: { error in
            guard case .writeFailed? = error as? CheckpointError else { return false }
            return !"\(error)".contains("\n")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func atomicFolderNeverReplacesAFolderWithFilesWithoutBeingAsked() throws {
        let dir = temporaryDirectory()
        let out = dir + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        writeBytes(Array("keep".utf8), out + "/notes.txt")
        #expect(throws: CheckpointError.self) {
            try AtomicFile.writeFolder(at: out, replacing: false) { (f: String) throws(CheckpointError) in
                try AtomicFile.write(Array("new".utf8), to: f + "/notes.txt")
            }
        }
        #expect(readBytes(out + "/notes.txt") == Array("keep".utf8))
        try AtomicFile.writeFolder(at: out, replacing: true) { (f: String) throws(CheckpointError) in
            try AtomicFile.write(Array("x".utf8), to: f + "/w.npy")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["notes.txt", "w.npy"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out"])
    }
}
