import Foundation
import Testing
@testable import CheckpointFormat

@Suite struct HostileSafetensorsTests {
    let dir = temporaryDirectory()

    /// Writes a safetensors file: the header text padded with spaces to `padTo` bytes, its
    /// length field plus `lengthDelta`, then `data`.
    func file(_ header: String, data: [UInt8], lengthDelta: Int = 0, padTo: Int = 0, name: String = "t.safetensors") -> String {
        var h = Array(header.utf8)
        while h.count < padTo { h.append(0x20) }
        let n = UInt64(h.count + lengthDelta)
        var bytes: [UInt8] = []
        withUnsafeBytes(of: n.littleEndian) { bytes += $0 }
        bytes += h + data
        let path = dir + "/" + name
        writeBytes(bytes, path)
        return path
    }

    func expectInvalid(_ path: String, _ detail: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: CheckpointError.invalidSafetensors(path: path, detail: detail), sourceLocation: sourceLocation) {
            try Safetensors.read(path: path)
        }
    }

    let two = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}}"#
    let data: [UInt8] = Array(0..<12)

    /// A header of 100 000 (empty) tensors reads in time linear in its size: its duplicate-key
    /// scan copied the set of keys seen for every key, minutes for a 12 MB header. The bound is
    /// generous (debug build, shared machine); the quadratic scan took over a minute here.
    @Test func aHeaderOfManyTensorsReadsInLinearTime() throws {
        let header = "{" + (0..<100_000).map { #""t\#($0)":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}"# }.joined(separator: ",") + "}"
        let start = Date()
        let (tensors, _) = try Safetensors.read(path: file(header, data: [], name: "many.safetensors"))
        #expect(tensors.count == 100_000 && tensors.last?.array.count == 0)
        #expect(Date().timeIntervalSince(start) < 20)
        #expect(JSONKeyScan.problem(in: Array(#"{"a":1,"b":{"a":2},"a":3}"#.utf8)) == "key 'a' appears more than once")
    }

    @Test func aValidFileReads() throws {
        let (tensors, _) = try Safetensors.read(path: file(two, data: data, padTo: 112))
        #expect(tensors.map(\.name) == ["a", "b"])
        #expect(tensors[1].array.bytes == [8, 9, 10, 11])
    }

    @Test func aHeaderLengthOffByOneIsRefused() {
        // One byte short: the padding space is dropped and the data section grows by a byte.
        expectInvalid(file(two, data: data, lengthDelta: -1, padTo: 112),
                      "the data section has 13 bytes but the tensors cover 12: 1 bytes unaccounted for")
        // One byte long: the header swallows the first data byte.
        expectInvalid(file(two, data: data, lengthDelta: 1, padTo: 112), "header is not a JSON object")
        // One byte short without padding: the closing brace falls into the data.
        expectInvalid(file(two, data: data, lengthDelta: -1), "header is not a JSON object")
    }

    @Test func overlappingGappedAndMisplacedOffsetsAreRefused() {
        expectInvalid(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: data),
                      "tensor 'b': data_offsets [4, 12] overlap the previous tensor, which ends at 8")
        expectInvalid(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, data: data),
                      "tensor 'b': data_offsets [8, 12] leave a gap after byte 4")
        expectInvalid(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: data),
                      "tensor 'a': data_offsets [4, 12] leave a gap after byte 0")
        expectInvalid(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: data),
                      "the data section has 12 bytes but the tensors cover 8: 4 bytes unaccounted for")
        expectInvalid(file(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, data: []),
                      "tensor 'a': data_offsets [8, 0] end before they begin")
    }

    @Test func sizesAreCheckedAgainstDtypeAndShape() {
        expectInvalid(file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(data[0..<8])),
                      "tensor 'a': F32 shape [3] needs 12 bytes, data_offsets [0, 8] hold 8")
        expectInvalid(file(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: Array(data[0..<8])),
                      "tensor 'a': shape [4611686018427387904, 4] has more elements than any file or memory can hold")
        expectInvalid(file(#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, data: Array(data[0..<8])),
                      "tensor 'a': needs dtype, shape and data_offsets [begin, end] (non-negative integers)")
        expectInvalid(file(#"{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}"#, data: Array(data[0..<8])),
                      "tensor 'a': unsupported dtype F8_E4M3")
    }

    @Test func theHeaderItselfIsValidated() {
        expectInvalid(file(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: [1, 2]),
                      "header: key 'a' appears more than once")
        expectInvalid(file(#"{"__metadata__":{"n":1}}"#, data: []), "__metadata__ must map strings to strings")
        expectInvalid(file(#"  {}"#, data: []), "header does not start with '{'")
        expectInvalid(file(#"[]"#, data: []), "header does not start with '{'")
        let deep = String(repeating: "[", count: 100_000)
        expectInvalid(file("{\"a\":" + deep, data: []), "header: nested deeper than 64 levels")
    }

    @Test func theHeaderLengthIsBoundedByTheFileAndAMaximum() throws {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { bytes += $0 }
        writeBytes(bytes + Array("{}".utf8), dir + "/big.safetensors")
        expectInvalid(dir + "/big.safetensors", "header length 200000000 exceeds the 100000000-byte maximum")
        bytes = []
        withUnsafeBytes(of: UInt64(1000).littleEndian) { bytes += $0 }
        writeBytes(bytes + Array("{}".utf8), dir + "/short.safetensors")
        expectInvalid(dir + "/short.safetensors", "header length 1000 exceeds the 2 bytes after the length field (truncated?)")
        writeBytes([1, 2, 3], dir + "/tiny.safetensors")
        expectInvalid(dir + "/tiny.safetensors", "file is 3 bytes, shorter than the 8-byte header length")
    }
}
