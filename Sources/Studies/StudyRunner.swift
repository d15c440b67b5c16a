import Analyzers
import CheckpointFormat
import Foundation

/// Runs a study into its folder and writes its page.
public enum StudyRunner {
    /// - Returns: the path of the page (README.md).
    /// - Throws: `CheckpointError.writeFailed` when `out` is a file or a folder of something else
    ///   than an earlier run of the same study; whatever training and analyses throw.
    @discardableResult
    public static func run(_ type: any Study.Type, out: String, budget: StudyBudget, seed: UInt64, threads: Int, fixtures: String?,
                           quiet: Bool) throws -> String {
        try checkFolder(out, study: type.info.name)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let say: ((String) -> Void)? = quiet ? nil : { line in print("study: " + line); fflush(nil) }
        let session = StudySession(out: out, budget: budget, seed: seed, threads: threads, fixtures: fixtures,
                                   progress: ProgressReporter(enabled: quiet ? false : nil), log: say)
        if let data = FileManager.default.contents(atPath: out + "/study.json"),
           let earlier = try? JSONDecoder().decode(StudyPage.Record.self, from: data), earlier.budget == budget, earlier.seed == seed {
            session.previousTimings = earlier.timings
        }
        let started = Date()
        let page = try type.init().run(session)
        // The study's cost is what its steps took, whenever they ran (an interrupted study
        // continued later still reports the whole); at least this invocation's wall time.
        let seconds = max(Date().timeIntervalSince(started), session.timings.map(\.seconds).reduce(0, +))
        let readme = try page.write(info: type.info, session: session, seconds: seconds)
        say?(String(format: "%@ done in %.0f s: %@", type.info.name, Date().timeIntervalSince(started), page.verdict.kind.rawValue))
        say?("page at \(URL(fileURLWithPath: readme).standardizedFileURL.path)")
        return readme
    }

    /// A study writes only into a new or empty folder or one holding the same study's earlier
    /// work (its study.json, or its runs/ while a first attempt was interrupted).
    static func checkFolder(_ out: String, study: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw CheckpointError.writeFailed(path: out, detail: "is a file; a study needs a folder") }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        if entries.isEmpty { return }
        if let data = FileManager.default.contents(atPath: out + "/study.json") {
            let recorded = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["study"] as? String
            if recorded == study { return }
            throw CheckpointError.writeFailed(path: out, detail: "holds the study '\(recorded ?? "?")', not '\(study)'; choose another --out")
        }
        let own: Set<String> = ["runs", "analyses", "figures", "README.md", "study.json"]
        if !entries.allSatisfy({ own.contains($0) || $0.hasPrefix(".") }) || !entries.contains("runs") {
            throw CheckpointError.writeFailed(path: out, detail: "is a folder of other files, not an earlier run of this study; choose a new folder")
        }
    }
}
