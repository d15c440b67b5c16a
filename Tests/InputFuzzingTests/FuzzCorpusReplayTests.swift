import Foundation
import InputFuzzing
import Testing

/// Replays the fuzzers' seed corpus and every crasher they ever found (fuzz/regressions/)
/// through the same entry points the libFuzzer harness calls. A reader that traps, hangs or
/// allocates wildly on one of these files fails here, in `make test`, without sanitizers.
@Suite struct FuzzCorpusReplayTests {
    static let fuzzFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fuzz").path

    /// (target, file) for every file under fuzz/<kind>/<target>/.
    static func inputs(_ kind: String) -> [(FuzzTarget, String)] {
        FuzzTarget.allCases.flatMap { target -> [(FuzzTarget, String)] in
            let dir = "\(fuzzFolder)/\(kind)/\(target.rawValue)"
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return files.sorted().map { (target, "\(dir)/\($0)") }
        }
    }

    @Test func everyTargetHasSeeds() {
        let seeded = Set(Self.inputs("corpus").map(\.0))
        #expect(seeded == Set(FuzzTarget.allCases), "targets without seeds: \(Set(FuzzTarget.allCases).subtracting(seeded))")
    }

    /// Seeds are valid files: each must be read without error.
    @Test func seedsAreRead() throws {
        for (target, file) in Self.inputs("corpus") {
            let bytes = try #require(FileManager.default.contents(atPath: file), "cannot read \(file)")
            let outcome = target.run(Array(bytes))
            #expect(outcome.hasPrefix("ok"), "\(target) seed \(file): \(outcome)")
        }
    }

    /// Crashers: each must now end in one clear line naming the file, within seconds.
    @Test func crashersEndInOneLineNamingTheFile() throws {
        let crashers = Self.inputs("regressions")
        #expect(!crashers.isEmpty)
        for (target, file) in crashers {
            let bytes = try #require(FileManager.default.contents(atPath: file), "cannot read \(file)")
            let start = Date()
            let outcome = target.run(Array(bytes))
            #expect(Date().timeIntervalSince(start) < 10, "\(target) \(file) took \(Date().timeIntervalSince(start)) s")
            guard !outcome.hasPrefix("ok") else { continue }  // a crasher may be a valid file once the bug is fixed
            #expect(!outcome.contains("\n"), "\(target) \(file): more than one line: \(outcome)")
            #expect(outcome.contains("basin-fuzz-"), "\(target) \(file): the message does not name the file: \(outcome)")
        }
    }

    /// Every seed, cut short at several lengths and with one byte flipped at several places:
    /// a small deterministic mutation sweep that runs in every `make test`.
    @Test func damagedSeedsEndInOneLine() throws {
        for (target, file) in Self.inputs("corpus") {
            let bytes = try #require(FileManager.default.contents(atPath: file).map { [UInt8]($0) })
            var variants: [[UInt8]] = []
            for cut in [0, 1, bytes.count / 3, bytes.count / 2, bytes.count - 1] where cut >= 0 && cut < bytes.count {
                variants.append(Array(bytes[..<cut]))
            }
            for position in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 16)) {
                var flipped = bytes
                flipped[position] ^= 0x5A
                variants.append(flipped)
            }
            let intact = target.run(bytes)
            for v in variants {
                let outcome = target.run(v)
                #expect(!outcome.contains("\n"), "\(target) \(file) variant of \(v.count) bytes: \(outcome)")
                // Checksummed formats: damage is refused, or it touched nothing that is read.
                if target.detectsDamage && outcome.hasPrefix("ok") {
                    #expect(outcome == intact, "\(target) \(file): a damaged copy was read as different data")
                }
            }
        }
    }
}
