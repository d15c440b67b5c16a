import AnalyzerTestKit
import ArgumentParser
import Foundation
import Testing
@testable import Analyzers

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures").path

@Suite struct TransferabilityTests {
    @Test func paperTable2GivesThePrintedTransferabilities() throws {
        let result = try AnalyzerTestKit.checkContract(
            TransferAnalyzer.self, options: try TransferAnalyzer.Options.parse(["--from-accuracies", fixtures + "/transfer/paper003_table2.csv"]),
            run: nil)
        let printed = try String(contentsOfFile: fixtures + "/transfer/paper003_table2_transferability.csv", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") }.dropFirst()
        #expect(printed.count == 16)
        for line in printed {
            let c = line.split(separator: ",").map(String.init)
            let value = try #require(result.transferability.first { $0.target == c[0] && $0.mode == c[1] && $0.stage == Int(c[2]) })
            let t = try #require(value.transferability)
            // The paper rounds to two decimals.
            #expect(abs(t - (Double(c[3]) ?? .nan)) <= 0.005 + 1e-9, "\(line): computed \(t)")
        }
        // Caltech256 finetune stage 2, by hand: (82.73 − 77.87) / (69.33 − 54.01) = 4.86 / 15.32.
        let caltech = result.transferability.first { $0.target == "Caltech256" && $0.mode == "finetune" && $0.stage == 2 }
        #expect(abs((caltech?.transferability ?? 0) - 4.86 / 15.32) < 1e-12)
        #expect(result.files.contains("transferability-finetune.png") && result.files.contains("transferability-fix.svg"))
    }

    @Test func unchangedSourceAccuracyHasNoRatio() {
        let v = Transferability.values([.init(stage: 1, sourceAccuracy: 0.5, target: "t", mode: "fix", targetAccuracy: 0.4),
                                        .init(stage: 2, sourceAccuracy: 0.5, target: "t", mode: "fix", targetAccuracy: 0.45)])
        #expect(v.count == 1 && v[0].transferability == nil && abs(v[0].targetGain - 0.05) < 1e-12)
    }

    @Test(arguments: [
        "stage,acc\n1,2\n",
        "stage,source_accuracy,target,mode,target_accuracy\n1,50,t,fix\n",
        "stage,source_accuracy,target,mode,target_accuracy\none,50,t,fix,40\n",
        "stage,source_accuracy,target,mode,target_accuracy\n1,50,t,fix,40\n1,51,u,fix,40\n2,60,t,fix,45\n",
        "stage,source_accuracy,target,mode,target_accuracy\n1,50,t,fix,40\n",
    ])
    func malformedTablesNameTheProblem(csv: String) {
        #expect(throws: Transferability.TableError.self) { try Transferability.parse(csv: csv, path: "t.csv") }
    }
}
