import Analyzers
import ArgumentParser
import CheckpointFormat
import Tensors
import Foundation
import Trainer

/// `analyze import`: a checkpoint or activation dump from NumPy/PyTorch files.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Build a checkpoint or activation dump from a folder of .npy files, an .npz or a .safetensors file, or a run from a folder of per-epoch state dicts.",
        discussion: """
            Tensor names come from the file names (folder of .npy) or keys (.npz, .safetensors), \
            e.g. features.0.weight.npy → features.0.weight, as PyTorch names state-dict entries. \
            Dtypes are kept; running_mean/running_var/num_batches_tracked are marked as buffers. \
            An existing output is never overwritten without --force.

            With --model-spec (or, with --run, the spec of the run's other checkpoints) every \
            tensor is bound to a tensor of that model before anything is written: names Basin \
            uses (layers.0.weight) bind as they are; other names (fc1.weight) bind by shape when \
            the shapes tell the layers apart, or through --rename. A tensor no layer takes (an \
            X.npy beside the weights) is refused, naming it. Without a spec the checkpoint holds \
            tensors only: norms and svcca work, barrier, connect, plane, walk and hessian do not.

            A PyTorch network of any architecture comes as its ONNX graph (torch.onnx.export): \
            with --graph model.onnx the tensors are bound to the graph's (names as in the state \
            dict), the graph is copied into the run as model.onnx (once; another graph there is \
            refused), and every checkpoint records it (docs/FORMAT.md §9). Later imports into \
            that run need no --graph. SOURCE may be a folder of per-epoch state dicts (.safetensors, \
            .npz, or sub-folders of .npy): each one's epoch or iteration comes from its name \
            (epoch-0150, epoch_150, epoch150, 150, iter_123, step_123; epoch_3_iter_200 is \
            iteration 200 of epoch 3); a name without a number is refused, other files (the graph, \
            X.npy) are skipped and listed. Every file is checked before anything is written: a \
            refused import leaves the run as it was.

            SOURCE may also be the .onnx file itself: the checkpoint then holds the weights the \
            graph was exported with (the trained model), bound to the graph as above.

            Activation dumps are datapoints × neurons; google/svcca stores neurons × datapoints: \
            say which with --layout. Without it, a matrix with more columns than rows is refused.

            Examples:
              analyze import state_dict/ --out epoch-0150.ckpt --model-spec model.json --epoch 150
              analyze import epoch_150.npz --run run/ --epoch 150 --model-spec model.json
              analyze import epoch_150.npz --run run/ --epoch 150 --model-spec model.json \\
                  --rename 'fc1.=layers.0.,fc2.=layers.2.,fc3.=layers.4.'
              analyze import ckpts/ --graph model.onnx --run run/
              analyze import epoch_151.safetensors --run run/ --epoch 151
              analyze import final.npz --graph model.onnx --input-shape 3,32,32 --out final/final.ckpt
              analyze import model.onnx --out final/final.ckpt          # the weights it was exported with
              analyze import acts.npz --kind activations --run run/ --epoch 10 \\
                  --probe-dataset fashion-mnist --probe-split test --layout neurons-first
            """)

    @Argument(help: "A folder of .npy files, a .npy, an .npz or a .safetensors file, or a folder of per-epoch state dicts (with --run).")
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

    /// How an activation matrix is oriented in the file.
    enum Layout: String, CaseIterable, ExpressibleByArgument {
        /// Basin's: one row per datapoint (PyTorch's `[N, features]`).
        case datapointsFirst = "datapoints-first"
        /// google/svcca's: one row per neuron.
        case neuronsFirst = "neurons-first"
    }

    /// `--rename`: prefix rules typed inline, or a JSON map file (read when the import runs).
    enum Rename {
        case rules(TensorRenaming)
        case mapFile(String)
        /// For `@Option(transform:)`: a malformed rule is a usage error saying which item is wrong.
        @Sendable static func parse(_ text: String) throws -> Rename {
            if text.lowercased().hasSuffix(".json") { return .mapFile(text) }
            return .rules(try TensorRenaming(rules: text))
        }
    }

    @Option(help: "What the source holds: checkpoint or activations.")
    var kind: Kind = .checkpoint

    @Option(help: "The epoch this checkpoint belongs to (recorded, and names the file with --run).")
    var epoch: Int?

    @Option(help: "The iteration this checkpoint belongs to (recorded, and names the file with --run when no --epoch).")
    var iteration: Int?

    @Option(help: "The learning rate at this point (recorded).")
    var learningRate: Double?

    @Option(help: "A JSON file with the model spec (docs/TRAINING.md), stored in the manifest; tensors are bound to it. With --run, the run's spec is the default.")
    var modelSpec: String?

    @Option(help: ArgumentHelp("The network as an ONNX graph (torch.onnx.export): tensors are bound to its initializers, and it is copied into the run (or beside --out) as model.onnx.", valueName: "model.onnx"))
    var graph: String?

    @Option(help: ArgumentHelp("The per-sample input shape, when the graph's input leaves it symbolic.", valueName: "C,H,W"),
            transform: ImportCommand.parseShape)
    var inputShape: [Int]?

    @Option(help: ArgumentHelp("Rename tensors first: prefix rules 'fc1.=layers.0.,fc2.=layers.2.' or a JSON map file {\"fc1.weight\": \"layers.0.weight\", …}.", valueName: "rules|map.json"),
            transform: Rename.parse)
    var rename: Rename?

    @Option(help: "Activation dumps: the probe set's dataset name.")
    var probeDataset: String?

    @Option(help: "Activation dumps: the probe set's split (train, val, test).")
    var probeSplit: ProbeSplit = .test

    @Option(help: "Activation dumps: datapoints-first (rows are datapoints, Basin's and PyTorch's [N, features]) or neurons-first (google/svcca's); required when a matrix has more columns than rows.")
    var layout: Layout?

    @Option(help: "Archive compression: none, gzip or zstd.")
    var compression: Compression = .none

    @Flag(help: "Replace an existing output file.")
    var force = false

    /// `--input-shape 3,32,32`.
    @Sendable static func parseShape(_ text: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--input-shape '\(text)': expected positive sizes separated by commas, e.g. 3,32,32")
        }
        return parts.compactMap { $0 }
    }

    mutating func validate() throws {
        // An .onnx source is the exported model itself: the graph, with its own weights as the checkpoint.
        if kind == .checkpoint && source.lowercased().hasSuffix(".onnx") {
            if let g = graph, g != source { throw ValidationError("\(source) is a graph: it is imported with its own weights; --graph names no other file then") }
            graph = source
        }
        if (out == nil) == (runDirectory == nil) { throw ValidationError("give exactly one of --out FILE or --run DIR") }
        if graph != nil && modelSpec != nil { throw ValidationError("give --graph model.onnx or --model-spec model.json, not both") }
        if graph != nil && kind == .activations { throw ValidationError("--graph applies to checkpoints (--kind checkpoint)") }
        if inputShape != nil && graph == nil { throw ValidationError("--input-shape applies with --graph") }
        if kind == .checkpoint && StateDictSeries.isSeries(source) {
            if out != nil { throw ValidationError("\(source) is a folder of state dicts: import it with --run DIR (each file's epoch comes from its name)") }
            if epoch != nil || iteration != nil { throw ValidationError("--epoch and --iteration name one checkpoint; the state dicts in \(source) take theirs from their file names") }
            if learningRate != nil { throw ValidationError("--learning-rate records one checkpoint's rate; it does not apply to a folder of state dicts") }
            return
        }
        if runDirectory != nil && epoch == nil && iteration == nil { throw ValidationError("--run needs --epoch or --iteration to name the file") }
        if kind == .activations && probeDataset == nil { throw ValidationError("activation dumps need --probe-dataset (which datapoints the rows are)") }
        if kind == .checkpoint && layout != nil { throw ValidationError("--layout applies to activation dumps (--kind activations)") }
    }

    func run() throws {
        var resolved: (spec: ModelSpec, json: JSONValue, label: String)?
        if self.kind == .checkpoint {
            let series = StateDictSeries.isSeries(source) ? try StateDictSeries(folder: source) : nil
            resolved = try resolveSpec()
            if graph != nil || series != nil || resolved?.spec.kind == .onnx {
                return try importChecked(series: series, resolved: resolved.map { ResolvedSpec(spec: $0.spec, json: $0.json, label: $0.label) })
            }
        }
        let kind = self.kind.archiveKind
        let destination: String
        if let runPath = runDirectory {
            let dir = try RunDirectory.create(path: runPath)
            let point: RunPoint = epoch.map { .epoch($0) } ?? .iteration(iteration ?? 0)
            destination = kind == .checkpoint ? dir.checkpointPath(for: point) : dir.activationsPath(for: point)
        } else {
            destination = out ?? ""
        }
        if FileManager.default.fileExists(atPath: destination) {
            if !force { throw CheckpointError.writeFailed(path: destination, detail: "file exists; pass --force to replace it") }
            try Self.requireReplaceableArchive(destination)
        }
        var manifest = CheckpointManifest(kind: kind, createdBy: "basin \(BasinVersion.string) import", epoch: epoch,
                                          iteration: iteration, learningRate: learningRate,
                                          extra: ["importedFrom": .string(source)])
        var arrays = try Importer.arrays(from: source)
        if let rename {
            let renaming: TensorRenaming
            switch rename {
            case .rules(let r): renaming = r
            case .mapFile(let path): renaming = try TensorRenaming.load(mapFile: path)
            }
            let names = try renaming.apply(to: arrays.map(\.name), source: source)
            arrays = zip(names, arrays).map { ($0, $1.array) }
        }
        // Activation dumps store a spec only when one is given; checkpoints are bound to theirs.
        let spec = kind == .checkpoint ? resolved : modelSpec != nil ? try resolveSpec() : nil
        manifest.model = spec?.json
        if kind == .checkpoint {
            if let spec {
                let folder = isFolder(source)
                let bound = try StateDictBinding.bind(arrays.map { ($0.name, $0.array.shape) }, to: spec.spec, specLabel: spec.label,
                                                      source: source, display: { folder ? "\($0).npy" : "'\($0)'" })
                arrays = zip(bound.names, arrays).map { ($0, $1.array) }
                if !bound.renamed.isEmpty {
                    let pairs = bound.renamed.map { "\($0.from) → \($0.to)" }
                    print("bound by shape to \(spec.label): " + TensorRenaming.list(pairs, limit: 8))
                }
            } else {
                FileHandle.standardError.write(Data(("warning: \(destination) has no model spec: norms and svcca can read it, but barrier, "
                    + "connect, plane, walk and hessian cannot build its model; import it with --model-spec model.json\n").utf8))
            }
        } else {
            arrays = try oriented(arrays)
            manifest.probe = ProbeSet(dataset: probeDataset ?? "", split: probeSplit.rawValue, count: arrays.first?.array.shape.first ?? 0)
        }
        let written = try Importer.importArchive(arrays, source: source, to: destination, manifest: manifest, compression: compression)
        let elements = written.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        print("imported \(written.tensors.count) tensor\(written.tensors.count == 1 ? "" : "s") (\(grouped(elements)) element\(elements == 1 ? "" : "s")) into \(destination)")
    }

    func isFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The model spec: --graph's or --model-spec, else (with --run) run.json's or the one the
    /// run's newest checkpoint carries, else none. A spec of kind onnx comes with its graph,
    /// found as a reader finds it (beside the file, or in the run) and checked by its digest.
    func resolveSpec() throws -> (spec: ModelSpec, json: JSONValue, label: String)? {
        if let graph {
            let r = try graphSpec(graph)
            // A run holds one network: its checkpoints' model must be this graph.
            if runPath != nil, let existing = try declaredSpec(), existing.spec.kind != .onnx || existing.spec.sha256?.lowercased() != r.spec.sha256 {
                let theirs = existing.spec.kind == .onnx ? "the ONNX graph with SHA-256 \(existing.spec.sha256?.prefix(16) ?? "")…" : "a \(existing.spec.kind.rawValue) model"
                throw CheckpointError.invalidInput(path: graph, detail: "the run's checkpoints (\(existing.label)) are of \(theirs), not this graph (SHA-256 \(r.spec.sha256?.prefix(16) ?? "")…); a run holds one network: import into another run")
            }
            return (r.spec, r.json, r.label)
        }
        guard let found = try declaredSpec() else { return nil }
        guard found.spec.kind == .onnx else { return found }
        let anchor = runPath.map { $0 + "/run.json" } ?? found.label
        let spec = try GraphFile.attach(found.spec, checkpoint: anchor)
        let label = spec.loadedGraph?.model.path ?? found.label
        return (spec, found.json, label)
    }

    func declaredSpec() throws -> (spec: ModelSpec, json: JSONValue, label: String)? {
        if let path = modelSpec {
            guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError.fileNotFound(path: path) }
            let spec = try ModelSpec.decode(json: data, path: path)
            let json: JSONValue
            do { json = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
                throw CheckpointError.invalidInput(path: path, detail: "model spec is not valid JSON")
            }
            return (spec, json, path)
        }
        guard let runPath = runDirectory, let run = try? RunDirectory(path: runPath) else { return nil }
        if FileManager.default.fileExists(atPath: run.runJSONPath) {
            let spec = try RunSpec.load(run).model
            return (spec, try JSONValue(encoding: spec), run.runJSONPath)
        }
        for point in run.checkpoints().reversed() {
            let path = run.checkpointPath(for: point)
            guard let json = try CheckpointReader(path: path).manifest.model else { continue }
            return (try ModelSpec.decode(json, path: path), json, "the model spec of \(path)")
        }
        return nil
    }

    /// Activation matrices as datapoints × neurons. Without --layout a matrix whose reading is in
    /// doubt is refused, saying how its shape would be read: more columns than rows (512 datapoints
    /// of 10 000 neurons is google/svcca's neurons-first file read the wrong way round), or
    /// matrices that agree on their columns but not their rows.
    func oriented(_ arrays: [(name: String, array: NDArray)]) throws -> [(name: String, array: NDArray)] {
        for (name, a) in arrays where a.shape.count != 2 {
            throw CheckpointError.invalidInput(path: source, detail: "activation '\(name)' has shape \(a.shape); expected a matrix (datapoints × neurons, or neurons × datapoints with --layout neurons-first)")
        }
        switch layout {
        case .datapointsFirst: return arrays
        case .neuronsFirst: return try arrays.map { ($0.name, try Importer.transposed($0.array, name: $0.name, source: source)) }
        case nil:
            let hint = "pass --layout neurons-first (google/svcca's convention) or --layout datapoints-first"
            if let (name, a) = arrays.first(where: { $0.array.shape[1] > $0.array.shape[0] }) {
                let (r, c) = (a.shape[0], a.shape[1])
                throw CheckpointError.invalidInput(path: source, detail: "activation '\(name)' has shape [\(r), \(c)]: read datapoints-first that is \(r) datapoints of \(c) neurons, more neurons than datapoints; neurons-first it is \(c) datapoints of \(r) neurons; \(hint)")
            }
            // The run's other dumps say how many datapoints a probe set has.
            if let runPath = runDirectory, let run = try? RunDirectory(path: runPath),
               let last = run.activationDumps().last, let p = try? CheckpointReader(path: run.activationsPath(for: last)).manifest.probe?.count,
               let (name, a) = arrays.first(where: { $0.array.shape[0] != p && $0.array.shape[1] == p }) {
                throw CheckpointError.invalidInput(path: source, detail: "activation '\(name)' has shape \(a.shape): read datapoints-first that is \(a.shape[0]) datapoints, but the run's dumps are of \(p) datapoints; neurons-first it is \(p) datapoints of \(a.shape[0]) neurons; \(hint)")
            }
            let rows = Set(arrays.map { $0.array.shape[0] }), columns = Set(arrays.map { $0.array.shape[1] })
            if rows.count > 1 && columns.count == 1, let c = columns.first {
                throw CheckpointError.invalidInput(path: source, detail: "the activation matrices have different row counts \(rows.sorted()) but all have \(c) columns: read datapoints-first their datapoints differ; neurons-first they are \(c) datapoints each; \(hint)")
            }
            return arrays
        }
    }
}

extension ImportCommand {
    /// Refuses to let `--force` replace `path` unless it is an earlier Basin archive (a
    /// checkpoint or activation dump that opens as one): never a folder, a run's run.json, or
    /// any other file a mistyped `--out` may name.
    static func requireReplaceableArchive(_ path: String) throws(CheckpointError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        if isDirectory.boolValue { throw .writeFailed(path: path, detail: "it is a folder, not a file; --force replaces only an earlier checkpoint or activation dump") }
        guard (try? CheckpointReader(path: path)) != nil else {
            throw .writeFailed(path: path, detail: "it is not a Basin checkpoint or activation dump, the only files --force replaces")
        }
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
            // A run, its checkpoints/ or activations/, the working directory…: never, as for --out.
            if let reason = OutputFolder.protection(to) { throw .writeFailed(path: to, detail: reason) }
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
