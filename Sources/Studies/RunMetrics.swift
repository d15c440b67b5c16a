import CheckpointFormat
import Foundation
import Trainer

/// The per-epoch numbers a run logged (metrics.jsonl's epoch lines), for a study's curves.
struct EpochCurve {
    var epochs: [Double] = []
    var trainLoss: [Double] = []
    var trainAccuracy: [Double] = []
    var learningRate: [Double] = []
    var validationAccuracy: [Double] = []

    /// Reads `run`'s metrics.jsonl (a run without one has an empty curve).
    init(_ run: RunDirectory) throws {
        for line in try MetricsRecords.numbers(run.metricsPath) where line["epoch"] != nil && line["train_loss"] != nil {
            epochs.append(line["epoch"] ?? .nan)
            trainLoss.append(line["train_loss"] ?? .nan)
            trainAccuracy.append(line["train_acc"] ?? .nan)
            learningRate.append(line["lr"] ?? .nan)
            validationAccuracy.append(line["val_acc"] ?? .nan)
        }
    }

    var finalValidationAccuracy: Double { validationAccuracy.last ?? .nan }

    /// Epochs after which the learning rate fell (AutoDecay's decays are not in run.json).
    var learningRateDrops: [Int] {
        zip(zip(epochs, learningRate), learningRate.dropFirst()).compactMap { a, next in next < a.1 * 0.999 ? Int(a.0) : nil }
    }

    /// The run blew up (a non-finite loss) or ended no better than guessing among `classes`
    /// (training accuracy below 1.5 / classes): its representations are not worth comparing.
    func failed(classes: Int) -> Bool {
        trainLoss.contains { !$0.isFinite } || (trainAccuracy.last ?? 0) < 1.5 / Double(classes)
    }
}

/// The mean of `values`; NaN when there are none.
func mean(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }
