import Foundation

/// Test-only fault injection: kills the process with SIGKILL at a chosen atomic write, so tests
/// can prove that `train --resume` recovers from a crash at *every* write point without relying
/// on timing.
///
/// `BASIN_FAULT_KILL_AT=KIND:N[:before|after]` kills the process at the Nth `AtomicFile` write of
/// KIND in this process (counting from 1): `before` right before the rename (the hidden temporary
/// is left behind, as after a crash mid-write), `after` (the default) right after the rename and
/// the directory sync (the file is published, nothing after it is). KIND is what the target file is:
///
/// | KIND | file |
/// |---|---|
/// | `checkpoint` | `checkpoints/epoch-NNNN.ckpt` |
/// | `iteration` | `checkpoints/iter-NNNNNN.ckpt` |
/// | `dump` | `activations/*.acts` |
/// | `metrics` | `metrics.jsonl` |
/// | `run` | `run.json` |
/// | `any` | every atomic write |
///
/// Unset (always, outside tests) it costs one comparison per write. Not a user feature: the
/// variable is documented only in docs/TRAINING.md's testing note.
public enum FaultInjection {
    /// Where within one atomic write a fault may strike.
    public enum Moment: String, Sendable { case before, after }

    /// The kinds of file a fault can target (see the table above).
    public enum Kind: String, Sendable, CaseIterable { case checkpoint, iteration, dump, metrics, run, any }

    /// A parsed `BASIN_FAULT_KILL_AT`.
    public struct Plan: Equatable, Sendable {
        public var kind: Kind
        public var count: Int
        public var moment: Moment

        /// Parses `KIND:N[:before|after]`; nil for anything else (a typo then injects nothing,
        /// which the tests notice because the process is not killed).
        public init?(parsing text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 || parts.count == 3, let kind = Kind(rawValue: parts[0]),
                  let count = Int(parts[1]), count >= 1 else { return nil }
            let moment = parts.count == 3 ? Moment(rawValue: parts[2]) : .after
            guard let moment else { return nil }
            self.kind = kind; self.count = count; self.moment = moment
        }
    }

    /// The kind of a file `AtomicFile` is about to publish, judged by its name and folder.
    static func kind(of path: String) -> Kind? {
        let url = URL(fileURLWithPath: path)
        let name = url.lastPathComponent
        let folder = url.deletingLastPathComponent().lastPathComponent
        if name == "metrics.jsonl" { return .metrics }
        if name == "run.json" { return .run }
        if folder == "activations", name.hasSuffix(".acts") { return .dump }
        guard folder == "checkpoints", name.hasSuffix(".ckpt") else { return nil }
        switch RunPoint(fileStem: String(name.dropLast(5))) {
        case .epoch?: return .checkpoint
        case .iteration?: return .iteration
        case nil: return nil
        }
    }

    private static let plan: Plan? = ProcessInfo.processInfo.environment["BASIN_FAULT_KILL_AT"].flatMap(Plan.init(parsing:))
    private static let counter = Counter()

    /// Called by `AtomicFile` before and after it renames a temporary over `path`.
    static func reached(_ path: String, _ moment: Moment) {
        guard let plan else { return }
        guard plan.kind == .any || kind(of: path) == plan.kind else { return }
        // Count each write once (at `before`), so `before` and `after` of N name the same write.
        let n = moment == .before ? counter.next() : counter.current
        if n == plan.count && moment == plan.moment { kill(getpid(), SIGKILL) }
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.withLock { value += 1; return value } }
        var current: Int { lock.withLock { value } }
    }
}
