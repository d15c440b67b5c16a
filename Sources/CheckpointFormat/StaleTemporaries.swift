import Foundation

extension AtomicFile {
    /// The file a hidden temporary of `AtomicFile` was going to become, if `name` is one:
    /// `.<target>.tmp-<pid>-<random>` with decimal pid and random number (the exact pattern
    /// `write(to:_:)` uses), together with the writer's process id. Nil for any other name.
    public static func temporaryTarget(of name: String) -> (target: String, pid: Int32)? {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) else { return nil }
        let target = String(name[name.index(after: name.startIndex)..<marker.lowerBound])
        let numbers = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard !target.isEmpty, numbers.count == 2,
              numbers.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let pid = Int32(numbers[0]), UInt32(numbers[1]) != nil else { return nil }
        return (target, pid)
    }

    /// Removes, in `directory`, the temporaries `AtomicFile` left when its process was killed
    /// mid-write: names of the exact pattern above whose target `isTarget` accepts and whose writer
    /// is no longer running (a live writer's temporary is about to be renamed; removing it would
    /// make that write fail). Other files are never touched.
    /// - Returns: the names removed, sorted.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String, targets isTarget: (String) -> Bool) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var removed: [String] = []
        for name in names.sorted() {
            guard let (target, pid) = temporaryTarget(of: name), isTarget(target), !processIsRunning(pid) else { continue }
            if unlink(directory + "/" + name) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Whether a process with this id exists (EPERM: it exists but belongs to someone else).
    static func processIsRunning(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}

extension RunDirectory {
    /// Removes the temporaries a killed `analyze train` left in the run folder (`run.json`,
    /// `metrics.jsonl`, `walk.jsonl`), `checkpoints/` (`epoch-NNNN.ckpt`, `iter-NNNNNN.ckpt`) and
    /// `activations/` (`*.acts` of a run point) — only Basin's own, recognised by their exact
    /// name (see `AtomicFile.temporaryTarget(of:)`).
    /// - Returns: the paths removed, relative to the run folder.
    @discardableResult
    public func removeStaleTemporaries() -> [String] {
        func point(_ name: String, _ suffix: String) -> Bool {
            name.hasSuffix(suffix) && RunPoint(fileStem: String(name.dropLast(suffix.count))) != nil
        }
        return AtomicFile.removeStaleTemporaries(in: path) { $0 == "run.json" || $0 == "metrics.jsonl" || $0 == "walk.jsonl" }
            + AtomicFile.removeStaleTemporaries(in: checkpointsDirectory) { point($0, ".ckpt") }.map { "checkpoints/" + $0 }
            + AtomicFile.removeStaleTemporaries(in: activationsDirectory) { point($0, ".acts") }.map { "activations/" + $0 }
    }
}
