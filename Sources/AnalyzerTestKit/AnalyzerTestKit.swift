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
