import Analyzers
import CheckpointFormat
import Foundation

/// Checks the contract every analyzer keeps, built-in or custom (docs/CUSTOM_ANALYZERS.md):
///
/// 1. the same options and seed give the same result, byte for byte, as JSON;
/// 2. the result decodes from its JSON and encodes back to the same JSON;
/// 3. the analyzer writes only inside its output folder: the run directory is unchanged;
/// 4. every file the result names exists in the output folder.
///
/// Framework-neutral: it throws `ContractViolation` and works under XCTest or Swift Testing.
public enum AnalyzerTestKit {
    public struct ContractViolation: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `A` twice into fresh temporary folders and checks the contract.
    /// - Returns: the first run's result, for further checks.
    @discardableResult
    public static func checkContract<A: Analyzer>(_ type: A.Type, options: A.Options, run: RunDirectory?,
                                                  seed: UInt64 = 0) throws -> A.Result {
        let before = run.map { snapshot($0.path) }
        var encoded: [Data] = []
        var first: A.Result?
        for attempt in 0..<2 {
            let out = NSTemporaryDirectory() + "/basin-contract-\(A.name)-\(attempt)-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: out) }
            let context = AnalysisContext(run: run, outputDirectory: out, progress: .silent, threads: 2, seed: seed)
            let result = try A(options: options).run(context)
            let json = try encode(result)
            let decoded = try JSONDecoder().decode(A.Result.self, from: json)
            guard try encode(decoded) == json else {
                throw ContractViolation(description: "\(A.name): result does not survive a JSON round trip")
            }
            for file in result.files where !FileManager.default.fileExists(atPath: out + "/" + file) {
                throw ContractViolation(description: "\(A.name): result names '\(file)' but did not write it")
            }
            encoded.append(json)
            if first == nil { first = result }
        }
        guard encoded[0] == encoded[1] else {
            throw ContractViolation(description: "\(A.name): the same seed gave different results")
        }
        if let run, let before, snapshot(run.path) != before {
            throw ContractViolation(description: "\(A.name): changed files in the run directory \(run.path)")
        }
        guard let result = first else { throw ContractViolation(description: "\(A.name): no result") }
        return result
    }

    /// Checks that sharding changes nothing (issue 15): for each N in `counts`, runs shards N…1 of
    /// N into one fresh folder, merges them, and compares every file the unsharded run wrote
    /// (result.json, CSVs, figures) byte for byte.
    /// - Parameter arguments: the command line recorded for the analysis (its settings fingerprint).
    public static func checkSharding<A: ShardableAnalyzer>(_ type: A.Type, options: A.Options, run: RunDirectory?, arguments: [String] = [],
                                                          counts: [Int] = [1, 2, 3, 7], seed: UInt64 = 0) throws {
        let analyzer = A(options: options)
        let root = NSTemporaryDirectory() + "/basin-sharding-\(A.name)-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let whole = try AnalysisRunner.run(analyzer, run: run, outputDirectory: root + "/unsharded", arguments: arguments, seed: seed,
                                           progress: .silent)
        let files = whole.result.files + ["result.json"]
        for n in counts {
            let out = root + "/\(n)-shards"
            for k in stride(from: n, through: 1, by: -1) {
                guard let shard = ShardSelector(index: k, count: n) else { throw ContractViolation(description: "no shard \(k) of \(n)") }
                try ShardRunner.runShard(analyzer, shard: shard, run: run, outputDirectory: out, arguments: arguments + ["--shard", "\(k)/\(n)"],
                                         seed: seed, progress: .silent)
            }
            if FileManager.default.fileExists(atPath: out + "/result.json") {
                throw ContractViolation(description: "\(A.name): a shard wrote result.json")
            }
            _ = try ShardRunner.merge(analyzer, set: try ShardSet.read(out), run: run, progress: .silent)
            for file in files {
                guard let expected = FileManager.default.contents(atPath: whole.outputDirectory + "/" + file),
                      let merged = FileManager.default.contents(atPath: out + "/" + file) else {
                    throw ContractViolation(description: "\(A.name): \(file) missing after merging \(n) shards")
                }
                guard merged == expected else {
                    throw ContractViolation(description: "\(A.name): \(file) merged from \(n) shards differs from the unsharded run's")
                }
            }
        }
    }

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try e.encode(value)
    }

    /// Every file under `path` with its size and modification time.
    static func snapshot(_ path: String) -> [String: String] {
        var out: [String: String] = [:]
        guard let e = FileManager.default.enumerator(atPath: path) else { return out }
        while let item = e.nextObject() as? String {
            let attributes = (try? FileManager.default.attributesOfItem(atPath: path + "/" + item)) ?? [:]
            out[item] = "\(attributes[.size] ?? 0) \(attributes[.modificationDate] ?? 0)"
        }
        return out
    }
}
