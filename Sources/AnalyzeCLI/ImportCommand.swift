import ArgumentParser
import CheckpointFormat
import Tensors
import Foundation

/// `analyze import`: a checkpoint or activation dump from NumPy/PyTorch files.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Build a checkpoint or activation dump from a folder of .npy files, an .npz or a .safetensors file.",
        discussion: """
            Tensor names come from the file names (folder of .npy) or keys (.npz, .safetensors), \
            e.g. features.0.weight.npy → features.0.weight, as PyTorch names state-dict entries. \
            Dtypes are kept; running_mean/running_var/num_batches_tracked are marked as buffers. \
            An existing output is never overwritten without --force.

            Examples:
              analyze import state_dict/ --out epoch-0150.ckpt --model-spec model.json --epoch 150
              analyze import weights.safetensors --run run/ --epoch 150
              analyze import acts.npz --kind activations --run run/ --epoch 10 \\
                  --probe-dataset fashion-mnist --probe-split test
            """)

    @Argument(help: "A folder of .npy files, a .npy, an .npz or a .safetensors file.")
    var source: String

    @Option(help: "Output archive path.")
    var out: String?

    @Option(name: .customLong("run"), help: "Put the archive into this run directory (created if missing) under checkpoints/ or activations/.")
    var runDirectory: String?

    /// What an imported archive holds.
    enum Kind: String, CaseIterable, ExpressibleByArgument {
        case checkpoint, activations
        var archiveKind: ArchiveKind { self == .checkpoint ? .checkpoint : .activations }
    }

    /// The splits a probe set can come from.
    enum ProbeSplit: String, CaseIterable, ExpressibleByArgument { case train, val, test }

    @Option(help: "What the source holds: checkpoint or activations.")
    var kind: Kind = .checkpoint

    @Option(help: "The epoch this checkpoint belongs to (recorded, and names the file with --run).")
    var epoch: Int?

    @Option(help: "The iteration this checkpoint belongs to (recorded, and names the file with --run when no --epoch).")
    var iteration: Int?

    @Option(help: "The learning rate at this point (recorded).")
    var learningRate: Double?

    @Option(help: "A JSON file with the model spec (docs/TRAINING.md), stored in the manifest.")
    var modelSpec: String?

    @Option(help: "Activation dumps: the probe set's dataset name.")
    var probeDataset: String?

    @Option(help: "Activation dumps: the probe set's split (train, val, test).")
    var probeSplit: ProbeSplit = .test

    @Option(help: "Archive compression: none, gzip or zstd.")
    var compression: Compression = .none

    @Flag(help: "Replace an existing output file.")
    var force = false

    func validate() throws {
        if (out == nil) == (runDirectory == nil) { throw ValidationError("give exactly one of --out FILE or --run DIR") }
        if runDirectory != nil && epoch == nil && iteration == nil { throw ValidationError("--run needs --epoch or --iteration to name the file") }
        if kind == .activations && probeDataset == nil { throw ValidationError("activation dumps need --probe-dataset (which datapoints the rows are)") }
    }

    func run() throws {
        let kind = self.kind.archiveKind
        let destination: String
        if let runPath = runDirectory {
            let dir = try RunDirectory.create(path: runPath)
            let point: RunPoint = epoch.map { .epoch($0) } ?? .iteration(iteration ?? 0)
            destination = kind == .checkpoint ? dir.checkpointPath(for: point) : dir.activationsPath(for: point)
        } else {
            destination = out ?? ""
        }
        if FileManager.default.fileExists(atPath: destination) && !force {
            throw CheckpointError.writeFailed(path: destination, detail: "file exists; pass --force to replace it")
        }
        var manifest = CheckpointManifest(kind: kind, createdBy: "basin \(BasinVersion.string) import", epoch: epoch,
                                          iteration: iteration, learningRate: learningRate,
                                          extra: ["importedFrom": .string(source)])
        if let specPath = modelSpec {
            guard let data = FileManager.default.contents(atPath: specPath) else { throw CheckpointError.fileNotFound(path: specPath) }
            do { manifest.model = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
                throw CheckpointError.invalidInput(path: specPath, detail: "model spec is not valid JSON")
            }
        }
        if kind == .activations {
            let arrays = try Importer.arrays(from: source)
            manifest.probe = ProbeSet(dataset: probeDataset ?? "", split: probeSplit.rawValue, count: arrays.first?.array.shape.first ?? 0)
        }
        let written = try Importer.importArchive(from: source, to: destination, manifest: manifest,
                                                 compression: compression)
        let elements = written.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        print("imported \(written.tensors.count) tensors (\(grouped(elements)) elements) into \(destination)")
    }
}

extension Compression: ExpressibleByArgument {}

/// `analyze export`: tensors of a checkpoint back out as NumPy or safetensors files.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's tensors as an .npz, a .safetensors file or a folder of .npy files.",
        discussion: """
            An existing destination is never overwritten without --force. With --force a file \
            is replaced atomically, and in an existing folder only the .npy files being \
            exported are replaced (each atomically); other files are left alone. Tensor \
            names are checked when the manifest is read, so files land only inside the \
            destination.

            Examples:
              analyze export run/checkpoints/epoch-0150.ckpt --to epoch150.npz
              analyze export run/checkpoints/epoch-0150.ckpt --to epoch150.safetensors
              analyze export run/checkpoints/epoch-0150.ckpt --to epoch150/ --tensors fc1.weight,fc1.bias
            """)

    @Argument(help: "A .ckpt or .acts archive.")
    var archive: String

    @Option(help: "Destination: NAME.npz, NAME.safetensors, or a folder (ending in /) for .npy files.")
    var to: String

    @Option(help: "Comma-separated tensor names (default: all).")
    var tensors: String?

    @Flag(help: "Replace an existing destination file, or same-named .npy files in an existing folder.")
    var force = false

    func validate() throws {
        if let tensors, tensors.split(separator: ",").isEmpty { throw ValidationError("--tensors names no tensors") }
    }

    /// Where the tensors go.
    enum Destination { case npz, safetensors, folder }

    var destination: Destination { to.hasSuffix(".npz") ? .npz : to.hasSuffix(".safetensors") ? .safetensors : .folder }

    /// Refuses before anything is read: an existing destination without `--force`, or one
    /// of the wrong kind (a file where a folder is meant, or the reverse) even with it.
    func checkDestination() throws(CheckpointError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: to, isDirectory: &isDirectory) else { return }
        switch destination {
        case .npz, .safetensors:
            if isDirectory.boolValue { throw .writeFailed(path: to, detail: "it is a folder, not a file") }
            if !force { throw .writeFailed(path: to, detail: "file exists; pass --force to replace it") }
        case .folder:
            if !isDirectory.boolValue { throw .writeFailed(path: to, detail: "it is a file, not a folder") }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: to)) ?? []
            if !contents.isEmpty && !force {
                throw .writeFailed(path: to, detail: "the folder exists and is not empty; pass --force to replace its files")
            }
        }
    }

    func run() throws {
        try checkDestination()
        let reader = try CheckpointReader(path: archive)
        var seen = Set<String>()
        let names = (tensors.map { $0.split(separator: ",").map(String.init) } ?? reader.names).filter { seen.insert($0).inserted }
        let arrays = try reader.arrays(named: names)
        let ordered = names.compactMap { n in arrays[n].map { (name: n, array: $0) } }
        switch destination {
        case .npz: try NPZ.write(ordered, to: to)
        case .safetensors: try Safetensors.write(ordered, metadata: ["source": archive], to: to)
        case .folder:
            // Names passed the manifest's checks (no '/', no leading '.'): each file lands
            // directly inside the folder.
            try AtomicFile.writeFolder(at: to, replacing: force) { (folder: String) throws(CheckpointError) in
                for (name, array) in ordered { try NPYFile.write(array, to: folder + "/" + name + ".npy") }
            }
        }
        print("exported \(ordered.count) tensors to \(to)")
    }
}
