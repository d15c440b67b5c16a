import Foundation
import Testing
@testable import CheckpointFormat
import Tensors

@Suite struct CheckpointRoundTripTests {
    @Test(arguments: Compression.allCases)
    func writtenTensorsReadBackBitExactly(compression: Compression) throws {
        let dir = temporaryDirectory()
        let path = dir + "/epoch-0003.ckpt"
        let sources = sampleTensors()
        try CheckpointWriter.write(sources, manifest: sampleManifest(), to: path, compression: compression)
        let reader = try CheckpointReader(path: path)
        #expect(reader.manifest.epoch == 3 && reader.manifest.iteration == 120 && reader.manifest.learningRate == 0.05)
        #expect(reader.names == sources.map(\.name))
        #expect(reader.record(named: "features.1.running_mean")?.role == .buffer)
        let arrays = try reader.arrays()
        for s in sources {
            let expected = s.withBytes { Array($0) }
            #expect(arrays[s.name]?.bytes == expected, "tensor \(s.name)")
            #expect(arrays[s.name]?.shape == s.shape)
        }
        #expect(try reader.verify().allSatisfy(\.ok))
        // Nothing but the checkpoint is left in the folder (no temporary files).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["epoch-0003.ckpt"])
    }

    @Test(arguments: Compression.allCases)
    func sameTensorsGiveIdenticalBytes(compression: Compression) throws {
        let dir = temporaryDirectory()
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: dir + "/a.ckpt", compression: compression)
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: dir + "/b.ckpt", compression: compression)
        #expect(readBytes(dir + "/a.ckpt") == readBytes(dir + "/b.ckpt"))
    }

    /// A checkpoint of 20 000 tensors: every record is found by name through an index, and
    /// reading them all is linear in their number (a scan per name made `norms` on such a file
    /// take minutes). The bound is generous for a debug build on a shared machine.
    @Test func manyTensorsAreFoundByNameInLinearTime() throws {
        let dir = temporaryDirectory()
        let sources = (0..<20_000).map { TensorSource(name: "t\($0)", tensor: Tensor<Float>(shape: [1], repeating: Float($0))) }
        try CheckpointWriter.write(sources, manifest: sampleManifest(), to: dir + "/many.ckpt")
        let start = Date()
        let reader = try CheckpointReader(path: dir + "/many.ckpt")
        #expect((0..<20_000).allSatisfy { reader.record(named: "t\($0)")?.shape == [1] } && reader.record(named: "t20000") == nil)
        let arrays = try reader.arrays(named: reader.names)
        #expect(arrays.count == 20_000 && arrays["t19999"]?.floatTensor().scalars == [19_999])
        #expect(Date().timeIntervalSince(start) < 30)
    }

    @Test func readsOnlyTheTensorsAskedFor() throws {
        let dir = temporaryDirectory()
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: dir + "/c.ckpt")
        let reader = try CheckpointReader(path: dir + "/c.ckpt")
        let one = try reader.arrays(named: ["classifier.weight"])
        #expect(Array(one.keys) == ["classifier.weight"])
        #expect(try reader.tensor(named: "features.0.bias").shape == [8])
        #expect(throws: CheckpointError.missingEntry(path: dir + "/c.ckpt", entry: "nope.npy")) {
            try reader.tensor(named: "nope")
        }
    }

    @Test func nonFiniteWeightsAreRejectedWhenRequired() throws {
        let dir = temporaryDirectory()
        var t = Tensor<Float>(zeros: [4])
        t[flat: 2] = .nan
        try CheckpointWriter.write([TensorSource(name: "w", tensor: t)], manifest: sampleManifest(), to: dir + "/n.ckpt")
        let reader = try CheckpointReader(path: dir + "/n.ckpt")
        #expect(throws: CheckpointError.nonFinite(path: dir + "/n.ckpt", entry: "w.npy", index: 2)) {
            try reader.arrays(requireFinite: true)
        }
        #expect(try reader.verify().first?.nonFinite == 1)
    }

    @Test func duplicateNamesAreRefusedAndOldFileKept() throws {
        let dir = temporaryDirectory()
        let path = dir + "/k.ckpt"
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: path)
        let before = readBytes(path)
        let twice = [sampleTensors()[0], sampleTensors()[0]]
        #expect(throws: CheckpointError.self) { try CheckpointWriter.write(twice, manifest: sampleManifest(), to: path) }
        #expect(readBytes(path) == before)
    }

    @Test func failedWriteLeavesPreviousFileAndNoTemporaries() throws {
        let dir = temporaryDirectory()
        let path = dir + "/result.json"
        try AtomicFile.write(Array("old".utf8), to: path)
        #expect(throws: CheckpointError.self) {
            try AtomicFile.write(to: path) { (fd: Int32) throws(CheckpointError) in
                _ = "partial".withCString { write(fd, $0, 7) }
                throw .writeFailed(path: path, detail: "simulated failure")
            }
        }
        #expect(String(decoding: readBytes(path), as: UTF8.self) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["result.json"])
    }

    /// A replaced file of ≥ 1 MiB is released on a background queue (`closeLater`): the new file
    /// is in place when `write` returns and the old one is unlinked (a reader holding it still
    /// sees its bytes), with nothing else left in the folder.
    @Test func aLargeReplacedFileIsReleasedInTheBackground() throws {
        let dir = temporaryDirectory()
        let path = dir + "/big.bin"
        let old = [UInt8](repeating: 7, count: 4 << 20)
        try AtomicFile.write(old, to: path)
        let watcher = open(path, O_RDONLY)
        defer { close(watcher) }
        try AtomicFile.write(Array("new".utf8), to: path)
        #expect(String(decoding: readBytes(path), as: UTF8.self) == "new")
        var info = stat()
        #expect(fstat(watcher, &info) == 0 && info.st_nlink == 0 && info.st_size == 4 << 20)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["big.bin"])
    }

    /// What the path holds is only replaced, never opened in a way that blocks or reaches past it:
    /// a FIFO (nobody writing) and a symbolic link are replaced by the file, the link's target kept.
    @Test func aFIFOOrALinkAtThePathIsReplacedWithoutBlocking() throws {
        let dir = temporaryDirectory()
        let fifo = dir + "/pipe.json"
        #expect(mkfifo(fifo, 0o644) == 0)
        try AtomicFile.write(Array("one".utf8), to: fifo)
        #expect(String(decoding: readBytes(fifo), as: UTF8.self) == "one")
        let target = dir + "/target.bin", link = dir + "/link.bin"
        try AtomicFile.write([UInt8](repeating: 1, count: 2 << 20), to: target)
        #expect(symlink(target, link) == 0)
        try AtomicFile.write(Array("two".utf8), to: link)
        #expect(String(decoding: readBytes(link), as: UTF8.self) == "two")
        #expect(readBytes(target).count == 2 << 20)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil)
    }
}

@Suite struct CorruptCheckpointTests {
    func goodCheckpoint(_ dir: String) throws -> String {
        let path = dir + "/good.ckpt"
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: path)
        return path
    }

    @Test(arguments: Compression.allCases, [0.1, 0.5, 0.9, 0.999])
    func truncatedArchiveNamesTheFile(compression: Compression, fraction: Double) throws {
        let dir = temporaryDirectory()
        let path = dir + "/good.ckpt"
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: path, compression: compression)
        let bytes = readBytes(path)
        let cut = dir + "/cut.ckpt"
        writeBytes(Array(bytes.prefix(Int(Double(bytes.count) * fraction))), cut)
        #expect {
            let reader = try CheckpointReader(path: cut)
            _ = try reader.arrays()
        } throws: { error in
            guard let e = error as? CheckpointError else { return false }
            return e.description.hasPrefix(cut) && e.description.contains("truncated")
        }
    }

    @Test func flippedByteIsACheckSumMismatchNamingTheEntry() throws {
        let dir = temporaryDirectory()
        let path = try goodCheckpoint(dir)
        var bytes = readBytes(path)
        // Flip a byte in the last tensor's data (well past its .npy header).
        let marker = Array("classifier.weight.npy".utf8)
        // The last occurrence is the tar header's name field; the data follows the 512-byte header.
        let start = try #require((0..<(bytes.count - marker.count)).last { Array(bytes[$0..<($0 + marker.count)]) == marker })
        bytes[start + 512 + 128 + 100] ^= 0xFF
        writeBytes(bytes, path)
        let reader = try CheckpointReader(path: path)
        #expect {
            try reader.arrays()
        } throws: { error in
            guard case let .checksumMismatch(p, entry, _, _)? = error as? CheckpointError else { return false }
            return p == path && entry == "classifier.weight.npy"
        }
        let statuses = try reader.verify()
        #expect(statuses.filter { !$0.ok }.map(\.entry) == ["classifier.weight.npy"])
    }

    @Test(arguments: [Array("just some text\n".utf8), [UInt8](repeating: 0xAB, count: 4096), []])
    func nonArchiveIsReportedAsSuch(contents: [UInt8]) throws {
        let dir = temporaryDirectory()
        let path = dir + "/bogus.ckpt"
        writeBytes(contents, path)
        #expect {
            try CheckpointReader(path: path)
        } throws: { error in
            guard let e = error as? CheckpointError else { return false }
            switch e {
            case .notAnArchive, .missingManifest, .truncated: return e.description.hasPrefix(path)
            default: return false
            }
        }
    }

    @Test func missingFile() {
        #expect(throws: CheckpointError.fileNotFound(path: "/nonexistent/x.ckpt")) {
            try CheckpointReader(path: "/nonexistent/x.ckpt")
        }
    }

    @Test func unknownFormatVersionIsRefused() throws {
        let dir = temporaryDirectory()
        let path = dir + "/future.ckpt"
        let manifest = #"{"format": "basin-checkpoint", "formatVersion": 99, "kind": "checkpoint"}"#
        try writeRawTar([("manifest.json", Array(manifest.utf8))], to: path)
        #expect(throws: CheckpointError.unsupportedVersion(path: path, found: 99, supported: 2)) {
            try CheckpointReader(path: path)
        }
        let other = #"{"format": "something-else", "formatVersion": 1}"#
        try writeRawTar([("manifest.json", Array(other.utf8))], to: path)
        #expect(throws: CheckpointError.unsupportedFormat(path: path, found: "something-else", expected: "basin-checkpoint")) {
            try CheckpointReader(path: path)
        }
    }

    @Test func manifestMustComeFirst() throws {
        let dir = temporaryDirectory()
        let path = dir + "/order.ckpt"
        try writeRawTar([("w.npy", NPY.encode(NDArray(Tensor<Float>(zeros: [2])))), ("manifest.json", Array("{}".utf8))], to: path)
        #expect(throws: CheckpointError.missingManifest(path: path)) { try CheckpointReader(path: path) }
    }

    /// A manifest that disagrees with its entry (shape, dtype, a missing entry) is caught.
    @Test(arguments: ["shape", "dtype", "missing"])
    func manifestAndEntryMustAgree(what: String) throws {
        let dir = temporaryDirectory()
        let path = dir + "/bad-\(what).ckpt"
        let entry = NPY.encode(NDArray(Tensor<Float>(zeros: [2, 3])))
        var record = TensorRecord(name: "w", entry: "w.npy", dtype: .float32, shape: [2, 3], sha256: sha256Hex(entry), role: .parameter)
        switch what {
        case "shape": record.shape = [3, 2]
        case "dtype": record.dtype = .float64
        default: break
        }
        var manifest = sampleManifest()
        manifest.tensors = [record]
        try writeArchive(manifest, entries: what == "missing" ? [] : [("w.npy", entry)], to: path)
        let reader = try CheckpointReader(path: path)
        let expected: CheckpointError
        switch what {
        case "shape": expected = .shapeMismatch(path: path, entry: "w.npy", expected: [3, 2], found: [2, 3])
        case "dtype": expected = .dtypeMismatch(path: path, entry: "w.npy", expected: "float64", found: "float32")
        default: expected = .missingEntry(path: path, entry: "w.npy")
        }
        #expect(throws: expected) { try reader.arrays() }
    }

    @Test func errorMessagesAreOneLineNamingFileAndEntry() {
        let e = CheckpointError.checksumMismatch(path: "run/checkpoints/epoch-0070.ckpt", entry: "fc.weight.npy",
                                                 expected: String(repeating: "a", count: 64), actual: String(repeating: "b", count: 64))
        #expect(!e.description.contains("\n"))
        #expect(e.description.contains("run/checkpoints/epoch-0070.ckpt") && e.description.contains("fc.weight.npy"))
    }
}

@Suite struct RunDirectoryTests {
    func makeRun() throws -> RunDirectory {
        let run = try RunDirectory.create(path: temporaryDirectory("run"))
        for p in [RunPoint.epoch(10), .epoch(150), .epoch(70), .iteration(123)] {
            try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(at: p), to: run.checkpointPath(for: p))
        }
        return run
    }

    /// A checkpoint renamed (or copied from another run's point) would be analysed, and its
    /// results labelled, as the point its name says: refused naming both.
    @Test func aMislabelledCheckpointIsRefusedNamingBothPoints() throws {
        let run = try makeRun()
        let file = run.checkpointPath(for: .epoch(70))
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(at: .epoch(71)), to: file)
        #expect(throws: CheckpointError.invalidInput(path: file, detail: "its manifest says epoch 71, but its name says epoch 70 (renamed, or copied from another point?); rename it to epoch-0071.ckpt or import it again with the right point")) {
            try run.checkpoint(.epoch(70))
        }
        #expect(throws: CheckpointError.self) { try run.resolvePair("10,70") }
        // An iteration file is checked against its iteration; the epoch it fell in is not its label.
        let iteration = run.checkpointPath(for: .iteration(123))
        var m = sampleManifest(at: .iteration(124)); m.epoch = 3
        try CheckpointWriter.write(sampleTensors(), manifest: m, to: iteration)
        #expect(throws: CheckpointError.self) { try run.checkpoint(.iteration(123)) }
        m.iteration = 123
        try CheckpointWriter.write(sampleTensors(), manifest: m, to: iteration)
        #expect(try run.checkpoint(.iteration(123)) == iteration)
        // A manifest without a point (an import that named none) is taken by its name.
        var unlabelled = sampleManifest(); unlabelled.epoch = nil; unlabelled.iteration = nil
        try CheckpointWriter.write(sampleTensors(), manifest: unlabelled, to: file)
        #expect(try run.checkpoint(.epoch(70)) == file)
    }

    @Test func listsCheckpointsInTrainingOrder() throws {
        let run = try makeRun()
        #expect(run.checkpoints() == [.epoch(10), .epoch(70), .epoch(150), .iteration(123)])
        #expect(run.checkpointPath(for: .epoch(70)).hasSuffix("checkpoints/epoch-0070.ckpt"))
        #expect(run.checkpointPath(for: .iteration(123)).hasSuffix("checkpoints/iter-000123.ckpt"))
    }

    @Test func resolvesPairs() throws {
        let run = try makeRun()
        let (a, fa, b, fb) = try run.resolvePair("70,150")
        #expect(a == .epoch(70) && b == .epoch(150))
        #expect(fa.hasSuffix("epoch-0070.ckpt") && fb.hasSuffix("epoch-0150.ckpt"))
        #expect(try RunDirectory.parsePoints("epoch:3, it:45,7") == [.epoch(3), .iteration(45), .epoch(7)])
    }

    @Test func missingEpochListsWhatExists() throws {
        let run = try makeRun()
        #expect(throws: CheckpointError.missingCheckpoint(run: run.path, requested: "epoch 30",
                                                          available: ["epoch 10", "epoch 70", "epoch 150", "iteration 123"])) {
            try run.resolvePair("30,150")
        }
        #expect(throws: CheckpointError.self) { try run.resolvePair("70") }
        #expect(throws: CheckpointError.self) { try RunDirectory.parsePoints("seventy") }
    }

    /// Only the names Basin writes count (`epoch-1.ckpt` beside `epoch-0001.ckpt` is not a second
    /// epoch 1), and a checkpoint that is a link leading nowhere is named as such, not as missing.
    @Test func oddNamesAndDeadLinksInCheckpoints() throws {
        let run = try makeRun()
        try CheckpointWriter.write(sampleTensors(), manifest: sampleManifest(), to: run.checkpointsDirectory + "/epoch-10.ckpt")
        #expect(run.checkpoints() == [.epoch(10), .epoch(70), .epoch(150), .iteration(123)])
        let loop = run.checkpointPath(for: .epoch(5))
        #expect(symlink(loop, loop) == 0)
        #expect(throws: CheckpointError.invalidInput(path: loop, detail: "a symbolic link that leads nowhere (a loop, or its target is missing)")) {
            try run.checkpoint(.epoch(5))
        }
    }

    /// A format version below 1 is malformed, not a newer format.
    @Test func aNegativeFormatVersionIsNotNewer() throws {
        let path = temporaryDirectory() + "/negative.ckpt"
        try writeRawTar([("manifest.json", Array(#"{"format": "basin-checkpoint", "formatVersion": -1, "kind": "checkpoint"}"#.utf8))], to: path)
        #expect(throws: CheckpointError.invalidManifest(path: path, detail: "formatVersion -1 is not a version (1…2)")) {
            try CheckpointReader(path: path)
        }
    }

    @Test func notADirectory() {
        #expect(throws: CheckpointError.notARunDirectory(path: "/nonexistent-run", detail: "no such directory")) {
            try RunDirectory(path: "/nonexistent-run")
        }
    }
}

@Suite struct ImportTests {
    @Test func folderOfNumPyFilesImportsToEqualTensors() throws {
        let dir = temporaryDirectory()
        let source = fixtures + "/interop/state_dict"
        let manifest = try Importer.importArchive(from: source, to: dir + "/imported.ckpt",
                                                  manifest: CheckpointManifest(kind: .checkpoint, createdBy: "test"))
        #expect(manifest.tensors.first { $0.name == "bn1.running_mean" }?.role == .buffer)
        #expect(manifest.tensors.first { $0.name == "fc1.weight" }?.role == .parameter)
        let arrays = try CheckpointReader(path: dir + "/imported.ckpt").arrays()
        for (name, original) in try Importer.arrays(from: source) {
            #expect(arrays[name] == original, "tensor \(name)")
            let e = try #require(expectedArrays["state_dict/" + name])
            #expect(arrays[name]?.doubles() == e.values && arrays[name]?.dtype.rawValue == e.dtype)
        }
    }

    @Test(arguments: ["stored.npz", "model.safetensors"])
    func archivesImport(file: String) throws {
        let dir = temporaryDirectory()
        let m = try Importer.importArchive(from: fixtures + "/interop/" + file, to: dir + "/x.ckpt",
                                           manifest: CheckpointManifest(kind: .checkpoint, createdBy: "test"))
        #expect(m.tensors.count >= 2)
        #expect(try CheckpointReader(path: dir + "/x.ckpt").verify().allSatisfy(\.ok))
    }

    @Test func activationDumpsNeedMatricesOnOneProbeSet() throws {
        let dir = temporaryDirectory()
        var manifest = CheckpointManifest(kind: .activations, createdBy: "test")
        manifest.probe = ProbeSet(dataset: "toy", split: "val", count: 5)
        #expect(throws: CheckpointError.self) {
            try Importer.importArchive(from: fixtures + "/interop/stored.npz", to: dir + "/a.acts", manifest: manifest)
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/a.acts"))
    }
}
