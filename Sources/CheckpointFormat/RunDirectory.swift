import Foundation

/// A moment in a run that a checkpoint or activation dump belongs to.
public enum RunPoint: Hashable, Comparable, Sendable, CustomStringConvertible {
    case epoch(Int)
    case iteration(Int)

    /// `epoch-0070`, `iter-000123`: file names sort in training order.
    public var fileStem: String {
        switch self {
        case .epoch(let e): return "epoch-" + pad(e, 4)
        case .iteration(let i): return "iter-" + pad(i, 6)
        }
    }

    public var description: String {
        switch self {
        case .epoch(let e): return "epoch \(e)"
        case .iteration(let i): return "iteration \(i)"
        }
    }

    /// Parses what users type: `70` or `epoch:70` (an epoch), `it:123`, `iter:123` or `iteration:123`.
    public init?(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let e = Int(t), e >= 0 { self = .epoch(e); return }
        let parts = t.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let n = Int(parts[1]), n >= 0 else { return nil }
        switch parts[0] {
        case "epoch", "e": self = .epoch(n)
        case "iter", "it", "iteration", "i": self = .iteration(n)
        default: return nil
        }
    }

    /// Parses a file stem (`epoch-0070`, `iter-000123`).
    init?(fileStem: String) {
        if fileStem.hasPrefix("epoch-"), let e = Int(fileStem.dropFirst(6)), e >= 0 { self = .epoch(e); return }
        if fileStem.hasPrefix("iter-"), let i = Int(fileStem.dropFirst(5)), i >= 0 { self = .iteration(i); return }
        return nil
    }

    public static func < (a: RunPoint, b: RunPoint) -> Bool {
        switch (a, b) {
        case let (.epoch(x), .epoch(y)), let (.iteration(x), .iteration(y)): return x < y
        case (.epoch, .iteration): return true
        case (.iteration, .epoch): return false
        }
    }
}

private func pad(_ n: Int, _ width: Int) -> String {
    let s = String(n)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

/// A run directory (docs/FORMAT.md): `run.json`, `metrics.jsonl`, `checkpoints/`,
/// `activations/`, `analyses/`. Lists what exists and resolves what users ask for
/// (`--pairs 70,150`, `--epochs 10,150`) to files, with errors that list what exists.
public struct RunDirectory: Sendable {
    public let path: String

    /// Opens an existing run directory.
    /// - Throws: `CheckpointError.notARunDirectory` if `path` is not a directory.
    public init(path: String) throws(CheckpointError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .notARunDirectory(path: path, detail: "no such directory")
        }
        guard isDirectory.boolValue else { throw .notARunDirectory(path: path, detail: "it is a file") }
        self.path = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    }

    /// Creates the directory layout (if missing) and opens it.
    public static func create(path: String) throws(CheckpointError) -> RunDirectory {
        for sub in ["", "/checkpoints", "/activations", "/analyses"] {
            do { try FileManager.default.createDirectory(atPath: path + sub, withIntermediateDirectories: true) } catch {
                throw .writeFailed(path: path + sub, detail: "cannot create directory")
            }
        }
        return try RunDirectory(path: path)
    }

    public var checkpointsDirectory: String { path + "/checkpoints" }
    public var activationsDirectory: String { path + "/activations" }
    public var analysesDirectory: String { path + "/analyses" }
    public var runJSONPath: String { path + "/run.json" }
    public var metricsPath: String { path + "/metrics.jsonl" }
    /// The walk recorded during training (`save.walk` in run.json; read by `analyze walk`).
    public var walkPath: String { path + "/walk.jsonl" }

    /// Where the checkpoint for `point` lives (whether or not it exists).
    public func checkpointPath(for point: RunPoint) -> String { checkpointsDirectory + "/" + point.fileStem + ".ckpt" }
    /// Where the activation dump for `point` lives (whether or not it exists).
    public func activationsPath(for point: RunPoint) -> String { activationsDirectory + "/" + point.fileStem + ".acts" }

    /// Saved checkpoints, epochs first then iterations, each in training order.
    public func checkpoints() -> [RunPoint] { list(checkpointsDirectory, suffix: ".ckpt") }
    /// Saved activation dumps, in the same order.
    public func activationDumps() -> [RunPoint] { list(activationsDirectory, suffix: ".acts") }

    private func list(_ directory: String, suffix: String) -> [RunPoint] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        // Only the names Basin writes (epoch-0001, not epoch-1 beside it): one file per point.
        return names.filter { $0.hasSuffix(suffix) && !$0.hasPrefix(".") }
            .compactMap { name -> RunPoint? in
                let stem = String(name.dropLast(suffix.count))
                return RunPoint(fileStem: stem).flatMap { $0.fileStem == stem ? $0 : nil }
            }
            .sorted()
    }

    /// The checkpoint file for a point the user named, checked to be that point: a file whose
    /// manifest names another epoch (or iteration) was renamed or copied from elsewhere, and
    /// an analysis of it would be labelled with the wrong point.
    /// - Throws: `CheckpointError.missingCheckpoint` listing the checkpoints that exist.
    /// - Throws: also `.invalidInput` for a link that leads nowhere or a mislabelled file, and
    ///   whatever reading its manifest throws.
    public func checkpoint(_ point: RunPoint) throws(CheckpointError) -> String {
        let file = checkpointPath(for: point)
        guard FileManager.default.fileExists(atPath: file) else {
            var info = stat()
            if lstat(file, &info) == 0 {
                throw .invalidInput(path: file, detail: "a symbolic link that leads nowhere (a loop, or its target is missing)")
            }
            throw .missingCheckpoint(run: path, requested: point.description, available: checkpoints().map(\.description))
        }
        try RunDirectory.checkLabel(of: file, is: point)
        return file
    }

    /// The activation dump for a point, checked like `checkpoint(_:)`. Fails listing the dumps that exist.
    public func activations(_ point: RunPoint) throws(CheckpointError) -> String {
        let file = activationsPath(for: point)
        guard FileManager.default.fileExists(atPath: file) else {
            throw .missingCheckpoint(run: path, requested: "activations at \(point)",
                                     available: activationDumps().map { "activations at \($0)" })
        }
        try RunDirectory.checkLabel(of: file, is: point)
        return file
    }

    /// Refuses an archive whose manifest records a different point than its file name: an
    /// epoch file's `epoch`, an iteration file's `iteration` (either may be absent: imports
    /// without one are taken by their name).
    static func checkLabel(of file: String, is point: RunPoint) throws(CheckpointError) {
        let manifest = try CheckpointReader(path: file).manifest
        let recorded: RunPoint?
        switch point {
        case .epoch: recorded = manifest.epoch.map(RunPoint.epoch)
        case .iteration: recorded = manifest.iteration.map(RunPoint.iteration)
        }
        if let recorded, recorded != point {
            throw .invalidInput(path: file, detail: "its manifest says \(recorded), but its name says \(point) (renamed, or copied from another point?); rename it to \(recorded.fileStem)\(file.hasSuffix(".acts") ? ".acts" : ".ckpt") or import it again with the right point")
        }
    }

    /// Parses a comma-separated list of points (`10,150`, `epoch:3,it:120`).
    /// - Throws: `CheckpointError.invalidInput` naming the bad item.
    public static func parsePoints(_ text: String) throws(CheckpointError) -> [RunPoint] {
        let items = text.split(separator: ",").map(String.init)
        guard !items.isEmpty else { throw .invalidInput(path: text, detail: "expected epochs such as 70,150") }
        var out: [RunPoint] = []
        for item in items {
            guard let p = RunPoint(parsing: item) else {
                throw .invalidInput(path: text, detail: "'\(item)' is not an epoch (70) or iteration (it:123)")
            }
            out.append(p)
        }
        return out
    }

    /// Resolves `--pairs 70,150` to the two checkpoint files.
    public func resolvePair(_ text: String) throws(CheckpointError) -> (RunPoint, String, RunPoint, String) {
        let points = try RunDirectory.parsePoints(text)
        guard points.count == 2 else {
            throw .invalidInput(path: text, detail: "a pair names exactly two checkpoints, e.g. 70,150")
        }
        return (points[0], try checkpoint(points[0]), points[1], try checkpoint(points[1]))
    }

    /// `run.json` as JSON, if present.
    public func runInfo() throws(CheckpointError) -> JSONValue? {
        guard let data = FileManager.default.contents(atPath: runJSONPath) else { return nil }
        do { return try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw .invalidInput(path: runJSONPath, detail: describeDecoding(error))
        }
    }
}
