import Foundation
import Testing
@testable import CheckpointFormat

/// An .npy file with the given header dict text (version 1.0, or 2.0 when `version2`).
func npy(_ dict: String, data: [UInt8] = [], version2: Bool = false) -> [UInt8] {
    let text = Array(dict.utf8)
    let n = text.count
    let length: [UInt8] = version2 ? [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24)]
                                   : [UInt8(n & 0xFF), UInt8(n >> 8)]
    return NPY.magic + [version2 ? 2 : 1, 0] + length + text + data
}

@Suite struct HostileNPYTests {
    /// NumPy parses the header as Python: a no-break space (0xA0 in Latin-1) is not whitespace there.
    @Test func onlyPythonWhitespaceSeparatesHeaderTokens() throws {
        var bytes = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }    \n", data: [0, 0, 128, 63])
        #expect(try NPY.decode(bytes).shape == [1])
        let padding = try #require(bytes.lastIndex(of: 0x20))
        bytes[padding] = 0xA0
        #expect { try NPY.decode(bytes) } throws: { error in
            guard case .malformedHeader = error as? NPYError else { return false }
            return true
        }
    }

    @Test func overflowingShapesAreOneClearError() {
        #expect(throws: NPYError.tooLarge(shape: [1 << 62, 4], elementSize: 4)) {
            try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }\n"))
        }
        // Empty, but `reduce(1, *)` over the other dimensions would still trap downstream.
        #expect(throws: NPYError.tooLarge(shape: [1 << 62, 4, 0], elementSize: 8)) {
            try NPY.decode(npy("{'descr': '<f8', 'fortran_order': True, 'shape': (4611686018427387904, 4, 0), }\n"))
        }
        #expect(throws: NPYError.malformedHeader("integer 99999999999999999999 does not fit in 64 bits at offset 51")) {
            try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"))
        }
    }

    @Test func twoMillionNestedParenthesesGiveAnErrorNotAStackOverflow() {
        let deep = "{'descr': '<f4', 'fortran_order': False, 'shape': " + String(repeating: "(", count: 2_000_000) + "}"
        #expect(throws: NPYError.nestingTooDeep(limit: PythonLiteral.maximumDepth)) { try PythonLiteral.parse(deep) }
        // In a file the header length is refused first: it exceeds the 1 MiB maximum.
        #expect(throws: NPYError.headerTooLong(length: deep.utf8.count, maximum: NPY.maximumHeaderLength)) {
            try NPY.decode(npy(deep, version2: true))
        }
        let nested = "{'descr': '<f4', 'fortran_order': False, 'shape': " + String(repeating: "(", count: 100_000) + "}"
        #expect(throws: NPYError.nestingTooDeep(limit: PythonLiteral.maximumDepth)) { try NPY.decode(npy(nested, version2: true)) }
    }

    @Test func headerLengthIsBoundedByTheBytesPresent() {
        // A version 2.0 header claiming 4 GB in a 20-byte file.
        let file = NPY.magic + [2, 0, 0xFF, 0xFF, 0xFF, 0x00] + Array("{'descr'".utf8)
        #expect(throws: NPYError.headerTooLong(length: 0xFF_FFFF, maximum: NPY.maximumHeaderLength)) { try NPY.decode(file) }
        let short = NPY.magic + [1, 0, 0x00, 0x01] + Array("{'descr'".utf8)
        #expect(throws: NPYError.truncated(expectedBytes: 266, got: 18)) { try NPY.decode(short) }
    }

    @Test func headerKeysRankAndValuesAreChecked() {
        #expect(throws: NPYError.malformedHeader("keys ['descr', 'extra', 'fortran_order', 'shape'], expected ['descr', 'fortran_order', 'shape']")) {
            try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}"))
        }
        #expect(throws: NPYError.malformedHeader("key 'shape' repeated at offset 61")) {
            try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'shape': (2,)}"))
        }
        let ones = Array(repeating: "1", count: 65).joined(separator: ", ")
        #expect(throws: NPYError.tooManyDimensions(rank: 65, maximum: 64)) {
            try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (\(ones)), }"))
        }
        #expect(throws: NPYError.malformedHeader("'shape' holds something other than integers")) {
            try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': ((1,),), }"))
        }
        #expect(throws: NPYError.malformedHeader("'descr' is not a string (structured dtypes are not supported)")) {
            try NPY.decode(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"))
        }
    }

    @Test func fortranReorderingChecksItsBuffer() throws {
        #expect(throws: NPYError.trailingBytes(expectedBytes: 24, got: 23)) {
            try NPY.fortranToC([UInt8](repeating: 0, count: 23), shape: [2, 3], elementSize: 4)
        }
        #expect(try NPY.fortranToC([1, 2, 3, 4, 5, 6], shape: [2, 3], elementSize: 1) == [1, 3, 5, 2, 4, 6])
        #expect(try NPY.fortranToC([], shape: [0, 3], elementSize: 4) == [])
    }

    @Test func arraysRefuseShapesTooLargeToExist() {
        #expect(throws: NDArrayError.tooLarge(dtype: .float32, shape: [1 << 62, 4])) {
            try NDArray(dtype: .float32, shape: [1 << 62, 4], bytes: [])
        }
        #expect(throws: NDArrayError.tooLarge(dtype: .uint8, shape: [1 << 62, 4, 0])) {
            try NDArray(dtype: .uint8, shape: [1 << 62, 4, 0], bytes: [])
        }
        #expect(throws: NDArrayError.invalidShape([-1, 2])) { try NDArray(dtype: .uint8, shape: [-1, 2], bytes: []) }
    }

    @Test func aFileShorterThanItsShapeIsRefusedBeforeReading() throws {
        let dir = temporaryDirectory()
        let path = dir + "/huge.npy"
        // 2^40 float64s declared, 8 bytes present: refused from the file size, nothing allocated.
        writeBytes(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }\n", data: [0, 0, 0, 0, 0, 0, 0, 0]), path)
        #expect(throws: CheckpointError.invalidNPY(path: path, entry: nil, error: .truncated(expectedBytes: 1 << 43, got: 8))) {
            try NPYFile.read(path: path)
        }
    }
}

@Suite struct HostileNPZTests {
    /// `bytes` with the 4 bytes at `offset` replaced by `value` (little-endian).
    func patched(_ bytes: [UInt8], at offset: Int, _ value: UInt32) -> [UInt8] {
        var b = bytes
        for i in 0..<4 { b[offset + i] = UInt8((value >> (8 * UInt32(i))) & 0xFF) }
        return b
    }

    /// Offset of the first central directory record (the first entry's CRC-32 is 16 past its
    /// signature; in the local header it is at 14).
    func centralDirectory(_ bytes: [UInt8]) -> Int {
        (0..<(bytes.count - 4)).first { bytes[$0..<($0 + 4)] == [0x50, 0x4B, 0x01, 0x02] } ?? 0
    }

    /// Local header and central directory disagreeing (NumPy reads the one, libarchive the other).
    @Test func aCentralDirectoryThatDisagreesWithTheLocalHeaderIsRefused() throws {
        let dir = temporaryDirectory()
        let original = readBytes(fixtures + "/interop/stored.npz")
        let central = centralDirectory(original)
        for (offset, what) in [(central + 16, "CRC-32 differ"), (central + 20, "runs past the next entry"), (central + 24, "sizes differ")] {
            let path = dir + "/central-\(offset).npz"
            writeBytes(patched(original, at: offset, 0x1234_5678), path)
            #expect {
                try NPZ.read(path: path)
            } throws: { error in
                guard case let .archiveFailure(p, entry, detail) = error as? CheckpointError else { return false }
                return p == path && entry != nil && detail.contains(what) && detail.contains("damaged")
            }
        }
    }

    @Test(arguments: ["stored.npz", "deflated.npz"])
    func aWrongCRCIsRefusedForStoredAndDeflatedEntries(file: String) throws {
        let dir = temporaryDirectory()
        let path = dir + "/" + file
        let original = readBytes(fixtures + "/interop/" + file)
        let central = centralDirectory(original)
        writeBytes(patched(patched(original, at: 14, 0x1234_5678), at: central + 16, 0x1234_5678), path)
        #expect {
            try NPZ.read(path: path)
        } throws: { error in
            guard case let .crcMismatch(p, entry, detail) = error as? CheckpointError else { return false }
            return p == path && entry.hasSuffix(".npy") && detail.contains("CRC")
        }
    }

    @Test func aFlippedDataByteInAStoredEntryIsRefused() throws {
        let dir = temporaryDirectory()
        let array = try NDArray(dtype: .float32, shape: [4], bytes: [UInt8](repeating: 7, count: 16))
        try NPZ.write([("w", array)], to: dir + "/ok.npz")
        var bytes = readBytes(dir + "/ok.npz")
        let magic = try #require((0..<bytes.count).first { Array(bytes[$0..<min($0 + 6, bytes.count)]) == NPY.magic })
        bytes[magic + 128 + 3] ^= 0x01
        writeBytes(bytes, dir + "/flipped.npz")
        #expect {
            try NPZ.read(path: dir + "/flipped.npz")
        } throws: { error in
            guard case let .crcMismatch(p, entry, _) = error as? CheckpointError else { return false }
            return p == dir + "/flipped.npz" && entry == "w.npy"
        }
    }

    @Test func anEntryThatIsNotAnArrayIsRefusedNotSkipped() throws {
        let path = fixtures + "/hostile/extra-entry.npz"
        #expect(throws: CheckpointError.invalidInput(path: path, detail: "entry 'README.txt' is not an .npy array (an .npz holds one NAME.npy per array)")) {
            try NPZ.read(path: path)
        }
    }

    @Test func aDeflateBombStopsAtTheFirstByteBeyondTheHeadersSize() throws {
        // 16 kB that inflate to 16 MiB; zip headers and .npy header all say 144 bytes.
        let path = fixtures + "/hostile/bomb.npz"
        #expect(throws: CheckpointError.invalidNPY(path: path, entry: "x.npy", error: .excessData(expectedBytes: 16))) {
            try NPZ.read(path: path)
        }
    }

    @Test func aZipHeaderClaimingAHugeSizeAllocatesNothing() throws {
        let dir = temporaryDirectory()
        // NumPy writes zip64 entries (0xFFFFFFFF in the local header); a flipped bit there
        // leaves a plain 32-bit size of 3 GB.
        let original = readBytes(fixtures + "/interop/stored.npz")
        writeBytes(patched(original, at: 22, 0xBFFF_FFFF), dir + "/huge.npz")
        #expect {
            try NPZ.read(path: dir + "/huge.npz")
        } throws: { error in
            guard case let .archiveFailure(p, entry, detail) = error as? CheckpointError else { return false }
            return p == dir + "/huge.npz" && entry != nil && detail.contains("local and central sizes differ")
        }
    }

    @Test func duplicatedNamesAreRefused() throws {
        let dir = temporaryDirectory()
        let path = dir + "/dup.npz"
        let file = NPY.encode(try NDArray(dtype: .uint8, shape: [2], bytes: [1, 2]))
        try AtomicFile.write(to: path) { (fd: Int32) throws(CheckpointError) in
            let w = try ArchiveWriter(fd: fd, path: path, kind: .zip(deflate: false))
            for _ in 0..<2 {
                do { try file.withUnsafeBytes { try w.addEntry(name: "w.npy", parts: [$0]) } } catch {
                    throw error as? CheckpointError ?? .writeFailed(path: path, detail: "\(error)")
                }
            }
            try w.finish()
        }
        #expect(throws: CheckpointError.duplicateEntry(path: path, entry: "w.npy")) { try NPZ.read(path: path) }
    }
}

@Suite struct ImportedNameTests {
    /// The names an archive could not hold are refused at import, by the rules its writer
    /// and readers apply (`TensorName`).
    @Test(arguments: [("../../escaped", "contains '/'"), ("/abs", "contains '/'"), ("a//b", "contains '/'"),
                      ("./a", "contains '/'"), ("a/..", "contains '/'"), ("", "is empty"), (".hidden", "starts with '.'"),
                      ("tab\tname", "contains a control character (NUL, newline …)")])
    func namesAnArchiveCannotHoldAreRefused(name: String, problem: String) throws {
        let dir = temporaryDirectory()
        let path = dir + "/names.npz"
        try NPZ.write([(name, try NDArray(dtype: .uint8, shape: [1], bytes: [1]))], to: path)
        #expect(throws: CheckpointError.invalidInput(path: path, detail: "tensor name '\(name)' \(problem)")) {
            try Importer.arrays(from: path)
        }
    }
}
