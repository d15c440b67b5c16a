import Analyzers
import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors

/// The subcommand for analyzer `A`: parses its options, prepares the context, runs it,
/// and publishes result.json and its files.
///
/// The analyzer writes into a staging folder beside the output folder; only when it
/// succeeds does the staging folder replace the old output, so a failed or interrupted
/// run leaves earlier results intact and nothing half-written.
struct AnalyzerCommand<A: Analyzer>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: A.name, abstract: A.summary, discussion: A.discussion)
    }

    @OptionGroup var common: CommonOptions
    @OptionGroup var options: A.Options

    func run() throws {
        let run = try common.run.map { path throws(CheckpointError) in try RunDirectory(path: path) }
        let analyzer = A(options: options)
        let outDir = common.out ?? ((run?.analysesDirectory ?? "analyses") + "/" + analyzer.outputName)
        BLAS.setThreadCount(common.threads)
        let staging = try OutputFolder.stage(outDir)
        do {
            let context = AnalysisContext(run: run, outputDirectory: staging,
                                          progress: ProgressReporter(enabled: common.quiet ? false : nil),
                                          threads: common.threads, seed: common.seed)
            let result = try analyzer.run(context)
            let arguments = Array(CommandLine.arguments.drop { $0 != A.name }.dropFirst())
            let envelope = ResultEnvelope(analyzer: A.name, schemaVersion: A.Result.schemaVersion,
                                          basinVersion: BasinVersion.string, arguments: arguments,
                                          run: run?.path, seed: common.seed, result: result)
            let json = try JSONOutput.encode(envelope)
            try AtomicFile.write(Array(json.utf8), to: staging + "/result.json")
            try OutputFolder.publish(staging, as: outDir)
            if common.json { print(json) } else { print("\(A.name): wrote \(outDir)/result.json") }
        } catch {
            OutputFolder.discard(staging)
            throw error
        }
    }
}

/// Pretty, key-sorted JSON for results (stable diffs, readable by people and scripts).
enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(value), as: UTF8.self)
    }
}

/// Staging and atomic replacement of an analysis output folder.
enum OutputFolder {
    static func stage(_ outDir: String) throws(CheckpointError) -> String {
        let url = URL(fileURLWithPath: outDir)
        let parent = url.deletingLastPathComponent().path
        let staging = parent + "/." + url.lastPathComponent + ".staging-\(getpid())"
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: staging)
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw .writeFailed(path: outDir, detail: "cannot create \(staging)")
        }
        return staging
    }

    /// Moves the old folder aside, renames the staging folder into place, removes the old one.
    static func publish(_ staging: String, as outDir: String) throws(CheckpointError) {
        let fm = FileManager.default
        let old = staging + ".old"
        let hadOld = fm.fileExists(atPath: outDir)
        if hadOld && rename(outDir, old) != 0 { throw .writeFailed(path: outDir, detail: "cannot move the previous results aside") }
        if rename(staging, outDir) != 0 {
            if hadOld { rename(old, outDir) }
            throw .writeFailed(path: outDir, detail: "cannot move the new results into place")
        }
        if hadOld { try? fm.removeItem(atPath: old) }
    }

    static func discard(_ staging: String) { try? FileManager.default.removeItem(atPath: staging) }
}
