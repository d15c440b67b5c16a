import Analyzers
import CheckpointFormat
import Foundation
import ONNX
import Tensors
import Trainer

/// `analyze import` of a folder of per-epoch state dicts, and of any state dict whose model is an
/// ONNX graph (docs/FORMAT.md §9): every file is read and bound to the model first, and only
/// when all of them fit is anything written — into a hidden staging folder, then renamed into
/// place, with the graph copied into the run once. A failure at any point leaves the run as it was.
extension ImportCommand {
    /// The model a checked import binds to.
    struct ResolvedSpec {
        var spec: ModelSpec
        var json: JSONValue
        var label: String
    }

    /// One state dict to import and where its checkpoint goes.
    struct Planned {
        var source: String
        var destination: String
        var epoch: Int?
        var iteration: Int?
        var point: RunPoint?
    }

    /// The spec of `--graph`: the graph loaded (unsupported operators refused naming the node)
    /// and run once on zeros for its input shape and classes.
    func graphSpec(_ path: String) throws -> ResolvedSpec {
        let graph = try GraphFile.load(path)
        let spec = try ModelSpec.onnx(graph, file: Self.graphFileName, inputShape: inputShape)
        return ResolvedSpec(spec: spec, json: try JSONValue(encoding: spec), label: path)
    }

    static let graphFileName = "model.onnx"

    /// The run folder without a trailing slash (it may not exist yet).
    var runPath: String? {
        runDirectory.map { $0.count > 1 && $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// Imports `source` (one state dict, or with `series` a folder of them) checked as a whole.
    func importChecked(series: StateDictSeries?, resolved: ResolvedSpec?) throws {
        var plan: [Planned] = []
        if let series {
            guard let runPath else { throw CheckpointError.invalidInput(path: source, detail: "a folder of state dicts imports into a run: give --run DIR") }
            plan = series.items.map {
                Planned(source: $0.path, destination: runPath + "/checkpoints/" + $0.point.fileStem + ".ckpt",
                        epoch: $0.epoch, iteration: $0.iteration, point: $0.point)
            }
            if !series.skipped.isEmpty {
                print("skipped (not state dicts): " + TensorRenaming.list(series.skipped, limit: 8))
            }
        } else if let runPath {
            let point: RunPoint = epoch.map { .epoch($0) } ?? .iteration(iteration ?? 0)
            plan = [Planned(source: source, destination: runPath + "/checkpoints/" + point.fileStem + ".ckpt",
                            epoch: epoch, iteration: iteration, point: point)]
        } else {
            plan = [Planned(source: source, destination: out ?? "", epoch: epoch, iteration: iteration)]
        }
        if force { for p in plan { try Self.requireReplaceableArchive(p.destination) } }
        if !force, let existing = plan.first(where: { FileManager.default.fileExists(atPath: $0.destination) }) {
            let count = plan.filter { FileManager.default.fileExists(atPath: $0.destination) }.count
            throw CheckpointError.writeFailed(path: existing.destination, detail: count > 1
                ? "it and \(count - 1) more of the checkpoints to import exist; pass --force to replace them"
                : "file exists; pass --force to replace it")
        }
        // The graph goes beside a lone checkpoint, or into the run once.
        let graphTarget: GraphCopy?
        if let graph = resolved?.spec.loadedGraph?.model {
            let folder = runPath ?? URL(fileURLWithPath: out ?? "").deletingLastPathComponent().path
            let destination = folder + "/" + Self.graphFileName
            if FileManager.default.fileExists(atPath: destination) {
                let present = try GraphFile.load(destination).sha256
                guard present == graph.sha256 else {
                    throw CheckpointError.invalidInput(path: destination, detail: "holds another graph (SHA-256 \(present.prefix(16))…) than \(graph.path) (SHA-256 \(graph.sha256.prefix(16))…); a run holds one network: import into another run")
                }
                graphTarget = nil
            } else {
                graphTarget = GraphCopy(source: graph.path, destination: destination, sha256: graph.sha256)
            }
        } else { graphTarget = nil }

        let layout = try resolved.map { r throws -> [String: [Int]] in
            let l = try r.spec.tensorLayout()
            return Dictionary((l.parameters + l.buffers).map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        }
        let progress = ProgressReporter()
        // Pass 1: every state dict read in full and bound; nothing is written.
        var renamed: [String: String] = [:]
        progress.start("checking", total: plan.count)
        for item in plan {
            let (_, bound) = try boundArrays(item.source, resolved: resolved, layout: layout)
            for (from, to) in bound { renamed[from] = to }
            progress.advance()
        }
        progress.finish()
        if let resolved, !renamed.isEmpty {
            let pairs = renamed.sorted { $0.key < $1.key }.map { "\($0.key) → \($0.value)" }
            print("bound by shape to \(resolved.label): " + TensorRenaming.list(pairs, limit: 8))
        }
        if resolved == nil {
            FileHandle.standardError.write(Data(("warning: the imported checkpoints have no model spec: norms and svcca can read them, but barrier, "
                + "connect, plane, walk and hessian cannot build their model; import with --graph model.onnx or --model-spec model.json\n").utf8))
        }
        // Pass 2: written where no reader looks, then published.
        try write(plan, resolved: resolved, layout: layout, graph: graphTarget, progress: progress)
        if plan.count == 1, plan[0].point == nil || series == nil {
            print("imported \(plan[0].source) into \(plan[0].destination)")
        } else {
            print("imported \(plan.count) state dicts into \(runPath ?? "") (" + TensorRenaming.list(plan.compactMap { $0.point?.description }, limit: 6) + ")")
        }
        if let graph = resolved?.spec, graph.kind == .onnx, let digest = graph.sha256 {
            let folder = runPath ?? URL(fileURLWithPath: out ?? "").deletingLastPathComponent().path
            print("model: the ONNX graph \(folder)/\(Self.graphFileName) (SHA-256 \(digest.prefix(16))…)" + (graphTarget == nil ? ", already there" : ", copied from \(graphTarget?.source ?? "")"))
        }
    }

    /// A state dict's arrays under the names to store, scalars shaped as the model's
    /// (`num_batches_tracked` saved as `[1]` stored as `[]`), and the names bound by shape.
    func boundArrays(_ path: String, resolved: ResolvedSpec?, layout: [String: [Int]]?) throws -> ([(name: String, array: NDArray)], [(String, String)]) {
        if path.lowercased().hasSuffix(".onnx"), let spec = resolved?.spec, spec.kind == .onnx {
            // The graph's own weights (as exported), under the graph's own names.
            let model = try Model(spec: spec, rng: RandomGenerator(seed: 0))
            return (model.stateDict().map { ($0.name, NDArray($0.tensor)) }, [])
        }
        var arrays = try Importer.arrays(from: path)
        if let rename {
            let renaming: TensorRenaming
            switch rename {
            case .rules(let r): renaming = r
            case .mapFile(let map): renaming = try TensorRenaming.load(mapFile: map)
            }
            let names = try renaming.apply(to: arrays.map(\.name), source: path)
            arrays = zip(names, arrays).map { ($0, $1.array) }
        }
        guard let resolved else { return (arrays, []) }
        let folder = isFolder(path)
        let bound = try StateDictBinding.bind(arrays.map { ($0.name, $0.array.shape) }, to: resolved.spec, specLabel: resolved.label,
                                              source: path, display: { folder ? "\($0).npy" : "'\($0)'" })
        var out: [(name: String, array: NDArray)] = []
        for (name, (_, array)) in zip(bound.names, arrays) {
            if layout?[name] == [], array.shape == [1] {
                out.append((name, try NDArray(dtype: array.dtype, shape: [], bytes: array.bytes)))
            } else { out.append((name, array)) }
        }
        return (out, bound.renamed)
    }

    /// Writes every checkpoint into a hidden staging folder, copies the graph, then renames the
    /// checkpoints into place; on failure removes what it made (and the run, if it made it).
    private func write(_ plan: [Planned], resolved: ResolvedSpec?, layout: [String: [Int]]?,
                       graph: GraphCopy?, progress: ProgressReporter) throws {
        let fm = FileManager.default
        let preexisting = Set(plan.map(\.destination).filter { fm.fileExists(atPath: $0) })
        let runExisted = runPath.map { fm.fileExists(atPath: $0) } ?? true
        var created: [String] = []
        var staging: String?
        do {
            if let runPath {
                let run = try RunDirectory.create(path: runPath)
                let folder = run.checkpointsDirectory + "/.import-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                do { try fm.createDirectory(atPath: folder, withIntermediateDirectories: false) } catch {
                    throw CheckpointError.writeFailed(path: folder, detail: "cannot create the staging folder")
                }
                staging = folder
            }
            progress.start("importing", total: plan.count)
            var staged: [(from: String, to: String)] = []
            for item in plan {
                let (arrays, _) = try boundArrays(item.source, resolved: resolved, layout: layout)
                let manifest = CheckpointManifest(kind: .checkpoint, createdBy: "basin \(BasinVersion.string) import", model: resolved?.json,
                                                  epoch: item.epoch, iteration: item.iteration, learningRate: learningRate,
                                                  extra: ["importedFrom": .string(item.source)])
                let target = staging.map { $0 + "/" + URL(fileURLWithPath: item.destination).lastPathComponent } ?? item.destination
                if staging == nil, let graph {
                    // A lone checkpoint: its graph first, so the checkpoint never appears without it.
                    try copyGraph(graph); created.append(graph.destination)
                }
                try Importer.importArchive(arrays, source: item.source, to: target, manifest: manifest, compression: compression)
                staged.append((target, item.destination))
                progress.advance()
            }
            progress.finish()
            if staging != nil {
                if let graph { try copyGraph(graph); created.append(graph.destination) }
                for (from, to) in staged {
                    guard Foundation.rename(from, to) == 0 else {
                        throw CheckpointError.writeFailed(path: to, detail: "rename: \(String(cString: strerror(errno)))")
                    }
                    created.append(to)
                }
                if let runPath {
                    let dfd = open(runPath + "/checkpoints", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    if dfd >= 0 { fsync(dfd); close(dfd) }
                }
            }
        } catch {
            // Files replaced under --force stay replaced; new ones are removed.
            for path in created where !preexisting.contains(path) { try? fm.removeItem(atPath: path) }
            if let staging { try? fm.removeItem(atPath: staging) }
            if !runExisted, let runPath { try? fm.removeItem(atPath: runPath) }
            throw error
        }
        if let staging { try? fm.removeItem(atPath: staging) }
    }

    /// The graph file to copy, and the digest the checkpoints record.
    struct GraphCopy { var source: String; var destination: String; var sha256: String }

    /// Copies the graph file atomically after checking its bytes are still the ones loaded.
    private func copyGraph(_ graph: GraphCopy) throws {
        guard let data = FileManager.default.contents(atPath: graph.source) else { throw CheckpointError.fileNotFound(path: graph.source) }
        let bytes = [UInt8](data)
        guard sha256Hex(bytes) == graph.sha256 else {
            throw CheckpointError.invalidInput(path: graph.source, detail: "the file changed while it was imported; run the import again")
        }
        try AtomicFile.write(bytes, to: graph.destination)
    }
}
