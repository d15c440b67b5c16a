import Foundation
import Testing

@Suite struct NormsCommandTests {
    /// Two checkpoints with hand-checkable numbers: w = (3, 4) then (0, 0); b = (1) then (1).
    func makeRun() throws -> String {
        let dir = temporaryDirectory()
        for (epoch, w, b) in [(1, "[3.0, 4.0]", "[1.0]"), (2, "[0.0, 0.0]", "[1.0]")] {
            let src = dir + "/src\(epoch)"
            try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
            try npy(w, shape: "(2,)").write(to: URL(fileURLWithPath: src + "/fc.weight.npy"))
            try npy(b, shape: "(1,)").write(to: URL(fileURLWithPath: src + "/fc.bias.npy"))
            let r = try analyze(["import", src, "--run", dir + "/run", "--epoch", String(epoch)])
            #expect(r.status == 0, "\(r.stderr)")
        }
        return dir + "/run"
    }

    /// A float64 .npy file written by hand (header per the NumPy format spec).
    func npy(_ values: String, shape: String) -> Data {
        let numbers = values.dropFirst().dropLast().split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        d.append(Data(header.utf8))
        for x in numbers { withUnsafeBytes(of: x.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }

    @Test func normsAndDistanceMatchHandValues() throws {
        let run = try makeRun()
        let r = try analyze(["norms", run, "--epochs", "1,2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(envelope["analyzer"] as? String == "norms")
        #expect(envelope["schemaVersion"] as? Int == 1)
        let result = try #require(envelope["result"] as? [String: Any])
        let rows = try #require(result["tensors"] as? [[String: Any]])
        let weight = try #require(rows.first { $0["name"] as? String == "fc.weight" })
        #expect(weight["norms"] as? [Double] == [5, 0])
        #expect(weight["distance"] as? Double == 5)
        #expect(weight["relativeDistance"] as? Double == 1)
        let totals = try #require(result["totals"] as? [[String: Any]])
        // All parameters: √(3² + 4² + 1²) = √26 at epoch 1, 1 at epoch 2; distance 5.
        let all = try #require(totals.first)
        let norms = try #require(all["norms"] as? [Double])
        #expect(abs(norms[0] - 26.0.squareRoot()) < 1e-12 && norms[1] == 1)
        #expect(all["distance"] as? Double == 5)
        let csv = try String(contentsOfFile: run + "/analyses/norms-1-2/norms.csv", encoding: .utf8)
        #expect(csv.hasPrefix("tensor,role,elements,norm_a,norm_b,distance,relative_distance\n"))
        #expect(csv.contains("fc.weight,parameter,2,5.0,0.0,5.0,1.0"))
    }

    @Test func failedRunKeepsEarlierResults() throws {
        let run = try makeRun()
        #expect(try analyze(["norms", run, "--epochs", "1,2"]).status == 0)
        let result = run + "/analyses/norms-1-2/result.json"
        let before = try #require(FileManager.default.contents(atPath: result))
        // Corrupt epoch 2, rerun into the same folder: it must fail and leave the old result.
        let ckpt = run + "/checkpoints/epoch-0002.ckpt"
        let bytes = try #require(FileManager.default.contents(atPath: ckpt))
        FileManager.default.createFile(atPath: ckpt, contents: bytes.prefix(bytes.count / 2))
        let r = try analyze(["norms", run, "--epochs", "1,2"])
        #expect(r.status != 0)
        #expect(FileManager.default.contents(atPath: result) == before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: run + "/analyses")
        #expect(leftovers == ["norms-1-2"])
    }

    @Test func mismatchedModelsAreRefused() throws {
        let run = try makeRun()
        let other = temporaryDirectory()
        let r0 = try analyze(["import", fixtures + "/interop/state_dict", "--out", other + "/other.ckpt"])
        #expect(r0.status == 0)
        let r = try analyze(["norms", "--a", run + "/checkpoints/epoch-0001.ckpt", "--b", other + "/other.ckpt", "--out", other + "/n"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("do not match") && r.stderr.contains("is in one checkpoint only"))
    }
}
