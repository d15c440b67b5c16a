import Analyzers
import Foundation

/// Analyzers in any language: an executable named `analyze-NAME` on PATH runs as
/// `analyze NAME …` (git-style). Protocol version 1 (docs/CUSTOM_ANALYZERS.md):
///
/// - arguments after NAME pass through unchanged;
/// - the environment holds `ANALYZE_PROTOCOL=1`, `ANALYZE_RUN_DIR` (the first argument
///   that is a directory, if any), `ANALYZE_OUT_DIR` (`--out` if given, else
///   `RUN/analyses/NAME`, else `analyses/NAME`; created before the call) and
///   `ANALYZE_SEED` (`--seed` if given, else 0);
/// - the plugin writes `result.json` (the built-ins' envelope) and its files there;
/// - `analyze-NAME --describe` prints `{"name", "summary", "options": [...]}` as JSON.
enum Plugins {
    static let protocolVersion = 1

    struct Found { var name: String; var path: String }

    /// Every `analyze-*` executable on PATH (first one wins per name).
    static func all() -> [Found] {
        var seen = Set<String>()
        var out: [Found] = []
        for dir in searchPath() {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
            for file in names where file.hasPrefix("analyze-") && file.count > 8 {
                let path = dir + "/" + file
                let name = String(file.dropFirst(8))
                if FileManager.default.isExecutableFile(atPath: path), seen.insert(name).inserted {
                    out.append(Found(name: name, path: path))
                }
            }
        }
        return out
    }

    static func find(name: String) -> String? {
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        return searchPath().map { $0 + "/analyze-" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func searchPath() -> [String] {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    struct Description: Decodable { var name: String?; var summary: String? }

    /// The plugin's `--describe` output, if it gives valid JSON.
    static func describe(_ path: String) -> Description? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["--describe"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return try? JSONDecoder().decode(Description.self, from: data)
    }

    /// Runs the plugin with the protocol environment and exits with its status.
    static func run(_ path: String, name: String, arguments: [String]) -> Never {
        var env = ProcessInfo.processInfo.environment
        let runDir = arguments.first { a in
            var isDir: ObjCBool = false
            return !a.hasPrefix("-") && FileManager.default.fileExists(atPath: a, isDirectory: &isDir) && isDir.boolValue
        }
        let out = value(of: "--out", in: arguments) ?? ((runDir.map { $0 + "/analyses" } ?? "analyses") + "/" + name)
        // A plugin writes into the folder without replacing it: refuse only what must never be written
        // into (a file, a run directory, checkpoints/ or activations/, a folder containing them).
        do { try OutputFolder.check(out, kind: "\(name) results", force: true) { _ in true } } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            exit(1)
        }
        try? FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        env["ANALYZE_PROTOCOL"] = String(protocolVersion)
        env["ANALYZE_RUN_DIR"] = runDir ?? ""
        env["ANALYZE_OUT_DIR"] = out
        env["ANALYZE_SEED"] = value(of: "--seed", in: arguments) ?? "0"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.environment = env
        do { try p.run() } catch {
            FileHandle.standardError.write(Data("Error: \(path): cannot run (\(error.localizedDescription))\n".utf8))
            exit(1)
        }
        p.waitUntilExit()
        exit(p.terminationStatus)
    }

    static func value(of option: String, in arguments: [String]) -> String? {
        for (i, a) in arguments.enumerated() {
            if a == option, i + 1 < arguments.count { return arguments[i + 1] }
            if a.hasPrefix(option + "=") { return String(a.dropFirst(option.count + 1)) }
        }
        return nil
    }
}
