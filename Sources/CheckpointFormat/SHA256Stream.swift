import CSHA256
import Crypto
import Foundation

/// SHA-256 of a byte stream fed in pieces: the x86 SHA extensions (`CSHA256`) where the CPU
/// has them, swift-crypto otherwise. Two streams fed the same number of bytes at once
/// (`updatePair`) are compressed together, which keeps a core's SHA unit busy where one
/// message's dependent rounds leave it waiting: checkpoint reads hash their entries in pairs.
struct SHA256Stream {
    private enum Engine {
        case native(basin_sha256_context)
        case portable(SHA256)
    }
    private var engine: Engine

    /// Whether this CPU runs the native kernel (`BASIN_SHA256=portable` forces swift-crypto).
    static let accelerated: Bool = {
        if let forced = getenv("BASIN_SHA256"), String(cString: forced) == "portable" { return false }
        return basin_sha256_accelerated() != 0
    }()

    init() {
        if Self.accelerated {
            var c = basin_sha256_context()
            basin_sha256_init(&c)
            engine = .native(c)
        } else {
            engine = .portable(SHA256())
        }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch engine {
        case .native(var c):
            if let base = bytes.baseAddress { basin_sha256_update(&c, base, bytes.count) }
            engine = .native(c)
        case .portable(var h):
            h.update(bufferPointer: bytes)
            engine = .portable(h)
        }
    }

    /// `a` into `first` and `b` into `second`; whole blocks of both compressed together when
    /// both streams run the native kernel and `a` and `b` have one length.
    static func updatePair(_ first: inout SHA256Stream, _ a: UnsafeRawBufferPointer,
                           _ second: inout SHA256Stream, _ b: UnsafeRawBufferPointer) {
        guard case .native(var x) = first.engine, case .native(var y) = second.engine, a.count == b.count,
              let pa = a.baseAddress, let pb = b.baseAddress else {
            first.update(a)
            second.update(b)
            return
        }
        basin_sha256_update_pair(&x, pa, &y, pb, a.count)
        first.engine = .native(x)
        second.engine = .native(y)
    }

    /// The digest as lowercase hex.
    func finalizeHex() -> String {
        switch engine {
        case .native(var c):
            var digest = [UInt8](repeating: 0, count: 32)
            digest.withUnsafeMutableBufferPointer { d in
                if let base = d.baseAddress { basin_sha256_final(&c, base) }
            }
            return hex(digest)
        case .portable(let h):
            return hex(h.finalize())
        }
    }
}
