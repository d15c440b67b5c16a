import Foundation

/// How much a study may spend: `quick` trains toy versions of the runs (seconds to a minute;
/// `make test` runs every study this way), `full` the sizes that answer the paper's question on
/// this machine kind (2 cores; up to about two hours).
public enum StudyBudget: String, CaseIterable, Codable, Sendable {
    case quick, full
}

/// What a study is about: the paper's claim it checks, and what it costs.
public struct StudyInfo: Sendable {
    /// The command-line name, e.g. `paper000-sgdr-barrier`.
    public var name: String
    public var title: String
    /// The paper (shared/papers/ number) and the figure or table reproduced.
    public var source: String
    /// The paper's claim, in one or two sentences.
    public var claim: String
    /// Estimated wall time on 2 cores (release build), minutes, per budget.
    public var minutes: [StudyBudget: Double]
}

/// Whether the paper's finding appears in Basin's reproduction.
public struct StudyVerdict: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// The finding appears in the study's headline setting.
        case reproduces
        /// It appears in part of the sweep only; `regime` says where.
        case reproducesInRegime = "reproduces-in-regime"
        /// It does not appear anywhere the study looked.
        case doesNotReproduce = "does-not-reproduce"
        /// The quick budget trains toy runs: the numbers are computed, not judged.
        case notJudged = "not-judged"
    }
    public var kind: Kind
    /// Where the finding appears (for `reproducesInRegime`).
    public var regime: String?
    /// The numbers behind the verdict, in a sentence.
    public var evidence: String

    public init(_ kind: Kind, regime: String? = nil, evidence: String) {
        self.kind = kind; self.regime = regime; self.evidence = evidence
    }

    /// The verdict line of a study page.
    public var line: String {
        switch kind {
        case .reproduces: return "**Reproduces.** " + evidence
        case .reproducesInRegime: return "**Reproduces in a regime** (\(regime ?? "see below")). " + evidence
        case .doesNotReproduce: return "**Does not reproduce.** " + evidence
        case .notJudged: return "**Not judged** (quick budget: toy sizes). " + evidence
        }
    }
}

/// A study: trains the runs a paper's finding needs, runs the analyzers on them and writes a
/// page (README.md, study.json, figures) saying whether the finding appears.
public protocol Study {
    static var info: StudyInfo { get }
    init()
    /// Trains, analyses and assembles the page; `session` caches finished runs and analyses, so
    /// an interrupted study continues where it stopped.
    func run(_ session: StudySession) throws -> StudyPage
}

/// Every study, in the order `analyze study --list` shows them.
public enum StudyCatalog {
    public static let all: [any Study.Type] = [
        SGDRBarrierStudy.self, WarmupFreezeStudy.self, DistillationStudy.self, SGDWalkStudy.self, PS10Study.self,
    ]

    public static func named(_ name: String) -> (any Study.Type)? { all.first { $0.info.name == name } }
}

/// A study could not assemble its page from its analyses' results.
public enum StudyError: Error, CustomStringConvertible {
    case missing(String)
    public var description: String {
        switch self { case .missing(let what): return "study: \(what)" }
    }
}
