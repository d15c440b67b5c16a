import Foundation
import Testing
@testable import Trainer

/// metrics.jsonl's numbers as every curve reads them: 0 and 1 are numbers (epoch 1, an accuracy
/// of 1.0), only JSON booleans are left out.
@Suite struct MetricsRecordsTests {
    @Test func zeroAndOneAreNumbersBooleansAreNot() throws {
        let path = NSTemporaryDirectory() + "/basin-metrics-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = """
            {"kind":"epoch","epoch":1,"iteration":0,"train_acc":1.0,"val_acc":1,"train_loss":0.5,"stopped":true}
            {"kind":"epoch","epoch":2,"iteration":10,"train_acc":0,"train_loss":0,"flag":false}

            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let rows = try MetricsRecords.numbers(path)
        #expect(rows.count == 2)
        #expect(rows[0] == ["epoch": 1, "iteration": 0, "train_acc": 1, "val_acc": 1, "train_loss": 0.5])
        #expect(rows[1] == ["epoch": 2, "iteration": 10, "train_acc": 0, "train_loss": 0])
    }
}
