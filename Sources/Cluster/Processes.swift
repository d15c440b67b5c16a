import Foundation

/// Running programs without a shell: arguments go to the program exactly as given.
public enum Processes {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// The last non-empty line of stderr, else of stdout (what a failure says).
        public var lastLine: String {
            for text in [stderr, stdout] {
                if let line = text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) }).last(where: { !$0.isEmpty }) {
                    return line
                }
            }
            return ""
        }
    }

    /// `name` found on PATH (or `name` itself when it is a path), or nil.
    public static func find(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = String(directory) + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The running executable, absolute: /proc/self/exe on Linux, else argv[0] resolved
    /// against PATH or the working directory. Shards run this same binary.
    public static func currentExecutable() -> String {
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"), target.hasPrefix("/") {
            return target
        }
        let zeroth = CommandLine.arguments.first ?? "analyze"
        if zeroth.contains("/") { return absolutePath(zeroth) }
        return find(zeroth).map { absolutePath($0) } ?? absolutePath(zeroth)
    }

    /// Runs `executable` with `arguments` and collects what it prints. Output goes through
    /// temporary files, so no pipe can fill up and block the child.
    /// - Parameter environment: variables set on top of this process' environment.
    public static func run(_ executable: String, _ arguments: [String], workingDirectory: String? = nil,
                           environment: [String: String] = [:]) throws(ClusterError) -> Output {
        let name = URL(fileURLWithPath: executable).lastPathComponent
        let base = NSTemporaryDirectory() + "/basin-submit-\(getpid())-\(UUID().uuidString)"
        defer { unlink(base + ".out"); unlink(base + ".err") }
        guard FileManager.default.createFile(atPath: base + ".out", contents: nil),
              FileManager.default.createFile(atPath: base + ".err", contents: nil),
              let out = FileHandle(forWritingAtPath: base + ".out"), let err = FileHandle(forWritingAtPath: base + ".err") else {
            throw .writeFailed(path: base + ".out", detail: "cannot create a temporary file for \(name)'s output")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw .commandFailed(command: name, status: -1, detail: "cannot start \(executable): \(error.localizedDescription)")
        }
        process.waitUntilExit()
        try? out.close(); try? err.close()
        // Bounded reads: a tool that printed megabytes is cut, not held whole.
        func read(_ path: String) -> String {
            guard let h = FileHandle(forReadingAtPath: path) else { return "" }
            defer { try? h.close() }
            return String(decoding: (try? h.read(upToCount: 1 << 20)) ?? Data(), as: UTF8.self)
        }
        return Output(status: process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus,
                      stdout: read(base + ".out"), stderr: read(base + ".err"))
    }

    /// Whether process `pid` is alive and is shard k of n (its command line holds `--shard` and
    /// `k/n`), so a reused pid is not mistaken for the shard. Without /proc, only whether it lives.
    public static func isShard(pid: Int32, shard k: Int, of n: Int) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard FileManager.default.fileExists(atPath: "/proc/self/cmdline") else { return true }
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let at = words.firstIndex(of: "--shard"), at + 1 < words.count else { return false }
        // A zombie (exited, not yet reaped) has an empty cmdline and is not running.
        return words[at + 1] == "\(k)/\(n)"
    }
}
