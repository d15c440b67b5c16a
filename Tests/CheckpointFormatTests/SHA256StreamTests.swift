import Crypto
import Foundation
import Testing
@testable import CheckpointFormat

/// The native SHA-256 kernel (x86 SHA extensions, one message or two interleaved) gives
/// swift-crypto's digest for every length and every way of feeding the bytes.
@Suite("SHA-256 stream: native kernel against swift-crypto")
struct SHA256StreamTests {
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func reference(_ b: [UInt8]) -> String { hex(SHA256.hash(data: b)) }

    @Test func knownAnswers() {
        var s = SHA256Stream()
        Array("abc".utf8).withUnsafeBytes { s.update($0) }
        #expect(s.finalizeHex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Stream().finalizeHex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func everyLengthAndPieceSizeMatchesSwiftCrypto() {
        for count in Array(0...200) + [511, 512, 513, 4095, 65_536 + 7, 1 << 20] {
            let b = Self.bytes(count, seed: UInt64(count))
            for piece in [1, 7, 63, 64, 65, 1000, 1 << 21] {
                var s = SHA256Stream()
                b.withUnsafeBytes { all in
                    var at = 0
                    while at < count {
                        let n = min(piece, count - at)
                        s.update(UnsafeRawBufferPointer(rebasing: all[at..<(at + n)]))
                        at += n
                    }
                }
                #expect(s.finalizeHex() == Self.reference(b), "\(count) bytes in pieces of \(piece)")
            }
        }
    }

    @Test func pairsMatchTwoSeparateDigests() {
        // Two messages of different lengths fed together as far as they go, the rest alone,
        // with odd prefixes so the pair path also meets partly filled blocks.
        for (la, lb, prefix) in [(0, 0, 0), (64, 64, 0), (1 << 20, 1 << 20, 128), (3000, 70_000, 5), (1 << 19 + 17, 1 << 18, 64), (200, 199, 1)] {
            let a = Self.bytes(la, seed: 1), b = Self.bytes(lb, seed: 2)
            var sa = SHA256Stream(), sb = SHA256Stream()
            a.withUnsafeBytes { pa in
                b.withUnsafeBytes { pb in
                    let p = min(prefix, la, lb)
                    sa.update(UnsafeRawBufferPointer(rebasing: pa[0..<p]))
                    sb.update(UnsafeRawBufferPointer(rebasing: pb[0..<p]))
                    var at = p
                    let common = min(la, lb)
                    while at < common {
                        let n = min(4096 * 16, common - at)
                        SHA256Stream.updatePair(&sa, UnsafeRawBufferPointer(rebasing: pa[at..<(at + n)]),
                                                &sb, UnsafeRawBufferPointer(rebasing: pb[at..<(at + n)]))
                        at += n
                    }
                    sa.update(UnsafeRawBufferPointer(rebasing: pa[at..<la]))
                    sb.update(UnsafeRawBufferPointer(rebasing: pb[at..<lb]))
                }
            }
            #expect(sa.finalizeHex() == Self.reference(a), "first of \(la), \(lb)")
            #expect(sb.finalizeHex() == Self.reference(b), "second of \(la), \(lb)")
        }
    }

    @Test func theNativeKernelRunsWhereTheCPUHasIt() throws {
        // Not a skip: on a CPU without the SHA extensions the portable engine is what runs, and the
        // digests above were swift-crypto's own; the machines Basin is measured on have them.
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if flags.contains(" sha_ni") && ProcessInfo.processInfo.environment["BASIN_SHA256"] == nil {
            #expect(SHA256Stream.accelerated, "the CPU lists sha_ni: the native kernel should be used")
        }
    }
}
