import CheckpointFormat
import Foundation
import Trainer

/// The per-epoch numbers a run logged (metrics.jsonl's epoch lines), for a study's curves.
struct EpochCurve {
    var epochs: [Double] = []
    var trainLoss: [Double] = []
    var trainAccuracy: [Double] = []
    var validationAccuracy: [Double] = []

    /// Reads `run`'s metrics.jsonl (a run without one has an empty curve).
    init(_ run: RunDirectory) throws {
        for line in try MetricsRecords.numbers(run.metricsPath) where line["epoch"] != nil && line["train_loss"] != nil {
            epochs.append(line["epoch"] ?? .nan)
            trainLoss.append(line["train_loss"] ?? .nan)
            trainAccuracy.append(line["train_acc"] ?? .nan)
            validationAccuracy.append(line["val_acc"] ?? .nan)
        }
    }

    var finalValidationAccuracy: Double { validationAccuracy.last ?? .nan }

    /// The run blew up (a non-finite loss) or ended no better than guessing among `classes`
    /// (training accuracy below 1.5 / classes): its representations are not worth comparing.
    func failed(classes: Int) -> Bool {
        trainLoss.contains { !$0.isFinite } || (trainAccuracy.last ?? 0) < 1.5 / Double(classes)
    }
}
