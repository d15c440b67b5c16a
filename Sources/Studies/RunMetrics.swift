import CheckpointFormat
import Foundation
import Trainer

/// The per-epoch numbers a run logged (metrics.jsonl's epoch lines), for a study's curves.
struct EpochCurve {
    var epochs: [Double] = []
    var trainLoss: [Double] = []
    var validationAccuracy: [Double] = []

    /// Reads `run`'s metrics.jsonl (a run without one has an empty curve).
    init(_ run: RunDirectory) throws {
        for line in try MetricsRecords.numbers(run.metricsPath) where line["epoch"] != nil && line["train_loss"] != nil {
            epochs.append(line["epoch"] ?? .nan)
            trainLoss.append(line["train_loss"] ?? .nan)
            validationAccuracy.append(line["val_acc"] ?? .nan)
        }
    }

    var finalValidationAccuracy: Double { validationAccuracy.last ?? .nan }
}
