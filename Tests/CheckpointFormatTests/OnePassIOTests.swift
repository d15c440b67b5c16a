import Crypto
import Foundation
import Testing
@testable import CheckpointFormat
import Tensors

/// The one-pass checkpoint writer and reader (issue 14): the same bytes as libarchive's tar
/// writer, digests equal to `sha256sum`'s, and every refusal of the sequential reader.
@Suite struct OnePassIOTests {
    /// What `CheckpointWriter` wrote before the one-pass writer: digests first, then every
    /// byte through libarchive.
    func libarchiveReference(_ tensors: [TensorSource], to path: String) throws {
        var manifest = sampleManifest()
        manifest.tensors = tensors.map { t in
            var hasher = SHA256()
            hasher.update(data: NPY.encodeHeader(dtype: t.dtype, shape: t.shape))
            t.withBytes { hasher.update(bufferPointer: $0) }
            return TensorRecord(name: t.name, entry: t.name + ".npy", dtype: t.dtype, shape: t.shape,
                                sha256: hex(hasher.finalize()), role: t.role)
        }
        let manifestBytes = try manifest.encoded()
        try AtomicFile.write(to: path) { (fd: Int32) throws(CheckpointError) in
            let writer = try ArchiveWriter(fd: fd, path: path, kind: .tar(.none))
            do {
                try manifestBytes.withUnsafeBytes { try writer.addEntry(name: "manifest.json", parts: [$0]) }
                try CheckpointManifest.checksumEntryBytes(for: manifestBytes).withUnsafeBytes {
                    try writer.addEntry(name: CheckpointManifest.checksumEntry, parts: [$0])
                }
                for t in tensors {
                    try NPY.encodeHeader(dtype: t.dtype, shape: t.shape).withUnsafeBytes { h in
                        try t.withBytes { p in try writer.addEntry(name: t.name + ".npy", parts: [h, p]) }
                    }
                }
                try writer.finish()
            } catch let error as CheckpointError { throw error } catch { throw .writeFailed(path: path, detail: "\(error)") }
        }
    }

    /// Names that need a pax extended header (longer than ustar holds), sizes on
    /// and off 512-byte boundaries, empty tensors, several dtypes, tensors spanning chunks.
    func awkwardTensors() throws -> [TensorSource] {
        var rng = RandomGenerator(seed: 14)
        let long = String(repeating: "very_long_module_name.", count: 6) + "weight"  // 138 bytes: pax
        return [
            TensorSource(name: "a", tensor: .randomNormal(shape: [3], using: &rng)),
            TensorSource(name: long, tensor: .randomNormal(shape: [7, 5], using: &rng)),
            TensorSource(name: "layer-2.weight+", tensor: .randomNormal(shape: [2, 2], using: &rng)),
            TensorSource(name: "empty", tensor: Tensor<Float>(shape: [0, 4], repeating: 0)),
            TensorSource(name: "aligned", tensor: .randomNormal(shape: [128 - 16], using: &rng)),  // 64 + 448 = 512 bytes
            TensorSource(name: "big", tensor: .randomNormal(shape: [3 * (1 << 18) + 5], using: &rng)),  // 3 MB, several chunks
            TensorSource(name: "steps", array: try NDArray(dtype: .int64, shape: [2], bytes: [UInt8](repeating: 7, count: 16))),
            TensorSource(name: "mask", array: try NDArray(dtype: .bool, shape: [3], bytes: [1, 0, 1])),
            TensorSource(name: "half", array: try NDArray(dtype: .float16, shape: [5], bytes: [UInt8](repeating: 0x3C, count: 10))),
        ]
    }

    @Test func uncompressedArchivesAreByteForByteWhatLibarchiveWrites() throws {
        let dir = temporaryDirectory("onepass")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for tensors in [try awkwardTensors(), sampleTensors(), []] {
            try CheckpointWriter.write(tensors, manifest: sampleManifest(), to: dir + "/fast.ckpt")
            try libarchiveReference(tensors, to: dir + "/reference.ckpt")
            let fast = readBytes(dir + "/fast.ckpt"), reference = readBytes(dir + "/reference.ckpt")
            #expect(fast.count == reference.count)
            #expect(fast == reference)
        }
    }

    @Test func entryDigestsAreWhatSha256sumComputes() throws {
        let dir = temporaryDirectory("onepass")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tensors = try awkwardTensors()
        let manifest = try CheckpointWriter.write(tensors, manifest: sampleManifest(), to: dir + "/c.ckpt")
        // Unpacked by tar and hashed by sha256sum: no Basin code between the file and the digest.
        let out = dir + "/x"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(try run("/usr/bin/env", ["tar", "-xf", dir + "/c.ckpt", "-C", out]).status == 0)
        for r in manifest.tensors {
            let (status, text) = try run("/usr/bin/env", ["sha256sum", out + "/" + r.entry])
            #expect(status == 0)
            #expect(text.split(separator: " ").first.map(String.init) == r.sha256, "\(r.entry)")
        }
        let (_, sum) = try run("/usr/bin/env", ["sha256sum", out + "/manifest.json"])
        #expect(try String(contentsOfFile: out + "/" + CheckpointManifest.checksumEntry, encoding: .utf8).hasPrefix(String(sum.prefix(64))))
    }

    func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(arguments: Compression.allCases)
    func everyTensorReadsBackBitExactly(compression: Compression) throws {
        let dir = temporaryDirectory("onepass")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tensors = try awkwardTensors()
        try CheckpointWriter.write(tensors, manifest: sampleManifest(), to: dir + "/c.ckpt", compression: compression)
        let arrays = try CheckpointReader(path: dir + "/c.ckpt").arrays()
        for t in tensors {
            let bytes = t.withBytes { Array($0) }
            #expect(arrays[t.name] == (try NDArray(dtype: t.dtype, shape: t.shape, bytes: bytes)), "\(t.name)")
        }
        #expect(try CheckpointReader(path: dir + "/c.ckpt").verify().allSatisfy(\.ok))
    }

    /// A byte flipped deep inside a multi-chunk entry (past the first read chunk) is caught by
    /// the hash computed while reading, and named.
    @Test(arguments: [0, 1, 3 << 20])
    func aFlippedByteAnywhereInALargeEntryIsACheckSumMismatch(intoData: Int) throws {
        let dir = temporaryDirectory("onepass")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.ckpt"
        try CheckpointWriter.write(try awkwardTensors(), manifest: sampleManifest(), to: path)
        var bytes = readBytes(path)
        let header = Array("big.npy".utf8) + [0]
        let start = try #require((0..<bytes.count).first { bytes[$0...].starts(with: header) })
        bytes[start + 512 + 128 + intoData] ^= 0x10  // past the tar header and the .npy header
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try CheckpointReader(path: path).arrays()
        } throws: { error in
            guard case .checksumMismatch(_, let entry, _, _) = error as? CheckpointError else { return false }
            return entry == "big.npy"
        }
        let statuses = try CheckpointReader(path: path).verify()
        #expect(statuses.filter { !$0.ok }.map(\.entry) == ["big.npy"])
    }

    /// Findings come in archive order even though entries are read in parallel: the first
    /// damaged entry is the one a reader reports, and `verify` lists each.
    @Test func findingsAreReportedInArchiveOrder() throws {
        let dir = temporaryDirectory("onepass")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.ckpt"
        let tensors = try awkwardTensors()
        try CheckpointWriter.write(tensors, manifest: sampleManifest(), to: path)
        var bytes = readBytes(path)
        for name in ["half.npy", "aligned.npy", "big.npy"] {
            let header = Array(name.utf8) + [0]
            let start = try #require((0..<bytes.count).first { bytes[$0...].starts(with: header) })
            bytes[start + 512 + 130] ^= 1
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try CheckpointReader(path: path).arrays()
        } throws: { error in
            guard case .checksumMismatch(_, let entry, _, _) = error as? CheckpointError else { return false }
            return entry == "aligned.npy"
        }
        let bad = try CheckpointReader(path: path).verify().filter { !$0.ok }.map(\.entry)
        #expect(bad == ["aligned.npy", "big.npy", "half.npy"])
    }

    /// A big-endian or Fortran-order entry (written by another tool) takes the whole-entry
    /// route and still reads as little-endian C order.
    @Test func unusualNPYEntriesReadThroughTheSequentialRoute() throws {
        let dir = temporaryDirectory("onepass")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.ckpt"
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        var big = Array("{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }".utf8)
        big += [UInt8](repeating: 0x20, count: (10 + big.count + 1 + 63) / 64 * 64 - 10 - big.count - 1) + [0x0A]
        var npy = NPY.magic + [1, 0, UInt8(big.count), 0] + big
        // Fortran order: column by column; big-endian bytes.
        for j in 0..<3 { for i in 0..<2 { npy += withUnsafeBytes(of: values[i * 3 + j].bitPattern.bigEndian, Array.init) } }
        var manifest = sampleManifest()
        manifest.tensors = [TensorRecord(name: "w", entry: "w.npy", dtype: .float32, shape: [2, 3], sha256: sha256Hex(npy), role: .parameter)]
        let manifestBytes = try manifest.encoded()
        try AtomicFile.write(to: path) { (fd: Int32) throws(CheckpointError) in
            let writer = try ArchiveWriter(fd: fd, path: path, kind: .tar(.none))
            do {
                try manifestBytes.withUnsafeBytes { try writer.addEntry(name: "manifest.json", parts: [$0]) }
                try CheckpointManifest.checksumEntryBytes(for: manifestBytes).withUnsafeBytes {
                    try writer.addEntry(name: CheckpointManifest.checksumEntry, parts: [$0])
                }
                try npy.withUnsafeBytes { try writer.addEntry(name: "w.npy", parts: [$0]) }
                try writer.finish()
            } catch let error as CheckpointError { throw error } catch { throw .writeFailed(path: path, detail: "\(error)") }
        }
        let w = try CheckpointReader(path: path).tensor(named: "w")
        #expect(w.shape == [2, 3])
        #expect(w.withUnsafeBufferPointer { Array($0) } == values)
    }
}

/// `NPYInput.floats`, the loaders' one-pass route, against `NDArray`'s conversions.
@Suite struct NPYInputTests {
    func write(_ array: NDArray, _ dir: String, _ name: String) throws -> String {
        let path = dir + "/" + name
        try NPYFile.write(array, to: path)
        return path
    }

    @Test func floatsAreFloatTensorsValuesForEveryLoaderDtype() throws {
        let dir = temporaryDirectory("npyinput")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = RandomGenerator(seed: 3)
        let n = (1 << 18) + 3  // more than one chunk for every dtype
        let doubles = (0..<n).map { _ in rng.nextNormal() * 1e3 }
        var f64 = doubles.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        // Finite in the file, infinite as float32: not a non-finite input (as before).
        f64.replaceSubrange(0..<8, with: withUnsafeBytes(of: (1e300).bitPattern.littleEndian, Array.init))
        let arrays = [
            try NDArray(dtype: .float64, shape: [n], bytes: f64),
            NDArray(try Tensor<Float>(shape: [n], scalars: doubles.map(Float.init))),
            try NDArray(dtype: .uint8, shape: [n], bytes: (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) }),
            try NDArray(dtype: .float16, shape: [n], bytes: (0..<n).flatMap { withUnsafeBytes(of: UInt16(truncatingIfNeeded: $0 % 0x7C00).littleEndian, Array.init) }),
        ]
        for (k, a) in arrays.enumerated() {
            let path = try write(a, dir, "\(k).npy")
            for scale: Float in [1, 1 / 255] {
                let (values, bad) = try NPYInput(path: path).floats(scale: scale)
                var expected = a.floats()
                if scale != 1 { for i in expected.indices { expected[i] *= scale } }
                #expect(values.map(\.bitPattern) == expected.map(\.bitPattern), "\(a.dtype)")
                #expect(bad == a.firstNonFiniteIndex(), "\(a.dtype)")
            }
        }
    }

    @Test func theFirstNonFiniteStoredValueIsFound() throws {
        let dir = temporaryDirectory("npyinput")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var values = [Float](repeating: 1, count: 600_000)
        values[400_000] = .nan
        values[500_000] = .infinity
        let path = try write(NDArray(try Tensor<Float>(shape: [values.count], scalars: values)), dir, "x.npy")
        #expect(try NPYInput(path: path).floats().firstNonFinite == 400_000)
    }

    @Test func aFileCutShortIsRefusedBeforeAnythingIsRead() throws {
        let dir = temporaryDirectory("npyinput")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try write(NDArray(Tensor<Float>(shape: [1000], repeating: 1)), dir, "x.npy")
        let bytes = readBytes(path)
        try Data(bytes.prefix(bytes.count - 4)).write(to: URL(fileURLWithPath: path))
        #expect(throws: CheckpointError.invalidNPY(path: path, entry: nil, error: .truncated(expectedBytes: 4000, got: 3996))) {
            _ = try NPYInput(path: path)
        }
    }
}
