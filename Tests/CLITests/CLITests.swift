import Foundation
import Testing

@Suite struct CommandLineTests {
    @Test(arguments: [[], ["list"], ["inspect"], ["import"], ["export"], ["norms"]])
    func everyCommandHasHelpWithExamples(command: [String]) throws {
        let r = try analyze(command + ["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Examples:"), "help of \(command) has no examples")
    }

    @Test func listShowsRegisteredAnalyzers() throws {
        let r = try analyze(["list", "--json"])
        #expect(r.status == 0)
        let entries = try JSONDecoder().decode([[String: String]].self, from: Data(r.stdout.utf8))
        #expect(entries.contains { $0["name"] == "norms" && $0["source"] == "built-in" })
    }

    @Test func importInspectExportRoundTrip() throws {
        let dir = temporaryDirectory()
        let imp = try analyze(["import", fixtures + "/interop/state_dict", "--run", dir + "/run", "--epoch", "7"])
        #expect(imp.status == 0, "\(imp.stderr)")
        let ckpt = dir + "/run/checkpoints/epoch-0007.ckpt"
        let inspect = try analyze(["inspect", ckpt, "--json"])
        #expect(inspect.status == 0)
        let report = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
        let tensors = report?["tensors"] as? [[String: Any]] ?? []
        #expect(tensors.count == 6)
        #expect(tensors.allSatisfy { $0["checksum"] as? String == "ok" })
        // Importing again without --force must not replace the file.
        let again = try analyze(["import", fixtures + "/interop/stored.npz", "--out", ckpt])
        #expect(again.status != 0 && again.stderr.contains("--force"))
        let export = try analyze(["export", ckpt, "--to", dir + "/out/"])
        #expect(export.status == 0)
        for name in ["fc1.weight", "bn1.num_batches_tracked", "fc2.weight"] {
            let original = FileManager.default.contents(atPath: fixtures + "/interop/state_dict/\(name).npy")
            let exported = FileManager.default.contents(atPath: dir + "/out/\(name).npy")
            #expect(original != nil && original == exported, "\(name).npy differs from NumPy's file")
        }
    }

    @Test func truncatedArchivePrintsOneLineAndFails() throws {
        let dir = temporaryDirectory()
        _ = try analyze(["import", fixtures + "/interop/state_dict", "--out", dir + "/a.ckpt"])
        let bytes = try #require(FileManager.default.contents(atPath: dir + "/a.ckpt"))
        for cut in [100, 700, bytes.count / 2, bytes.count - 10] {
            FileManager.default.createFile(atPath: dir + "/cut.ckpt", contents: bytes.prefix(cut))
            let r = try analyze(["inspect", dir + "/cut.ckpt"])
            #expect(r.status != 0, "cut at \(cut)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1, "cut at \(cut): \(r.stderr)")
            #expect(r.stderr.contains(dir + "/cut.ckpt") && r.stderr.contains("truncated"), "cut at \(cut): \(r.stderr)")
        }
    }

    @Test func checksumMismatchIsDetected() throws {
        let dir = temporaryDirectory()
        _ = try analyze(["import", fixtures + "/interop/state_dict", "--out", dir + "/a.ckpt"])
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: dir + "/a.ckpt")))
        let marker = Array("fc1.weight.npy".utf8)
        let at = try #require((0..<(bytes.count - marker.count)).last { Array(bytes[$0..<($0 + marker.count)]) == marker })
        bytes[at + 512 + 128 + 3] ^= 0x01   // one bit of fc1.weight's data
        FileManager.default.createFile(atPath: dir + "/a.ckpt", contents: Data(bytes))
        let r = try analyze(["inspect", dir + "/a.ckpt"])
        #expect(r.status != 0)
        #expect(r.stdout.contains("checksum mismatch") && r.stdout.contains("fc1.weight.npy"))
    }

    @Test func missingEpochListsWhatExists() throws {
        let dir = temporaryDirectory()
        _ = try analyze(["import", fixtures + "/interop/state_dict", "--run", dir, "--epoch", "10"])
        let r = try analyze(["norms", dir, "--epochs", "10,150"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("no checkpoint for epoch 150") && r.stderr.contains("available: epoch 10"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/analyses/norms-10-150"))
    }

    @Test func badFlagsAreRejectedBeforeWork() throws {
        let r = try analyze(["import", fixtures + "/interop/state_dict", "--kind", "weights", "--out", "/tmp/x.ckpt"])
        #expect(r.status == 64 && r.stderr.contains("'checkpoint' and 'activations'"), "\(r.stderr)")
        let n = try analyze(["norms", "--epochs", "1,2,3", "."])
        #expect(n.status == 64 && n.stderr.contains("one or two"))
    }
}
