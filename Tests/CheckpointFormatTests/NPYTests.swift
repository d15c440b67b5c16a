import Foundation
import Testing
@testable import CheckpointFormat

@Suite struct NPYTests {
    static let names = ["float32_c", "float64_fortran", "float32_bigendian", "int64_bigendian", "int64", "int32",
                        "uint8", "bool", "float16", "version2", "version3", "scalar", "empty"]

    @Test(arguments: names)
    func readsWhatNumPyWrote(name: String) throws {
        let array = try NPYFile.read(path: fixtures + "/interop/npy/\(name).npy")
        let expected = try #require(expectedArrays[name])
        #expect(array.dtype.rawValue == expected.dtype)
        #expect(array.shape == expected.shape)
        #expect(array.doubles() == expected.values)
    }

    @Test func encodesByteForByteLikeNumPy() throws {
        let original = readBytes(fixtures + "/interop/npy/float32_c.npy")
        let array = try NPY.decode(original)
        #expect(NPY.encode(array) == original)
    }

    @Test(arguments: [[Int](), [0], [5], [2, 3], [1, 1, 1, 1, 7]])
    func roundTripsEveryShape(shape: [Int]) throws {
        let n = shape.reduce(1, *)
        let a = try NDArray(dtype: .int16, shape: shape, bytes: (0..<(2 * n)).map { UInt8($0 % 251) })
        let encoded = NPY.encode(a)
        #expect(try NPY.decodeHeader(encoded).dataOffset % 64 == 0)
        #expect(try NPY.decode(encoded) == a)
    }

    @Test func floatTensorConversionIsExplicitAndExact() throws {
        let a = try NPYFile.read(path: fixtures + "/interop/npy/float64_fortran.npy")
        let t = a.floatTensor()
        #expect(t.shape == [2, 3, 4])
        #expect(t.scalars.map(Double.init) == expectedArrays["float64_fortran"]?.values)
    }

    @Test func rejectsMalformedFiles() throws {
        let good = readBytes(fixtures + "/interop/npy/float32_c.npy")
        #expect(throws: NPYError.notNPY) { try NPY.decode(Array("hello, world".utf8)) }
        #expect(throws: NPYError.truncated(expectedBytes: 48, got: 40)) { try NPY.decode(Array(good.dropLast(8))) }
        #expect(throws: NPYError.trailingBytes(expectedBytes: 48, got: 49)) { try NPY.decode(good + [0]) }
        var v9 = good; v9[6] = 9
        #expect(throws: NPYError.unsupportedVersion(major: 9, minor: 0)) { try NPY.decode(v9) }
        let structured = NPY.magic + [1, 0, 62, 0] + Array("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n".utf8)
        #expect(throws: NPYError.self) { try NPY.decode(structured) }
        #expect(throws: NPYError.unsupportedDType("<c8")) { try NPY.parseDescr("<c8") }
    }

    @Test func halfPrecisionConvertsExactly() {
        #expect(halfToFloat(0x3C00) == 1)
        #expect(halfToFloat(0xC000) == -2)
        #expect(halfToFloat(0x7BFF) == 65504)
        #expect(halfToFloat(0x0001) == 0x1p-24)
        #expect(halfToFloat(0x7C00) == .infinity)
        #expect(halfToFloat(0x7E00).isNaN)
        #expect(bfloat16ToFloat(0x3FC0) == 1.5)
    }
}

@Suite struct NPZAndSafetensorsTests {
    @Test(arguments: ["stored.npz", "deflated.npz"])
    func readsNumPyArchives(file: String) throws {
        let arrays = try NPZ.read(path: fixtures + "/interop/" + file)
        let byName = Dictionary(uniqueKeysWithValues: arrays.map { ($0.name, $0.array) })
        #expect(Set(byName.keys) == ["weight", "bias"])
        #expect(byName["weight"]?.doubles() == expectedArrays["npz/weight"]?.values)
        #expect(byName["weight"]?.shape == [2, 3])
        #expect(byName["bias"]?.doubles() == expectedArrays["npz/bias"]?.values)
    }

    @Test(arguments: [false, true])
    func npzRoundTrip(compressed: Bool) throws {
        let dir = temporaryDirectory()
        let arrays = try NPZ.read(path: fixtures + "/interop/stored.npz")
        try NPZ.write(arrays, to: dir + "/x.npz", compressed: compressed)
        let back = try NPZ.read(path: dir + "/x.npz")
        #expect(back.map(\.name) == arrays.map(\.name))
        #expect(back.map(\.array) == arrays.map(\.array))
    }

    @Test func readsSafetensorsWrittenByTheReferenceLibrary() throws {
        let (tensors, metadata) = try Safetensors.read(path: fixtures + "/interop/model.safetensors")
        #expect(metadata["source"] == "make_fixtures.py")
        for (name, array) in tensors {
            let e = try #require(expectedArrays["safetensors/" + name])
            #expect(array.dtype.rawValue == e.dtype && array.shape == e.shape && array.doubles() == e.values)
        }
        #expect(tensors.count == 3)
    }

    @Test func safetensorsRoundTripAndTruncation() throws {
        let dir = temporaryDirectory()
        let original = try Safetensors.read(path: fixtures + "/interop/model.safetensors").tensors
        try Safetensors.write(original, metadata: ["a": "b"], to: dir + "/m.safetensors")
        let back = try Safetensors.read(path: dir + "/m.safetensors")
        #expect(back.tensors.map(\.array) == original.map(\.array))
        let bytes = readBytes(dir + "/m.safetensors")
        writeBytes(Array(bytes.dropLast(5)), dir + "/cut.safetensors")
        #expect {
            try Safetensors.read(path: dir + "/cut.safetensors")
        } throws: { error in
            "\(error)".contains("cut.safetensors") && "\(error)".contains("beyond the 31-byte data section")
        }
    }
}

/// The decompressing reader IDX data goes through: Debian's gzip files, plain files, and a
/// stream cut short.
@Suite struct DecompressingReaderTests {
    static let labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: labels) || ProcessInfo.processInfo.environment["BASIN_STRICT_TESTS"] == "1"))
    func readsDebianFashionMNISTLabelsGz() throws {
        let reader = try DecompressingReader(path: Self.labels)
        let bytes = try reader.read(upTo: 20_000)
        // IDX header: magic 0x00000801 (unsigned bytes, 1 dimension), then 10000 labels.
        #expect(reader.isCompressed)
        #expect(Array(bytes.prefix(8)) == [0, 0, 8, 1, 0, 0, 0x27, 0x10])
        #expect(bytes.count == 8 + 10_000)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: labels) || ProcessInfo.processInfo.environment["BASIN_STRICT_TESTS"] == "1"))
    func plainAndTruncatedFiles() throws {
        let dir = temporaryDirectory()
        writeBytes(Array("plain text".utf8), dir + "/plain.txt")
        let plain = try DecompressingReader(path: dir + "/plain.txt")
        #expect(try plain.read(upTo: 100) == Array("plain text".utf8) && !plain.isCompressed)
        writeBytes(Array(readBytes(Self.labels).prefix(2000)), dir + "/cut.gz")
        #expect { _ = try DecompressingReader(path: dir + "/cut.gz").read(upTo: 20_000) } throws: { error in
            guard case .truncated(let path, _, _) = error as? CheckpointError else { return false }
            return path == dir + "/cut.gz"
        }
    }
}
