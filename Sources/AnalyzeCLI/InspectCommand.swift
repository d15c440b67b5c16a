import ArgumentParser
import CheckpointFormat
import Foundation
import Trainer

/// `analyze inspect`: what a checkpoint, activation dump, NumPy/safetensors file or run
/// directory holds, with every checksum verified.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a checkpoint, activation dump, .npy/.npz/.safetensors/.onnx file or run directory holds.",
        discussion: """
            Checkpoints and activation dumps are read in full and run through exactly the \
            checks every reader runs: the manifest's own SHA-256 (format version 2; version 1 \
            archives have none, which is said), no duplicated, unlisted or missing entries, \
            and every tensor's size, SHA-256, dtype and shape against the manifest. The \
            command exits non-zero if any check fails. NaN/∞ elements are counted.

            Examples:
              analyze inspect run/checkpoints/epoch-0150.ckpt
              analyze inspect run/checkpoints/epoch-0150.ckpt --json
              analyze inspect weights.safetensors
              analyze inspect model.onnx
              analyze inspect run/
            """)

    @Argument(help: "A .ckpt/.acts archive, a .npy/.npz/.safetensors/.onnx file, or a run directory.")
    var path: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    struct TensorInfo: Codable {
        var name: String
        var dtype: String
        var shape: [Int]
        var elements: Int
        var bytes: Int
        var role: String?
        var checksum: String?
        var nonFinite: Int?
    }

    struct Report: Codable {
        var path: String
        var type: String
        var manifest: CheckpointManifest?
        /// Archives: "sha256 ok", or that a format version 1 manifest has no checksum.
        var manifestChecksum: String?
        var tensors: [TensorInfo]
        var problems: [String]
    }

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.fileNotFound(path: path)
        }
        if isDirectory.boolValue { return try inspectRun() }
        if path.lowercased().hasSuffix(".onnx") { return try inspectONNX() }
        let report = try Self.report(path)
        if json { print(try JSONOutput.encode(report)) } else { printTable(report) }
        if !report.problems.isEmpty {
            throw ExitFailure(message: "\(path): \(report.problems.count) entr\(report.problems.count == 1 ? "y" : "ies") failed verification")
        }
    }

    static func report(_ path: String) throws -> Report {
        let lower = path.lowercased()
        func plain(_ type: String, _ arrays: [(name: String, array: NDArray)]) -> Report {
            Report(path: path, type: type, manifest: nil, manifestChecksum: nil, tensors: arrays.map {
                TensorInfo(name: $0.name, dtype: $0.array.dtype.rawValue, shape: $0.array.shape, elements: $0.array.count,
                           bytes: $0.array.bytes.count, role: nil, checksum: nil, nonFinite: $0.array.nonFiniteCount())
            }, problems: [])
        }
        if lower.hasSuffix(".npy") { return plain("npy", [(URL(fileURLWithPath: path).lastPathComponent, try NPYFile.read(path: path))]) }
        if lower.hasSuffix(".npz") { return plain("npz", try NPZ.read(path: path)) }
        if lower.hasSuffix(".safetensors") { return plain("safetensors", try Safetensors.read(path: path).tensors) }
        // The readers' own checks (CheckpointReader.walk), every entry read.
        let reader = try CheckpointReader(path: path)
        let statuses = try reader.verify()
        let byEntry = Dictionary(statuses.map { ($0.entry, $0) }, uniquingKeysWith: { a, _ in a })
        var tensors: [TensorInfo] = []
        for r in reader.manifest.tensors {
            let s = byEntry[r.entry]
            tensors.append(TensorInfo(name: r.name, dtype: r.dtype.rawValue, shape: r.shape,
                                      elements: try r.elementCount(in: path), bytes: try r.dataBytes(in: path),
                                      role: r.role.rawValue, checksum: s.map { $0.ok ? "ok" : "FAILED" } ?? "missing",
                                      nonFinite: s?.nonFinite))
        }
        let checksum = reader.manifestSHA256 == nil ? "none (format version 1 has no manifest checksum)" : "sha256 ok"
        return Report(path: path, type: reader.manifest.kind.rawValue, manifest: reader.manifest, manifestChecksum: checksum,
                      tensors: tensors, problems: statuses.filter { !$0.ok }.map(\.problem))
    }

    func printTable(_ r: Report) {
        print(r.path)
        if let m = r.manifest {
            print("  \(m.kind.rawValue), format \(m.format) v\(m.formatVersion), created by \(m.createdBy)")
            let when = [m.epoch.map { "epoch \($0)" }, m.iteration.map { "iteration \($0)" },
                        m.learningRate.map { "learning rate \($0)" }].compactMap { $0 }
            if !when.isEmpty { print("  " + when.joined(separator: ", ")) }
            if let model = m.model {
                print("  model: \(model)")
                if let line = Self.graphLine(model, checkpoint: r.path) { print("  graph: " + line) }
            }
            if !m.metrics.isEmpty { print("  metrics: " + m.metrics.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) }
            if let p = m.probe { print("  probe set: \(p.dataset) \(p.split), \(p.count) datapoints" + (p.seed.map { ", seed \($0)" } ?? "")) }
            if let c = r.manifestChecksum { print("  manifest checksum: \(c)") }
        } else {
            print("  \(r.type) file")
        }
        // Saturating sums: sizes come from the file (each one is overflow-checked).
        let elements = r.tensors.reduce(0) { $0.addingReportingOverflow($1.elements).overflow ? .max : $0 + $1.elements }
        let bytes = r.tensors.reduce(0) { $0.addingReportingOverflow($1.bytes).overflow ? .max : $0 + $1.bytes }
        print("  \(r.tensors.count) tensors, \(grouped(elements)) elements, \(byteSize(bytes))")
        var rows = [["name", "role", "dtype", "shape", "elements", "size", "checksum", "nan/inf"]]
        for t in r.tensors {
            rows.append([t.name, t.role ?? "", t.dtype, "[" + t.shape.map(String.init).joined(separator: ", ") + "]",
                         grouped(t.elements), byteSize(t.bytes), t.checksum ?? "", t.nonFinite.map(String.init) ?? ""])
        }
        let keep = (0..<rows[0].count).filter { c in rows.dropFirst().contains { !$0[c].isEmpty } }
        let widths = keep.map { c in rows.map { $0[c].count }.max() ?? 0 }
        for row in rows {
            print("  " + zip(keep, widths).map { c, w in row[c] + String(repeating: " ", count: w - row[c].count) }.joined(separator: "  "))
        }
        if r.manifest != nil {
            let ok = "  all \(r.tensors.count) tensor checksums ok" + (r.manifestChecksum == "sha256 ok" ? ", manifest checksum ok" : " (the manifest itself has no checksum)")
            print(r.problems.isEmpty ? ok : r.problems.map { "  problem: " + $0 }.joined(separator: "\n"))
        }
    }

    /// For a checkpoint whose model is an ONNX graph: where its graph was found and that its
    /// digest is the one recorded, or why it cannot be used (not a verification failure of the
    /// archive itself, so the command still succeeds).
    static func graphLine(_ model: JSONValue, checkpoint path: String) -> String? {
        guard let spec = try? ModelSpec.decode(model, path: path), spec.kind == .onnx else { return nil }
        do {
            let attached = try GraphFile.attach(spec, checkpoint: path)
            return "\(attached.loadedGraph?.model.path ?? spec.graph ?? "") (SHA-256 ok: the graph the checkpoint was made with)"
        } catch {
            return "problem: " + ErrorLine.describe(error)
        }
    }

    func inspectRun() throws {
        let run = try RunDirectory(path: path)
        struct RunReport: Codable { var path: String; var run: JSONValue?; var graph: String?; var graphSHA256: String?; var checkpoints: [String]; var activations: [String]; var analyses: [String] }
        let analyses = ((try? FileManager.default.contentsOfDirectory(atPath: run.analysesDirectory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        // An ONNX run's network (docs/FORMAT.md §9), stored once for all its checkpoints.
        let graphPath = run.path + "/model.onnx"
        let graph = FileManager.default.fileExists(atPath: graphPath) ? graphPath : nil
        let digest = try graph.map { try GraphFile.load($0).sha256 }
        let report = RunReport(path: run.path, run: try run.runInfo(), graph: graph, graphSHA256: digest,
                               checkpoints: run.checkpoints().map { run.checkpointPath(for: $0) },
                               activations: run.activationDumps().map { run.activationsPath(for: $0) }, analyses: analyses)
        if json { print(try JSONOutput.encode(report)); return }
        print(run.path)
        if let info = report.run { print("  run.json: \(info)") }
        if let graph, let digest { print("  model: ONNX graph \(graph) (SHA-256 \(digest.prefix(16))…)") }
        print("  checkpoints (\(report.checkpoints.count)): " + run.checkpoints().map(\.description).joined(separator: ", "))
        print("  activation dumps (\(report.activations.count)): " + run.activationDumps().map(\.description).joined(separator: ", "))
        print("  analyses (\(analyses.count)): " + analyses.joined(separator: ", "))
    }
}

/// An error that prints its message as is.
struct ExitFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 { out.append(",") }; out.append(c) }
    return String(out.reversed())
}

func byteSize(_ n: Int) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var v = Double(n), u = 0
    while v >= 1000 && u < units.count - 1 { v /= 1000; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}
