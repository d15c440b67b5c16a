import Foundation
import Testing

/// NumPy reads what Basin writes: a checkpoint untarred with the system `tar` loads with
/// `numpy.load` bit for bit, and each entry's SHA-256 equals the manifest's.
/// Without NumPy the suite is reported as skipped, unless BASIN_STRICT_TESTS=1: then it runs
/// and each test fails.
@Suite(.enabled(if: python != nil || numpyRequired, "python3 with NumPy is not installed"))
struct NumPyInteropTests {
    @Test func numpyLoadsUntarredCheckpointBitExactly() throws {
        let interpreter = try #require(python, "python3 with NumPy is required (BASIN_STRICT_TESTS=1) but missing")
        let dir = temporaryDirectory()
        let imp = try analyze(["import", fixtures + "/interop/state_dict", "--out", dir + "/c.ckpt"])
        #expect(imp.status == 0)
        let tar = try runProcess("/usr/bin/env", ["tar", "-xf", dir + "/c.ckpt", "-C", dir])
        #expect(tar.status == 0, "\(tar.stderr)")
        let script = """
            import hashlib, json, sys, numpy as np
            d, fixtures = sys.argv[1], sys.argv[2]
            m = json.load(open(d + "/manifest.json"))
            assert m["format"] == "basin-checkpoint" and m["formatVersion"] == 2
            # Format version 2: manifest.json.sha256 is what sha256sum prints for manifest.json.
            line = open(d + "/manifest.json.sha256").read()
            assert line == hashlib.sha256(open(d + "/manifest.json", "rb").read()).hexdigest() + "  manifest.json\\n", line
            for t in m["tensors"]:
                raw = open(d + "/" + t["entry"], "rb").read()
                assert hashlib.sha256(raw).hexdigest() == t["sha256"], t["name"]
                a = np.load(d + "/" + t["entry"])
                ref = np.load(fixtures + "/" + t["name"] + ".npy")
                assert a.dtype == ref.dtype and a.shape == ref.shape and a.tobytes() == ref.tobytes(), t["name"]
                assert list(a.shape) == t["shape"] and a.dtype.name == t["dtype"], t["name"]
            print("ok", len(m["tensors"]))
            """
        let r = try runProcess(interpreter, ["python3", "-c", script, dir, fixtures + "/interop/state_dict"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("ok 6"))
    }

    @Test func numpyReadsExportedNpzAndSafetensorsHeader() throws {
        let interpreter = try #require(python, "python3 with NumPy is required (BASIN_STRICT_TESTS=1) but missing")
        let dir = temporaryDirectory()
        _ = try analyze(["import", fixtures + "/interop/state_dict", "--out", dir + "/c.ckpt", "--compression", "gzip"])
        #expect(try analyze(["export", dir + "/c.ckpt", "--to", dir + "/c.npz"]).status == 0)
        let script = """
            import sys, numpy as np
            z = np.load(sys.argv[1])
            for k in z.files:
                ref = np.load(sys.argv[2] + "/" + k + ".npy")
                assert z[k].tobytes() == ref.tobytes() and z[k].dtype == ref.dtype and z[k].shape == ref.shape, k
            print("ok", len(z.files))
            """
        let r = try runProcess(interpreter, ["python3", "-c", script, dir + "/c.npz", fixtures + "/interop/state_dict"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("ok 6"))
    }
}
