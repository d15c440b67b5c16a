import Analyzers
import Foundation
import Studies
import Testing

/// Every study end to end at the quick budget: the page, every figure and every result it names
/// exist, and a second run reuses everything (nothing trained or analysed again).
@Suite(.serialized) struct StudyQuickBudgetTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").path

    static func temporaryFolder() -> String { NSTemporaryDirectory() + "basin-study-\(UUID().uuidString)" }

    @Test(arguments: StudyCatalog.all.map { $0.info.name })
    func quickStudyWritesItsPage(name: String) throws {
        let type = try #require(StudyCatalog.named(name))
        let out = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let readme = try StudyRunner.run(type, out: out, budget: .quick, seed: 1, threads: 1, fixtures: Self.fixtures, quiet: true)
        let page = try String(contentsOfFile: readme, encoding: .utf8)
        #expect(page.contains("## Verdict") && page.contains(type.info.title))
        let data = try #require(FileManager.default.contents(atPath: out + "/study.json"))
        let record = try JSONDecoder().decode(StudyPage.Record.self, from: data)
        #expect(record.study == name && record.budget == .quick && record.verdict.kind == .notJudged)
        #expect(!record.figures.isEmpty && !record.results.isEmpty && !record.numbers.isEmpty)
        for path in record.figures + record.results {
            #expect(FileManager.default.fileExists(atPath: out + "/" + path), "\(name): \(path) is named on the page but missing")
            #expect(page.contains(path), "\(name): \(path) is not on the page")
        }
        // Again: every run and analysis is found, so nothing is timed a second time.
        let again = Date()
        try StudyRunner.run(type, out: out, budget: .quick, seed: 1, threads: 1, fixtures: Self.fixtures, quiet: true)
        let second = try JSONDecoder().decode(StudyPage.Record.self, from: try #require(FileManager.default.contents(atPath: out + "/study.json")))
        #expect(second.numbers == record.numbers && second.verdict == record.verdict)
        #expect(Date().timeIntervalSince(again) < max(5, record.seconds / 2), "\(name): the rerun redid work")
    }

    @Test func aFolderOfOtherFilesIsRefusedAndKept() throws {
        let out = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: out + "/notes.txt", contents: Data("mine".utf8))
        let type = try #require(StudyCatalog.all.first)
        #expect(throws: (any Error).self) {
            try StudyRunner.run(type, out: out, budget: .quick, seed: 1, threads: 1, fixtures: Self.fixtures, quiet: true)
        }
        #expect(FileManager.default.contents(atPath: out + "/notes.txt") == Data("mine".utf8))
        #expect((try FileManager.default.contentsOfDirectory(atPath: out)) == ["notes.txt"])
    }
}
