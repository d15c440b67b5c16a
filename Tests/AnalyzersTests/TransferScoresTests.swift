import Foundation
import Testing
@testable import Analyzers
import Tensors

/// Issue 17 item 3: LEEP, NCE and H-score against their closed forms and against a NumPy
/// implementation of the papers' definitions (fixtures/transfer/make_transfer_scores_fixture.py).
@Suite("Transfer scores: LEEP, NCE, H-score")
struct TransferScoresTests {
    static var fixture: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/transfer/transfer_scores.json").path
    }

    @Test func labelIdenticalSourceAndPerfectlySeparableFeaturesHaveTheirClosedForms() throws {
        // The source predicts the target label with certainty (one-hot): P̂(y | z) = 1[y = z].
        let labels = (0..<30).map { $0 % 3 }
        let oneHot = labels.flatMap { y in (0..<3).map { $0 == y ? 1.0 : 0.0 } }
        #expect(abs(try TransferScores.leep(probabilities: Tensor(shape: [30, 3], scalars: oneHot), labels: labels, classes: 3)) < 1e-12)
        #expect(abs(try TransferScores.nce(sourceLabels: labels, labels: labels, classes: 3)) < 1e-12)
        // Uninformative source labels: NCE = −H(Y) = −log 3 for balanced classes.
        #expect(abs(try TransferScores.nce(sourceLabels: Array(repeating: 0, count: 30), labels: labels, classes: 3) + log(3)) < 1e-12)
        // Features equal to their class means (one-hot): cov(E[f|y]) = cov(f), rank K − 1.
        #expect(abs(try TransferScores.hScore(features: Tensor(shape: [30, 3], scalars: oneHot), labels: labels, classes: 3) - 2) < 1e-9)
    }

    @Test func scoresEqualTheNumPyReference() throws {
        struct Fixture: Decodable {
            var probabilities: [[Double]], labels: [Int], features: [[Double]], classes: Int, leep: Double, nce: Double, hScore: Double
        }
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixture)))
        let n = f.labels.count
        let p = try Tensor(shape: [n, f.probabilities[0].count], scalars: f.probabilities.flatMap { $0 })
        #expect(abs(try TransferScores.leep(probabilities: p, labels: f.labels, classes: f.classes) - f.leep) < 1e-12)
        let argmax = f.probabilities.map { row in row.indices.max { row[$0] < row[$1] } ?? 0 }
        #expect(abs(try TransferScores.nce(sourceLabels: argmax, labels: f.labels, classes: f.classes) - f.nce) < 1e-12)
        let x = try Tensor(shape: [n, f.features[0].count], scalars: f.features.flatMap { $0 })
        #expect(abs(try TransferScores.hScore(features: x, labels: f.labels, classes: f.classes) - f.hScore) < 1e-9)
    }

    @Test func spearmanAndRefusals() throws {
        #expect(TransferScores.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1)
        #expect(TransferScores.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1)
        #expect(TransferScores.spearman([1, 2], [1, 2]) == nil)
        #expect(throws: TransferScores.InvalidInput.self) { try TransferScores.nce(sourceLabels: [0, 1], labels: [0, 5], classes: 3) }
        #expect(throws: TransferScores.InvalidInput.self) {
            try TransferScores.leep(probabilities: Tensor(shape: [1, 2], scalars: [.nan, 1]), labels: [0], classes: 1)
        }
    }
}
