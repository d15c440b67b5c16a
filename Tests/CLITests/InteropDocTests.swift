import Foundation
import Testing

/// docs/INTEROP.md, run as written: the files its PyTorch snippet writes are
/// fixtures/pytorch-run/ (make_run.py calls those very lines), laid out in `ckpts/` as the snippet
/// lays them out; then every ```sh block of the page runs verbatim, in order. The barrier and
/// Hessian the page's commands compute are compared with float64 PyTorch
/// (fixtures/pytorch-run/references.json), and every analysis must show up in the report.
@Suite struct InteropDocTests {
    static let run = fixtures + "/pytorch-run"

    /// The page's ```sh blocks, in order.
    static func shellBlocks(_ file: String) throws -> [String] {
        var text = try String(contentsOfFile: file, encoding: .utf8)[...]
        var blocks: [String] = []
        while let open = text.range(of: "```sh\n") {
            let rest = text[open.upperBound...]
            let close = try #require(rest.range(of: "```"), "unclosed ```sh block in \(file)")
            blocks.append(String(rest[..<close.lowerBound]))
            text = rest[close.upperBound...]
        }
        return blocks
    }

    /// A folder holding what the snippet wrote, as `ckpts/`.
    static func snippetOutput() throws -> String {
        let dir = temporaryDirectory("basin-interop")
        try FileManager.default.createDirectory(atPath: dir + "/ckpts", withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: run)
        where name.hasSuffix(".safetensors") || name.hasSuffix(".npy") || name == "model.onnx" {
            try FileManager.default.copyItem(atPath: run + "/" + name, toPath: dir + "/ckpts/" + name)
        }
        return dir
    }

    static func result(_ dir: String, prefix: String) throws -> [String: Any] {
        let folders = try FileManager.default.contentsOfDirectory(atPath: dir + "/run/analyses")
        let folder = try #require(folders.first { $0.hasPrefix(prefix) }, "no \(prefix)* analysis in \(folders)")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/run/analyses/" + folder + "/result.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return (json["result"] as? [String: Any]) ?? json
    }

    /// The README's ONNX route: its snippet writes what make_run.py wrote, its commands run as written.
    @Test func theReadmesONNXRouteRunsVerbatim() throws {
        let (snippet, commands) = try PyTorchRouteTests.readmeSection(onnx: true)
        for call in ["save_file(model.state_dict()", "torch.onnx.export(", "TrainingMode.PRESERVE", "np.save(\"ckpts/val-X.npy\""] {
            #expect(snippet.contains(call), "the README's snippet no longer writes what fixtures/pytorch-run holds: \(call)")
        }
        let dir = try Self.snippetOutput()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try PyTorchRouteTests.shell(commands, in: dir)
        #expect(r.status == 0, "README commands failed: \(r.stderr)")
        let barrier = try Self.result(dir, prefix: "barrier-")
        let segment = try #require((barrier["pairs"] as? [[String: Any]])?.first?["segment"] as? [[String: Any]])
        let references = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.run + "/references.json"))) as? [String: Any])
        let pair = try #require(((references["barrier"] as? [String: Any])?["pairs"] as? [[String: Any]])?.first)
        let loss = try #require(segment.first { $0["split"] as? String == "val" }?["loss"] as? [Double])
        let reference = try #require((pair["val"] as? [String: Any])?["loss"] as? [Double])
        #expect(zip(loss, reference).allSatisfy { abs($0 - $1) <= 1e-5 * abs($1) } && loss.count == reference.count)
        #expect(FileManager.default.fileExists(atPath: dir + "/run/report/index.html"))
    }

    @Test func everyCommandOfThePageRunsAndMatchesPyTorch() throws {
        let blocks = try Self.shellBlocks(repoRoot + "/docs/INTEROP.md")
        #expect(blocks.count >= 3)
        let dir = try Self.snippetOutput()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for block in blocks {
            let r = try PyTorchRouteTests.shell(block, in: dir)
            #expect(r.status == 0, "docs/INTEROP.md block failed:\n\(block)\n\(r.stderr)")
            if r.status != 0 { return }
        }
        let references = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.run + "/references.json"))) as? [String: Any])

        // Segment losses and accuracies, both pairs, both splits: float64 PyTorch.
        let barrier = try Self.result(dir, prefix: "barrier-")
        let pairs = try #require(barrier["pairs"] as? [[String: Any]])
        let expected = try #require((references["barrier"] as? [String: Any])?["pairs"] as? [[String: Any]])
        #expect(pairs.count == expected.count)
        for (got, want) in zip(pairs, expected) {
            let segment = try #require(got["segment"] as? [[String: Any]])
            for split in ["train", "val"] {
                let mine = try #require(segment.first { $0["split"] as? String == split })
                let theirs = try #require(want[split] as? [String: Any])
                let (loss, reference) = (try #require(mine["loss"] as? [Double]), try #require(theirs["loss"] as? [Double]))
                #expect(loss.count == reference.count)
                let worst = zip(loss, reference).map { abs($0 - $1) / abs($1) }.max() ?? .infinity
                #expect(worst < 1e-5, "pair \(want["a"] ?? "")→\(want["b"] ?? ""), \(split): loss differs from PyTorch by \(worst) relative")
                let accuracy = try #require(mine["accuracy"] as? [Double]), referenceAccuracy = try #require(theirs["accuracy"] as? [Double])
                let ties = try #require(theirs["near_ties"] as? [Int])
                for i in accuracy.indices where ties[i] == 0 {
                    #expect(accuracy[i] == referenceAccuracy[i], "\(split) accuracy at point \(i)")
                }
            }
        }
        // Top-3 Hessian eigenvalues at epoch 4: float64 PyTorch + scipy's eigsh.
        let hessian = try Self.result(dir, prefix: "hessian-")
        let spectrum = try #require((hessian["spectra"] as? [[String: Any]])?.first)
        let eigenvalues = try #require((spectrum["eigenvalues"] as? [[String: Any]])?.compactMap { $0["eigenvalue"] as? Double })
        let referenceEigenvalues = try #require((references["hessian"] as? [String: Any])?["eigenvalues"] as? [Double])
        #expect(eigenvalues.count == 3)
        for (a, b) in zip(eigenvalues, referenceEigenvalues) { #expect(abs(a - b) <= 1e-4 * abs(b), "eigenvalue \(a) vs PyTorch \(b)") }

        // SGD's walk over the imported single steps, grouped by the epoch their names give.
        let walk = try Self.result(dir, prefix: "walk")
        let epochs = try #require(walk["epochs"] as? [[String: Any]])
        #expect(epochs.count == 1 && (epochs.first?["iterations"] as? [Int]) == [24, 25, 26, 27, 28], "\(epochs.map { $0["iterations"] ?? "" })")
        #expect(((epochs.first?["summary"] as? [String: Any])?["epoch"] as? Int) == 4)

        // Every analysis of the page is in the report.
        let report = try String(contentsOfFile: dir + "/run/report/index.html", encoding: .utf8)
        for analyzer in ["barrier", "connect", "plane", "walk", "hessian", "svcca", "transfer"] {
            #expect(report.contains("\(analyzer)-"), "\(analyzer) is missing from the report")
        }
    }
}
