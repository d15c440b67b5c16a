import CheckpointFormat
import Foundation
import Tensors

/// Resuming a run after any interruption (docs/TRAINING.md, "Resume").
///
/// A killed run holds a prefix of what an uninterrupted run writes, in its write order — with
/// gaps: a kill between the rename of `epoch-N.ckpt` and the files written after it (that epoch's
/// activation dump, the iteration checkpoint that starts the next epoch) leaves a checkpoint
/// newer than them. So resuming is: pick the newest epoch checkpoint E from which everything an
/// uninterrupted run writes *after* E can be recomputed, make the files it wrote *up to* E whole
/// (recreating the ones that are exact functions of a saved checkpoint's weights, truncating
/// metrics.jsonl to the lines of epochs ≤ E), and train from E. Later files are then rewritten
/// with the same bytes.
extension RunTrainer {
    /// Where a resumed run continues: an epoch checkpoint, and how many bytes of metrics.jsonl
    /// (the complete lines of epochs 1…epoch) are kept.
    struct ResumePoint: Equatable {
        var epoch: Int
        var metricsBytes: Int
    }

    /// The newest epoch checkpoint a run can exactly continue from, or nil (start over). It must:
    /// carry the optimizer state (and the previous gradient when the next step's line logs a
    /// gradient cosine); be preceded by every epoch checkpoint the save plan names and every
    /// iteration checkpoint that is not a copy of one of them; and metrics.jsonl must hold the
    /// lines of every epoch up to it.
    /// - Throws: the reader's error for a checkpoint that exists but is damaged: checkpoints are
    ///   published by rename, so no kill leaves one half-written, and retraining over a damaged
    ///   file would hide the damage.
    func resumePoint(perEpoch: Int) throws -> ResumePoint? {
        let metrics = completeMetricsEpochs(perEpoch: perEpoch)
        let saved = Set(run.checkpoints())
        for case .epoch(let e) in run.checkpoints().reversed() where e < metrics.count {
            guard try isResumable(epoch: e, perEpoch: perEpoch),
                  (0..<e).allSatisfy({ !expectsEpochCheckpoint($0) || saved.contains(.epoch($0)) }),
                  expectedIterations(upTo: e, perEpoch: perEpoch).allSatisfy({ i in
                      saved.contains(.iteration(i)) || copiedEpoch(ofIteration: i, perEpoch: perEpoch).map { saved.contains(.epoch($0)) } == true
                  }),
                  spec.save.walk.map({ w in
                      w.epochs.allSatisfy { $0 > e } || WalkRecorder.keptBytes(path: run.walkPath, upTo: e, recording: w, perEpoch: perEpoch) != nil
                  }) ?? true
            else { continue }
            return ResumePoint(epoch: e, metricsBytes: metrics[e])
        }
        return nil
    }

    /// Writes the files an uninterrupted run has written by the end of epoch `epoch` and this
    /// run lacks: activation dumps of saved epochs and iteration checkpoints at epoch boundaries,
    /// each computed from the epoch checkpoint holding the same weights (byte-identical to the
    /// original, since float32 weights round-trip exactly). `resumePoint` guarantees those exist.
    func recreateMissingFiles(upTo epoch: Int, perEpoch: Int, probe: (ProbeSet, Dataset)?) throws {
        var models: [Int: (model: Model, manifest: CheckpointManifest)] = [:]
        func load(_ e: Int) throws -> (model: Model, manifest: CheckpointManifest) {
            if let m = models[e] { return m }
            let m = try ModelCheckpoint.load(run.checkpointPath(for: .epoch(e)))
            models[e] = m
            return m
        }
        let exists = { (path: String) in FileManager.default.fileExists(atPath: path) }
        for i in expectedIterations(upTo: epoch, perEpoch: perEpoch).sorted() where !exists(run.checkpointPath(for: .iteration(i))) {
            guard let e = copiedEpoch(ofIteration: i, perEpoch: perEpoch) else { continue }
            try saveIteration(i, model: try load(e).model)
        }
        guard let (p, probeData) = probe else { return }
        for a in Set(spec.save.activationEpochs).sorted() where a <= epoch && (a == epoch || expectsEpochCheckpoint(a))
            && !exists(run.activationsPath(for: .epoch(a))) {
            let (model, manifest) = try load(a)
            try ActivationRecorder.write(model: model, probe: p, data: probeData, epoch: a, iteration: manifest.iteration ?? 0,
                                         to: run.activationsPath(for: .epoch(a)), compression: spec.save.compression)
        }
    }

    /// Cuts walk.jsonl to its settings line and the steps of epochs ≤ `epoch` (`resumePoint`
    /// checked they are all there), so the resumed run appends exactly what follows.
    func keepWalk(upTo epoch: Int, perEpoch: Int) throws {
        guard let recording = spec.save.walk else { return }
        guard let kept = WalkRecorder.keptBytes(path: run.walkPath, upTo: epoch, recording: recording, perEpoch: perEpoch) else {
            throw CheckpointError.invalidInput(path: run.walkPath, detail: "does not hold the walk of every recorded epoch up to \(epoch)")
        }
        if FileManager.default.contents(atPath: run.walkPath).map({ $0.count }) != kept.count { try AtomicFile.write(kept, to: run.walkPath) }
    }

    /// Keeps the first `bytes` bytes of metrics.jsonl (whole lines: `resumePoint` measured them),
    /// creating the file if it is missing.
    func keepMetrics(bytes: Int) throws {
        let data = FileManager.default.contents(atPath: run.metricsPath)
        guard data?.count != bytes else { return }
        try AtomicFile.write(Array((data ?? Data()).prefix(bytes)), to: run.metricsPath)
    }

    // MARK: what an uninterrupted run writes

    /// Whether the save plan writes `epoch-e.ckpt` (an AutoDecay stop adds the epoch it stopped
    /// at, which is then the run's last).
    func expectsEpochCheckpoint(_ e: Int) -> Bool {
        spec.save.savesCheckpoint(afterEpoch: e, last: spec.training.epochs)
    }

    /// The iteration checkpoints written by the end of epoch `epoch`: for each epoch k of
    /// `iterationEpochs`, its first point (iteration perEpoch·(k−1), written when epoch k−1 ends)
    /// once k−1 ≤ epoch, and its steps once k ≤ epoch.
    func expectedIterations(upTo epoch: Int, perEpoch: Int) -> Set<Int> {
        var out: Set<Int> = []
        for k in spec.save.iterationEpochs where k >= 1 && k <= epoch + 1 {
            out.insert(perEpoch * (k - 1))
            if k <= epoch, perEpoch > 0 { out.formUnion((perEpoch * (k - 1) + 1)...(perEpoch * k)) }
        }
        return out
    }

    /// The epoch whose checkpoint holds the same weights as iteration `i` (nil inside an epoch).
    func copiedEpoch(ofIteration i: Int, perEpoch: Int) -> Int? {
        guard perEpoch > 0 else { return i == 0 ? 0 : nil }
        return i % perEpoch == 0 ? i / perEpoch : nil
    }

    /// Whether training can continue exactly from `epoch-e.ckpt`.
    func isResumable(epoch e: Int, perEpoch: Int) throws -> Bool {
        let reader = try CheckpointReader(path: run.checkpointPath(for: .epoch(e)))
        if e == 0 { return true }
        // Written with the optimizer's state (its step count is recorded then, even for optimizers
        // that keep no tensors): not an imported or per-iteration checkpoint.
        guard reader.manifest.extra["optimizerSteps"] != nil else { return false }
        // The first step after e logs cos(∇ₜ, ∇ₜ₋₁) when its line is written: that needs ∇ₜ₋₁.
        let next = perEpoch * e + 1
        let logged = e < spec.training.epochs && perEpoch > 0 && (next % max(spec.save.logEvery, 1) == 0 || next % perEpoch == 0)
        return !logged || reader.manifest.tensors.contains { $0.name == Self.previousGradientEntry && $0.role == .optimizer }
    }

    /// The entry holding the last step's gradient in an epoch checkpoint (role `optimizer`).
    static var previousGradientEntry: String { "optimizer." + previousGradientKey }
    static var previousGradientKey: String { "previous_gradient" }

    /// Byte offsets into metrics.jsonl: element k is the length of the lines of epochs 1…k, for
    /// every k whose lines are all present, complete and in order (element 0 is 0). A line is
    /// identified by (kind, epoch, iteration); its numbers are the run's, checked by nobody.
    func completeMetricsEpochs(perEpoch: Int) -> [Int] {
        guard let data = FileManager.default.contents(atPath: run.metricsPath) else { return [0] }
        let bytes = [UInt8](data)
        var offsets = [0], position = 0
        func nextLine() -> (kind: String, epoch: Int, iteration: Int)? {
            guard let end = bytes[position...].firstIndex(of: 0x0A) else { return nil }   // a partial last line is no line
            defer { position = end + 1 }
            guard let o = try? JSONSerialization.jsonObject(with: Data(bytes[position..<end])) as? [String: Any],
                  let kind = o["kind"] as? String, let e = (o["epoch"] as? NSNumber)?.intValue,
                  let i = (o["iteration"] as? NSNumber)?.intValue else { return nil }
            return (kind, e, i)
        }
        let logEvery = max(spec.save.logEvery, 1)
        guard perEpoch > 0 else { return offsets }
        for k in stride(from: 1, through: spec.training.epochs, by: 1) {
            for i in (perEpoch * (k - 1) + 1)...(perEpoch * k) where i % logEvery == 0 || i % perEpoch == 0 {
                guard let line = nextLine(), line.kind == "step", line.epoch == k, line.iteration == i else { return offsets }
            }
            guard let line = nextLine(), line.kind == "epoch", line.epoch == k, line.iteration == perEpoch * k else { return offsets }
            offsets.append(position)
        }
        return offsets
    }
}
