import Analyzers
import ArgumentParser
import Foundation

/// `analyze list`: every analyzer this `analyze` can run, built in or found on PATH.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the analyzers: built-in, registered by this build, and analyze-NAME executables on PATH.",
        discussion: """
            Examples:
              analyze list
              analyze list --json
            """)

    @Flag(help: "Print the list as JSON.")
    var json = false

    struct Entry: Codable { var name: String; var summary: String; var source: String }

    func run() throws {
        var entries = AnalyzeCLI.analyzers.map { Entry(name: $0.name, summary: $0.summary, source: "built-in") }
        let builtIn = Set(entries.map(\.name))
        for plugin in Plugins.all() where !builtIn.contains(plugin.name) {
            entries.append(Entry(name: plugin.name, summary: Plugins.describe(plugin.path)?.summary ?? "(no --describe)",
                                 source: plugin.path))
        }
        if json {
            print(try JSONOutput.encode(entries))
            return
        }
        let width = entries.map(\.name.count).max() ?? 0
        for e in entries {
            let pad = String(repeating: " ", count: width - e.name.count)
            print("\(e.name)\(pad)  \(e.summary)" + (e.source == "built-in" ? "" : "  [\(e.source)]"))
        }
    }
}
