import CheckpointFormat
import Tensors
import Foundation

/// A study's page: the claim, the verdict, the settings, sections of figures, tables and text,
/// and the analyses behind every number. Written as `README.md` (for people) and `study.json`
/// (for scripts and docs/REPRODUCTIONS.md) into the study's folder.
public struct StudyPage {
    public struct Table: Codable, Sendable {
        public var header: [String]
        public var rows: [[String]]
        public init(header: [String], rows: [[String]]) { self.header = header; self.rows = rows }
    }

    public struct Section {
        public var heading: String
        public var text: String
        /// Figures as (path relative to the study folder, caption).
        public var figures: [(path: String, caption: String)]
        public var table: Table?
        public init(_ heading: String, text: String = "", figures: [(path: String, caption: String)] = [], table: Table? = nil) {
            self.heading = heading; self.text = text; self.figures = figures; self.table = table
        }
    }

    public var verdict: StudyVerdict
    /// Settings that decide the numbers (model, data, schedule, sweep), as label → value.
    public var settings: [(String, String)]
    public var sections: [Section]
    /// Headline numbers by name (also in study.json).
    public var numbers: [String: Double]

    public init(verdict: StudyVerdict, settings: [(String, String)], sections: [Section], numbers: [String: Double]) {
        self.verdict = verdict; self.settings = settings; self.sections = sections; self.numbers = numbers
    }

    /// What `study.json` holds.
    public struct Record: Codable, Sendable {
        public var study: String
        public var title: String
        public var source: String
        public var claim: String
        public var budget: StudyBudget
        public var seed: UInt64
        public var basinVersion: String
        public var seconds: Double
        public var verdict: StudyVerdict
        public var settings: [[String]]
        public var numbers: [String: Double]
        public var tables: [String: Table]
        public var figures: [String]
        /// The result.json of every analysis behind the page, relative to the study folder.
        public var results: [String]
        public var timings: [String: Double]
    }

    /// Writes `README.md` and `study.json` into `session.out` (atomically, each).
    /// - Returns: the path of README.md.
    @discardableResult
    public func write(info: StudyInfo, session: StudySession, seconds: Double) throws -> String {
        var md: [String] = ["# \(info.title)", "", "`analyze study \(info.name) --budget \(session.budget.rawValue) --seed \(session.seed)` — "
                            + String(format: "%.0f s", seconds) + " of computation on this machine (\(ProcessInfo.processInfo.activeProcessorCount) cores).", "",
                            "**Paper:** \(info.source). **Claim:** \(info.claim)", "", "## Verdict", "", verdict.line, "", "## Settings", "",
                            "| setting | value |", "|---|---|"]
        md += settings.map { "| \($0.0) | \($0.1.replacingOccurrences(of: "|", with: "\\|")) |" }
        for s in sections {
            md += ["", "## \(s.heading)", ""]
            if !s.text.isEmpty { md += [s.text, ""] }
            if let t = s.table {
                // A "|" inside a cell (|ΔCCA|) would end it: escaped.
                func cells(_ row: [String]) -> String { "| " + row.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
                md.append(cells(t.header))
                md.append("|" + t.header.map { _ in "---" }.joined(separator: "|") + "|")
                md += t.rows.map(cells)
                md.append("")
            }
            for f in s.figures { md += ["![\(f.caption)](\(f.path))", "", "*\(f.caption)*", ""] }
        }
        md += ["", "## Where the numbers are", ""] + session.results.map { "- `\($0)`" }
        md += ["", "## Time", "", "| step | seconds |", "|---|---|"] + session.timings.map { String(format: "| %@ | %.1f |", $0.label, $0.seconds) }
        let readme = session.out + "/README.md"
        try AtomicFile.write(Array((md.joined(separator: "\n") + "\n").utf8), to: readme)

        var tables: [String: Table] = [:]
        for s in sections { if let t = s.table { tables[s.heading] = t } }
        var timingTable: [String: Double] = [:]
        for t in session.timings { timingTable[t.label, default: 0] += t.seconds }
        let record = Record(study: info.name, title: info.title, source: info.source, claim: info.claim, budget: session.budget,
                            seed: session.seed, basinVersion: BasinVersion.string, seconds: seconds, verdict: verdict,
                            settings: settings.map { [$0.0, $0.1] }, numbers: numbers.filter { $0.value.isFinite }, tables: tables,
                            figures: sections.flatMap { $0.figures.map(\.path) }, results: session.results, timings: timingTable)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(Array(try encoder.encode(record)) + [0x0A], to: session.out + "/study.json")
        return readme
    }
}

/// Number formatting for pages: 4 significant digits.
func fmt(_ x: Double) -> String { x.isFinite ? String(format: "%.4g", x) : "—" }
