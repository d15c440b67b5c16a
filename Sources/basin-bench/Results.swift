import Foundation

/// Basin's side of `make bench`'s summary table: one JSON line per workload, appended to
/// `$BASIN_BENCH_DIR/results/<section>.jsonl`, which the reference scripts append their peers'
/// lines to and bench/summary.py prints as one table. The format (fields `key`, `side`,
/// `workload`, `seconds`, `peer`, `values_checked`, `check`, `per`, `note`) is documented at
/// the top of bench/summary.py and in docs/PERFORMANCE.md.
enum Results {
    struct Per: Encodable {
        var count: Double
        var unit: String
    }

    struct Record: Encodable {
        var key: String
        var side = "basin"
        var workload: String
        var seconds: [Double]
        var per: Per?
        var note: String?
    }

    /// Appends Basin's timings of workload `key` (every repetition, in seconds) to the section's file.
    /// Failing to write is reported on stderr and does not stop the benchmark.
    static func record(section: String, key: String, workload: String, seconds: [Double],
                       per: (count: Double, unit: String)? = nil, note: String? = nil) {
        let record = Record(key: key, workload: workload, seconds: seconds,
                            per: per.map { Per(count: $0.count, unit: $0.unit) }, note: note)
        let folder = directory + "/results"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var line = try encoder.encode(record)
            line.append(UInt8(ascii: "\n"))
            let path = folder + "/\(section).jsonl"
            if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
            guard let handle = FileHandle(forWritingAtPath: path) else { throw BenchError("cannot open \(path)") }
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } catch {
            FileHandle.standardError.write(Data("basin-bench: could not record \(key) in \(folder): \(error)\n".utf8))
        }
    }
}

/// Every repetition's seconds of `body`, `repeats` times.
func timings(_ repeats: Int, _ body: () throws -> Void) rethrows -> [Double] {
    try (0..<max(repeats, 1)).map { _ in try seconds(body) }
}

/// The median of `xs` (NaN when empty).
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// A value handed to `parallelMap`'s workers that the caller makes sure they do not share
/// (each worker touches only its own element).
final class Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
