import Foundation

/// A progress bar on standard error, drawn only when standard error is a terminal
/// (quiet in pipes, logs and CI). Redraws at most ten times a second.
public final class ProgressReporter: @unchecked Sendable {
    private let lock = NSLock()
    private let enabled: Bool
    private var label = ""
    private var total = 0
    private var done = 0
    private var started = Date()
    private var lastDraw = Date.distantPast

    /// - Parameter enabled: nil means "when stderr is a terminal".
    public init(enabled: Bool? = nil) {
        self.enabled = enabled ?? (isatty(2) == 1)
    }

    /// A reporter that never draws.
    public static var silent: ProgressReporter { ProgressReporter(enabled: false) }

    /// Starts a new phase of `total` steps.
    public func start(_ label: String, total: Int) {
        lock.lock(); defer { lock.unlock() }
        self.label = label; self.total = max(total, 1); done = 0; started = Date(); lastDraw = .distantPast
        draw(force: true)
    }

    /// Marks `steps` more steps done.
    public func advance(by steps: Int = 1) {
        lock.lock(); defer { lock.unlock() }
        done = min(done + steps, total)
        draw(force: done == total)
    }

    /// Ends the phase and moves to a fresh line.
    public func finish() {
        lock.lock(); defer { lock.unlock() }
        done = total
        draw(force: true)
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func draw(force: Bool) {
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let fraction = Double(done) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = now.timeIntervalSince(started)
        let eta = done > 0 && done < total ? elapsed / Double(done) * Double(total - done) : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = "\r\(label) \(bar) \(done)/\(total) \(Int(fraction * 100))% \(format(elapsed))"
            + (eta > 0 ? " eta \(format(eta))" : "") + "\u{1B}[K"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private func format(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}
