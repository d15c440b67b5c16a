import Foundation
import Testing

/// Damaged and hostile archives through the command line (issue 12): `inspect`, `export`
/// and an analyzer refuse the same files with one line and exit 1. Archives are unpacked
/// and repacked with the system `tar` and `sha256sum`, as any user could.
@Suite struct ArchiveSafetyCLITests {
    /// An imported checkpoint unpacked into `dir/x/`; returns the entry names in order.
    func unpacked(_ dir: String) throws -> [String] {
        let ckpt = dir + "/c.ckpt"
        #expect(try analyze(["import", fixtures + "/interop/state_dict", "--out", ckpt]).status == 0)
        try FileManager.default.createDirectory(atPath: dir + "/x", withIntermediateDirectories: true)
        let list = try runProcess("/usr/bin/env", ["tar", "-tf", ckpt])
        #expect(try runProcess("/usr/bin/env", ["tar", "-xf", ckpt, "-C", dir + "/x"]).status == 0)
        return list.stdout.split(separator: "\n").map(String.init)
    }

    /// Packs `members` (each `-C folder name …` groups allowed) into a run's epoch-7 checkpoint.
    func pack(_ arguments: [String], run: String) throws -> String {
        try FileManager.default.createDirectory(atPath: run + "/checkpoints", withIntermediateDirectories: true)
        let path = run + "/checkpoints/epoch-0007.ckpt"
        let r = try runProcess("/usr/bin/env", ["tar", "--format=ustar", "-cf", path] + arguments)
        #expect(r.status == 0, "\(r.stderr)")
        return path
    }

    /// Rewrites `dir/manifest.json` through `edit` and, when `rehash`, its checksum entry.
    func editManifest(_ dir: String, rehash: Bool = true, _ edit: (inout [String: Any]) -> Void) throws {
        let data = try #require(FileManager.default.contents(atPath: dir + "/manifest.json"))
        var m = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&m)
        try JSONSerialization.data(withJSONObject: m, options: [.sortedKeys]).write(to: URL(fileURLWithPath: dir + "/manifest.json"))
        if rehash {
            #expect(try runProcess("/bin/sh", ["-c", "sha256sum manifest.json > manifest.json.sha256"], cwd: dir).status == 0)
        }
    }

    /// `inspect`, `export` and `norms` each fail with one line containing `expected`.
    func everyCommandRefuses(_ ckpt: String, run: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let out = run + "/../exported"
        for args in [["inspect", ckpt], ["export", ckpt, "--to", out + "/"], ["norms", run, "--epochs", "7"]] {
            let r = try analyze(args)
            #expect(r.status == 1, "\(args[0]): \(r.stderr)", sourceLocation: sourceLocation)
            // inspect lists what it found on stdout, then fails with one line.
            #expect(r.stderr.split(separator: "\n").count == 1 && (r.stderr + r.stdout).contains(expected),
                    "\(args[0]): \(r.stderr)", sourceLocation: sourceLocation)
        }
        #expect(!FileManager.default.fileExists(atPath: out), sourceLocation: sourceLocation)
    }

    @Test func duplicatedEntryWithCorruptFirstCopyIsRefusedEverywhere() throws {
        let dir = temporaryDirectory()
        let entries = try unpacked(dir)
        try FileManager.default.createDirectory(atPath: dir + "/bad", withIntermediateDirectories: true)
        var bytes = try #require(FileManager.default.contents(atPath: dir + "/x/fc1.weight.npy"))
        bytes[bytes.count - 1] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: dir + "/bad/fc1.weight.npy"))
        let ckpt = try pack(["-C", dir + "/x"] + entries.prefix(2) + ["-C", dir + "/bad", "fc1.weight.npy", "-C", dir + "/x"]
                            + entries.dropFirst(2), run: dir + "/run")
        let inspect = try analyze(["inspect", ckpt])
        #expect(inspect.status == 1 && !inspect.stdout.contains("checksums ok"))
        try everyCommandRefuses(ckpt, run: dir + "/run", "fc1.weight.npy")
    }

    @Test func unlistedEntryIsRefusedEverywhere() throws {
        let dir = temporaryDirectory()
        let entries = try unpacked(dir)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/x/stray.npy"))
        let ckpt = try pack(["-C", dir + "/x"] + entries + ["stray.npy"], run: dir + "/run")
        try everyCommandRefuses(ckpt, run: dir + "/run", "entry 'stray.npy' is not listed in the manifest")
    }

    @Test func editedManifestWithoutItsChecksumIsRefusedEverywhere() throws {
        let dir = temporaryDirectory()
        let entries = try unpacked(dir)
        try editManifest(dir + "/x", rehash: false) { $0["epoch"] = 8 }
        let ckpt = try pack(["-C", dir + "/x"] + entries, run: dir + "/run")
        try everyCommandRefuses(ckpt, run: dir + "/run", "checksum mismatch")
    }

    @Test func overflowingManifestShapeIsOneLineEverywhere() throws {
        let dir = temporaryDirectory()
        let entries = try unpacked(dir)
        try editManifest(dir + "/x") { m in
            var tensors = m["tensors"] as? [[String: Any]] ?? []
            tensors[0]["shape"] = [1 << 62, 4]
            m["tensors"] = tensors
        }
        let ckpt = try pack(["-C", dir + "/x"] + entries, run: dir + "/run")
        try everyCommandRefuses(ckpt, run: dir + "/run", "than any file or memory can hold")
    }

    @Test func traversalNameIsRefusedAndNothingIsWrittenOutside() throws {
        let dir = temporaryDirectory()
        let entries = try unpacked(dir)
        try editManifest(dir + "/x") { m in
            var tensors = m["tensors"] as? [[String: Any]] ?? []
            tensors[0]["name"] = "../../escaped"
            tensors[0]["entry"] = "../../escaped.npy"
            m["tensors"] = tensors
        }
        let ckpt = try pack(["-C", dir + "/x"] + entries, run: dir + "/run")
        try everyCommandRefuses(ckpt, run: dir + "/run", "tensor name \"../../escaped\" contains '/'")
        #expect(!FileManager.default.fileExists(atPath: dir + "/escaped.npy"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/run/escaped.npy"))
    }

    @Test func version1ArchiveIsReadAndSaysItHasNoManifestChecksum() throws {
        let dir = temporaryDirectory()
        let entries = try unpacked(dir)
        try editManifest(dir + "/x", rehash: false) { $0["formatVersion"] = 1 }
        let ckpt = try pack(["-C", dir + "/x"] + entries.filter { $0 != "manifest.json.sha256" }, run: dir + "/run")
        let r = try analyze(["inspect", ckpt])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("manifest checksum: none (format version 1 has no manifest checksum)"))
        #expect(try analyze(["norms", dir + "/run", "--epochs", "7"]).status == 0)
    }

    /// The reproduction from issue 12: a small file whose tar header claims 8 GiB. Under a
    /// 4 GiB address-space limit an allocation of the claimed size would crash.
    @Test func tarHeaderClaimingGigabytesFailsFastInLittleMemory() throws {
        let dir = temporaryDirectory()
        _ = try unpacked(dir)
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: dir + "/c.ckpt")))
        bytes.replaceSubrange(124..<136, with: Array("77777777777".utf8) + [0])   // manifest.json: 8 GiB - 1
        bytes.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        let sum = String(bytes[0..<512].reduce(0) { $0 + Int($1) }, radix: 8)
        bytes.replaceSubrange(148..<156, with: Array((String(repeating: "0", count: 6 - sum.count) + sum).utf8) + [0, 0x20])
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/huge.ckpt"))
        let binary = try #require(analyzeBinary)
        let r = try runProcess("/bin/sh", ["-c", "ulimit -v 4194304; exec '\(binary)' inspect '\(dir)/huge.ckpt'"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("truncated") && r.stderr.contains("manifest.json"), "\(r.stderr)")
    }

    /// `import --force` replaces an earlier Basin archive only: never a run's run.json, a text
    /// file or a folder that --out names by mistake.
    @Test func importForceReplacesOnlyAnEarlierArchive() throws {
        let dir = temporaryDirectory()
        _ = try unpacked(dir)
        #expect(try analyze(["export", dir + "/c.ckpt", "--to", dir + "/sd.npz"]).status == 0)
        try Data(#"{"name": "my run"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/run.json"))
        try FileManager.default.createDirectory(atPath: dir + "/folder.ckpt", withIntermediateDirectories: true)
        for target in ["run.json", "folder.ckpt"] {
            let before = FileManager.default.contents(atPath: dir + "/" + target)
            let r = try analyze(["import", dir + "/sd.npz", "--out", dir + "/" + target, "--force"])
            #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(target), "\(r.stderr)")
            #expect(FileManager.default.contents(atPath: dir + "/" + target) == before)
        }
        #expect(try analyze(["import", dir + "/sd.npz", "--out", dir + "/again.ckpt"]).status == 0)
        #expect(try analyze(["import", dir + "/sd.npz", "--out", dir + "/again.ckpt", "--force"]).status == 0)
    }

    @Test(arguments: ["c.npz", "c.safetensors"])
    func exportRefusesToOverwriteAFileWithoutForce(name: String) throws {
        let dir = temporaryDirectory()
        _ = try unpacked(dir)
        let target = dir + "/" + name
        try Data("precious".utf8).write(to: URL(fileURLWithPath: target))
        let r = try analyze(["export", dir + "/c.ckpt", "--to", target])
        #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("--force"), "\(r.stderr)")
        #expect(FileManager.default.contents(atPath: target) == Data("precious".utf8))
        #expect(try analyze(["export", dir + "/c.ckpt", "--to", target, "--force"]).status == 0)
        #expect(FileManager.default.contents(atPath: target) != Data("precious".utf8))
        #expect(try analyze(["inspect", target]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasPrefix(".") })
    }

    @Test func exportIntoAFolderReplacesOnlyItsOwnFilesAndOnlyWithForce() throws {
        let dir = temporaryDirectory()
        _ = try unpacked(dir)
        let out = dir + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        try Data("old".utf8).write(to: URL(fileURLWithPath: out + "/fc1.weight.npy"))
        let r = try analyze(["export", dir + "/c.ckpt", "--to", out + "/"])
        #expect(r.status == 1 && r.stderr.contains("--force"), "\(r.stderr)")
        #expect(FileManager.default.contents(atPath: out + "/fc1.weight.npy") == Data("old".utf8))
        #expect(try analyze(["export", dir + "/c.ckpt", "--to", out + "/", "--force"]).status == 0)
        #expect(FileManager.default.contents(atPath: out + "/notes.txt") == Data("mine".utf8))
        #expect(FileManager.default.contents(atPath: out + "/fc1.weight.npy")
                == FileManager.default.contents(atPath: fixtures + "/interop/state_dict/fc1.weight.npy"))
        // A file where a folder is meant is refused even with --force.
        let file = try analyze(["export", dir + "/c.ckpt", "--to", out + "/notes.txt/", "--force"])
        #expect(file.status == 1 && FileManager.default.contents(atPath: out + "/notes.txt") == Data("mine".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasPrefix(".") })
        // A run or its checkpoints/ is refused even with --force, as analyzers' --out is.
        let run = dir + "/run"
        for point in ["1", "2"] {
            #expect(try analyze(["import", fixtures + "/interop/state_dict", "--run", run, "--epoch", point]).status == 0)
        }
        for target in [run + "/checkpoints/", run + "/"] {
            let before = try FileManager.default.contentsOfDirectory(atPath: target).sorted()
            let refused = try analyze(["export", dir + "/c.ckpt", "--to", target, "--force"])
            #expect(refused.status == 1 && refused.stderr.contains("run"), "\(refused.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: target).sorted() == before)
        }
    }
}
