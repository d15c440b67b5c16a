import Foundation

/// Decides whether results may be written to a folder a user named (`--out`), before any work.
///
/// Publishing replaces the output folder as a whole (`AnalysisRunner.publish`), so a mistyped
/// `--out RUN/checkpoints` would delete every checkpoint. A folder is therefore written only when
/// it does not exist, is empty, or holds earlier results of the same kind (`accepts`); anything
/// else is refused unless `force` — and then a folder of other files keeps them all, the results
/// being added beside them (`Publication.merge`) — and some things are refused even then: a plain file, a run
/// directory (run.json or checkpoints/), a checkpoints/ or activations/ folder, any folder that
/// contains one of those, the working directory or one of its ancestors, the home folder, a
/// tree too large to have been written by an analysis, and results of another kind (only earlier
/// results of the same kind, whose result.json lists what they wrote, are ever replaced).
public enum OutputFolder {
    /// Entries scanned for protected folders before giving up (analysis folders hold dozens).
    static let scanLimit = 10_000

    /// - Parameters:
    ///   - path: the folder the results would replace or fill.
    ///   - kind: what the results are, for messages (`norms results`, `a report`).
    ///   - accepts: whether an existing, non-empty folder holds earlier results of this kind.
    ///   - force: the user's `--force`: replace folders that are not protected.
    /// - Throws: `AnalysisError.outputRefused` naming the folder and the reason.
    /// How results reach an accepted folder.
    public enum Publication: Equatable, Sendable {
        /// The folder is new, empty or holds earlier results: the new folder replaces it whole.
        case replace
        /// `--force` into a folder of other files: the results are added beside them, and
        /// nothing already there is replaced (a name the results share with a file there is
        /// refused when the results are published).
        case merge
    }

    /// - Parameter forceOffered: whether the command has a `--force` a refusal may suggest.
    @discardableResult
    public static func check(_ path: String, kind: String, force: Bool, forceOffered: Bool = true,
                             accepts: (String) -> Bool) throws(AnalysisError) -> Publication {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { return .replace }
        guard isDirectory.boolValue else {
            throw .outputRefused(path: path, reason: "it is a file, not a folder", forceAllowed: false)
        }
        if let reason = protection(path) { throw .outputRefused(path: path, reason: reason, forceAllowed: false) }
        let entries = (try? fm.contentsOfDirectory(atPath: path)) ?? []
        if entries.isEmpty || accepts(path) { return .replace }
        // Results of another kind (or a result.json of unknown origin) are never replaced, nor
        // merged into: --force would only fail later on the shared names.
        if entries.contains("result.json") {
            let other = resultHeader(at: path).map { "results of \($0.analyzer)" } ?? "a result.json Basin did not write"
            throw .outputRefused(path: path, reason: "it holds \(other), not \(kind)", forceAllowed: false)
        }
        if force { return .merge }
        let found = entries.sorted().prefix(3).joined(separator: ", ") + (entries.count > 3 ? ", …" : "")
        throw .outputRefused(path: path, reason: "the folder holds other files (\(found)), not \(kind)", forceAllowed: forceOffered)
    }

    /// True when `path/result.json` was written by `analyzer` (any analyzer when nil) and lists
    /// what it wrote (`outputs`): earlier results it may replace. A result.json without that list
    /// (hand-made, or from before Basin recorded it) does not say which files are results, so
    /// it makes nothing replaceable.
    public static func holdsResult(of analyzer: String?, at path: String) -> Bool {
        guard let envelope = resultHeader(at: path), envelope.outputs != nil else { return false }
        return analyzer == nil || envelope.analyzer == analyzer
    }

    /// `path/result.json`'s analyzer and outputs, when it parses as a Basin result.
    private static func resultHeader(at path: String) -> Header? {
        guard let data = FileManager.default.contents(atPath: path + "/result.json") else { return nil }
        return try? JSONDecoder().decode(Header.self, from: data)
    }

    private struct Header: Decodable { var analyzer: String; var outputs: [String]? }

    /// Extensions of the files analyses write: a listed entry with another one is not taken for
    /// an earlier result (a result.json edited by hand, or from elsewhere, cannot make Basin
    /// delete `notes.txt`).
    static let resultExtensions: Set<String> = ["json", "jsonl", "csv", "png", "svg", "pdf", "html", "npy", "npz",
                                                "ckpt", "acts", "onnx", "log", "gz", "sbatch"]

    /// The entries of a results folder that are not earlier results, to be kept beside the new
    /// ones: those its result.json does not list as written by the analysis, and of those it
    /// lists, any that is not a regular file with a result's extension — a folder or a link is a
    /// result only when the new results replace it with one of the same name (`replacedBy`).
    /// None when result.json lists nothing (results from before Basin recorded them).
    static func nonResults(in path: String, replacedBy newEntries: Set<String> = []) -> [String] {
        guard let outputs = resultHeader(at: path)?.outputs else { return [] }
        let written = Set(outputs)
        return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { name in
            guard written.contains(name), name != "result.json" else { return name != "result.json" }
            var info = stat()
            guard lstat(path + "/" + name, &info) == 0 else { return false }
            if (info.st_mode & S_IFMT) == S_IFREG {
                return !resultExtensions.contains((name as NSString).pathExtension.lowercased())
            }
            return !newEntries.contains(name)
        }.sorted()
    }

    /// Why `path` must never be replaced, or nil.
    public static func protection(_ path: String) -> String? {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath()
        let name = url.lastPathComponent
        if name == "checkpoints" || name == "activations" { return "it is a run's \(name)/ folder" }
        if fm.fileExists(atPath: url.path + "/run.json") || fm.fileExists(atPath: url.path + "/checkpoints") {
            return "it is a run directory"
        }
        let cwd = URL(fileURLWithPath: fm.currentDirectoryPath).standardizedFileURL.resolvingSymlinksInPath().path
        let folder = url.path
        if folder == "/" || cwd == folder || cwd.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") {
            return "it is the working directory or one of its ancestors"
        }
        if folder == URL(fileURLWithPath: NSHomeDirectory()).standardizedFileURL.resolvingSymlinksInPath().path {
            return "it is the home folder"
        }
        guard let walker = fm.enumerator(atPath: folder) else { return nil }
        var seen = 0
        while let item = walker.nextObject() as? String {
            seen += 1
            if seen > scanLimit { return "it holds more than \(scanLimit) files, more than an analysis writes" }
            let last = (item as NSString).lastPathComponent
            if last == "run.json" || last == "checkpoints" || last == "activations" {
                return "it contains a run (\(item))"
            }
        }
        return nil
    }
}
