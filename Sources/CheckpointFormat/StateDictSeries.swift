import Foundation

/// A folder of per-epoch state dicts, as a PyTorch training script leaves them
/// (`torch.save`-free: `safetensors.torch.save_file(model.state_dict(), f"ckpts/epoch_{e}.safetensors")`),
/// read as the points of a run (docs/FORMAT.md §9.3).
///
/// Entries of the folder:
/// - a `.safetensors` or `.npz` file, or a sub-folder holding `.npy` files, is one state dict;
///   its name must give its epoch or iteration (`epochPoint(name:)`), else the folder is refused
///   naming it: guessing an epoch would put the wrong weights at the wrong point;
/// - `.pt`, `.pth`, `.bin`, `.pkl`: PyTorch pickles, refused with how to save them instead
///   (Basin does not run pickle code);
/// - anything else (the graph `model.onnx`, data files `X.npy` beside the weights, notes,
///   hidden files) is not a state dict and is listed as skipped, never imported.
public struct StateDictSeries: Equatable, Sendable {
    /// One state dict and the point of the run it belongs to.
    public struct Item: Equatable, Sendable {
        public var path: String
        public var point: RunPoint
        /// Epoch and iteration as the name gives them (both when it gives both).
        public var epoch: Int?
        public var iteration: Int?
    }

    /// The state dicts in training order.
    public var items: [Item]
    /// Entries that are not state dicts (file names), reported to the user.
    public var skipped: [String]

    /// Whether `path` is a folder of state dicts rather than one state dict (a folder of `.npy`
    /// files): it holds a `.safetensors`/`.npz` file or a sub-folder of `.npy` files.
    public static func isSeries(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return false }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.contains { name in
            guard !name.hasPrefix(".") else { return false }
            let lower = name.lowercased()
            if lower.hasSuffix(".safetensors") || lower.hasSuffix(".npz") { return true }
            return isNPYFolder(path + "/" + name)
        }
    }

    static func isNPYFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return false }
        return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).contains { $0.hasSuffix(".npy") && !$0.hasPrefix(".") }
    }

    /// Lists the folder.
    /// - Throws: `CheckpointError.invalidInput` naming the entry: a state dict whose name gives
    ///   no point (or two epochs), a pickle, two state dicts for one point, or no state dict at all.
    public init(folder: String) throws(CheckpointError) {
        let folder = folder.count > 1 && folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted() } catch {
            throw .invalidInput(path: folder, detail: "cannot list the folder")
        }
        var items: [Item] = [], skipped: [String] = []
        var byPoint: [RunPoint: String] = [:]
        for name in names where !name.hasPrefix(".") {
            let path = folder + "/" + name, lower = name.lowercased()
            let stem: String
            if lower.hasSuffix(".safetensors") { stem = String(name.dropLast(".safetensors".count)) }
            else if lower.hasSuffix(".npz") { stem = String(name.dropLast(4)) }
            else if Self.isNPYFolder(path) { stem = name }
            else if [".pt", ".pth", ".bin", ".pkl", ".pickle"].contains(where: { lower.hasSuffix($0) }) {
                throw .invalidInput(path: path, detail: "a PyTorch pickle, which Basin does not read (loading one runs its code); save state dicts with safetensors.torch.save_file(model.state_dict(), 'epoch_150.safetensors') or numpy.savez")
            } else { skipped.append(name); continue }
            guard let (epoch, iteration) = try Self.epochAndIteration(name: stem, path: path) else {
                throw .invalidInput(path: path, detail: "the name gives no epoch or iteration; name state dicts like epoch_150.safetensors, epoch-0150.npz, 150.npz or iter_000123.safetensors")
            }
            let point: RunPoint = iteration.map { .iteration($0) } ?? .epoch(epoch ?? 0)
            if let other = byPoint.updateValue(name, forKey: point) {
                throw .invalidInput(path: path, detail: "'\(other)' and '\(name)' are both \(point); keep one of them")
            }
            items.append(Item(path: path, point: point, epoch: epoch, iteration: iteration))
        }
        guard !items.isEmpty else {
            throw .invalidInput(path: folder, detail: "holds no state dicts (.safetensors, .npz, or folders of .npy files)")
        }
        self.items = items.sorted { $0.point < $1.point }
        self.skipped = skipped
    }

    /// The epoch and iteration a file stem gives, or nil when it gives neither.
    ///
    /// The stem is cut into words and numbers (`epoch_3_iter_200` → epoch, 3, iter, 200); a
    /// number counts when the word before it is `epoch`/`ep` (an epoch) or `iter`/`iteration`/
    /// `it`/`step` (an iteration); a stem that is only a number is an epoch (`150`). Other
    /// numbers (`resnet18_epoch_3`: 18) are part of a name and ignored.
    /// - Throws: `CheckpointError.invalidInput` when the stem gives two epochs or two iterations.
    public static func epochAndIteration(name stem: String, path: String) throws(CheckpointError) -> (epoch: Int?, iteration: Int?)? {
        var tokens: [(word: Bool, text: String)] = []
        for ch in stem.lowercased() {
            let word = ch.isASCII && ch.isLetter, digit = ch.isASCII && ch.isNumber
            guard word || digit else { tokens.append((false, "")); continue }
            if let last = tokens.last, !last.text.isEmpty, last.word == word {
                tokens[tokens.count - 1].text.append(ch)
            } else { tokens.append((word, String(ch))) }
        }
        tokens.removeAll { $0.text.isEmpty }
        if tokens.count == 1, !tokens[0].word { return Int(tokens[0].text).map { ($0, nil) } }
        var epoch: Int?, iteration: Int?
        for (k, t) in tokens.enumerated() where !t.word && k > 0 && tokens[k - 1].word {
            // Digits beyond Int's range are no point of a run; Int() gives nil for them.
            guard let n = Int(t.text) else { continue }
            switch tokens[k - 1].text {
            case "epoch", "ep", "epochs":
                if epoch != nil { throw .invalidInput(path: path, detail: "the name gives two epochs") }
                epoch = n
            case "iter", "iteration", "it", "step", "steps", "iters":
                if iteration != nil { throw .invalidInput(path: path, detail: "the name gives two iterations") }
                iteration = n
            default: continue
            }
        }
        return epoch == nil && iteration == nil ? nil : (epoch, iteration)
    }
}
