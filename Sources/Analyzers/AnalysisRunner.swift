import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors

/// Runs an analyzer the way `analyze NAME` does: output folder, staging, result.json with
/// its envelope, atomic publication. The CLI's subcommands and `analyze demo` both use it,
/// and so can a custom driver.
///
/// The analyzer writes into a hidden staging folder beside its output folder; only when it
/// succeeds does the staging folder replace the old output, so a failed or interrupted
/// run leaves earlier results intact and nothing half-written. Because publishing replaces the
/// folder, it is checked first (`OutputFolder`): only a new or empty folder, or one holding an
/// earlier result of the same analyzer, is replaced without `force`.
public enum AnalysisRunner {
    public struct Outcome<R: AnalysisResult> {
        public var outputDirectory: String
        public var result: R
        /// The result.json text as written.
        public var json: String
    }

    /// Runs `analyzer` and publishes its results.
    /// - Parameters:
    ///   - arguments: the command-line arguments to record (after the analyzer's name).
    ///   - outputDirectory: nil means `RUN/analyses/<outputName>` (or `analyses/<outputName>`).
    ///   - force: replace an output folder holding something else (never a run, a checkpoints/ or
    ///     activations/ folder, a folder containing them, or a file).
    /// - Throws: `AnalysisError.needsRunDirectory` and `.outputRefused` before any work; then
    ///   whatever the analyzer throws.
    public static func run<A: Analyzer>(_ analyzer: A, run: RunDirectory?, outputDirectory: String? = nil, arguments: [String],
                                        threads: Int = 2, seed: UInt64 = 0, force: Bool = false,
                                        progress: ProgressReporter) throws -> Outcome<A.Result> {
        if run == nil, let need = analyzer.runDirectoryNeed { throw AnalysisError.needsRunDirectory(analyzer: A.name, because: need) }
        let outDir = outputDirectory ?? ((run?.analysesDirectory ?? "analyses") + "/" + analyzer.outputName)
        return try publishing(A.self, run: run, outputDirectory: outDir, arguments: arguments, threads: threads, seed: seed, force: force,
                              progress: progress) { try analyzer.run($0) }
    }

    /// Checks the output folder, stages, runs `body` with a context writing into the staging
    /// folder, writes result.json and publishes — what every way of producing `A`'s result shares
    /// (a run, the merge of shards).
    /// A folder holding shards of the same analyzer is accepted like one holding its results, and
    /// its `shards/` (partial results and logs) survives the replacement.
    static func publishing<A: Analyzer>(_ type: A.Type, run: RunDirectory?, outputDirectory outDir: String, arguments: [String],
                                        threads: Int, seed: UInt64, force: Bool, progress: ProgressReporter,
                                        _ body: (AnalysisContext) throws -> A.Result) throws -> Outcome<A.Result> {
        let publication = try checkOutput(outDir, analyzer: A.name, force: force)
        BLAS.setThreadCount(threads)
        let staging = try stage(outDir)
        do {
            let context = AnalysisContext(run: run, outputDirectory: staging, progress: progress, threads: threads, seed: seed)
            let result = try body(context)
            let outputs = ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []) + ["result.json"]
            let envelope = ResultEnvelope(analyzer: A.name, schemaVersion: A.Result.schemaVersion, basinVersion: BasinVersion.string,
                                          arguments: arguments, run: run?.path, seed: seed, outputs: Set(outputs).sorted(), result: result)
            let json = try encode(envelope)
            try AtomicFile.write(Array(json.utf8), to: staging + "/result.json")
            if publication == .merge { try merge(staging, into: outDir) } else { try publish(staging, as: outDir, keeping: ["shards"]) }
            return Outcome(outputDirectory: outDir, result: result, json: json)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    /// Parses `arguments` as `A`'s options (validation included) and runs it.
    public static func run<A: Analyzer>(_ type: A.Type, arguments: [String], run: RunDirectory?, outputDirectory: String? = nil,
                                        threads: Int = 2, seed: UInt64 = 0, force: Bool = false,
                                        progress: ProgressReporter) throws -> Outcome<A.Result> {
        let options = try A.Options.parse(arguments)
        return try self.run(A(options: options), run: run, outputDirectory: outputDirectory,
                            arguments: (run.map { [$0.path] } ?? []) + arguments, threads: threads, seed: seed, force: force,
                            progress: progress)
    }

    /// Refuses an output folder the results must not replace (see `OutputFolder`).
    @discardableResult
    public static func checkOutput(_ outDir: String, analyzer: String, force: Bool) throws(AnalysisError) -> OutputFolder.Publication {
        try OutputFolder.check(outDir, kind: "\(analyzer) results", force: force) {
            OutputFolder.holdsResult(of: analyzer, at: $0) || ShardRunner.holdsShards(of: analyzer, at: $0)
        }
    }

    /// Pretty, key-sorted JSON (stable diffs, readable by people and scripts); NaN/∞ as strings.
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    static func stage(_ outDir: String) throws(CheckpointError) -> String {
        let url = URL(fileURLWithPath: outDir)
        let parent = url.deletingLastPathComponent().path
        let prefix = "." + url.lastPathComponent + ".staging-"
        let staging = parent + "/" + prefix + "\(getpid())"
        // Staging folders (and the `.old` folders publish moves aside) of runs that were killed:
        // their process is gone, so nothing will ever publish or remove them.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix(prefix) {
            let rest = entry.dropFirst(prefix.count)
            let digits = rest.prefix { $0.isNumber }
            guard let pid = Int32(digits), pid != getpid(), rest.dropFirst(digits.count).isEmpty || rest.dropFirst(digits.count) == ".old",
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: parent + "/" + entry)
        }
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: staging)
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw .writeFailed(path: outDir, detail: "cannot create \(staging)")
        }
        return staging
    }

    /// Adds the staged results to a folder of other files (`--force`), each entry renamed into
    /// place; refused before anything moves when a result would take the name of a file there.
    static func merge(_ staging: String, into outDir: String) throws {
        let fm = FileManager.default
        let entries = try fm.contentsOfDirectory(atPath: staging).sorted()
        let taken = entries.filter { fm.fileExists(atPath: outDir + "/" + $0) }
        guard taken.isEmpty else {
            throw AnalysisError.outputRefused(path: outDir, reason: "the results would overwrite \(taken.prefix(3).joined(separator: ", "))\(taken.count > 3 ? ", …" : "") there", forceAllowed: false)
        }
        for entry in entries where rename(staging + "/" + entry, outDir + "/" + entry) != 0 {
            throw CheckpointError.writeFailed(path: outDir + "/" + entry, detail: "cannot move the new result into place")
        }
        try? fm.removeItem(atPath: staging)
    }

    /// Moves the old folder aside, renames the staging folder into place, removes the old one —
    /// after moving into the new folder whatever the old one held that was not its results
    /// (`ResultEnvelope.outputs`): files someone put beside earlier results are kept.
    static func publish(_ staging: String, as outDir: String, keeping: [String] = []) throws {
        let fm = FileManager.default
        let old = staging + ".old"
        let hadOld = fm.fileExists(atPath: outDir)
        let kept = keeping.filter { fm.fileExists(atPath: outDir + "/" + $0) }
        let fresh = Set((try? fm.contentsOfDirectory(atPath: staging)) ?? [])
        let keep = hadOld ? Array(Set(OutputFolder.nonResults(in: outDir, replacedBy: fresh) + kept)).sorted() : []
        let taken = keep.filter { fm.fileExists(atPath: staging + "/" + $0) }
        guard taken.isEmpty else {
            throw AnalysisError.outputRefused(path: outDir, reason: "the results would overwrite \(taken.prefix(3).joined(separator: ", ")) there, which earlier results did not write", forceAllowed: false)
        }
        if hadOld && rename(outDir, old) != 0 { throw CheckpointError.writeFailed(path: outDir, detail: "cannot move the previous results aside") }
        if rename(staging, outDir) != 0 {
            if hadOld { rename(old, outDir) }
            throw CheckpointError.writeFailed(path: outDir, detail: "cannot move the new results into place")
        }
        guard hadOld else { return }
        // The old folder is deleted only once everything that was not a result is back in place.
        let stranded = keep.filter { rename(old + "/" + $0, outDir + "/" + $0) != 0 }
        guard stranded.isEmpty else {
            throw CheckpointError.writeFailed(path: outDir, detail: "could not move \(stranded.joined(separator: ", ")) beside the new results; they are in \(old)")
        }
        try? fm.removeItem(atPath: old)
    }
}
