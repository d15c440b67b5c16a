@testable import Cluster
import Foundation
import Testing

/// Whether python3 can import Ray. Ray is not a `make test` requirement, so without it the
/// example's test is skipped (with one line), even under BASIN_STRICT_TESTS=1.
let rayAvailable: Bool = {
    let found = (try? Processes.run("/usr/bin/env", ["python3", "-c", "import ray"]))?.status == 0
    if !found { print("RayExampleTests: python3 cannot import ray, so examples/ray is not tested here") }
    return found
}()

/// examples/ray/shard_with_ray.py on a local Ray, with the contract's stand-in analyze: every
/// shard runs once as a Ray task, a failed one is named (exit 1), rerunning the command reruns
/// only it, and the merge runs once all are there.
@Suite(.enabled(if: rayAvailable, "python3 cannot import ray"))
struct RayExampleTests {
    @Test func shardsRunAsRayTasksThenMerge() throws {
        let dir = temporaryFolder("ray")
        try write(ClusterLocalTests.fake, to: dir + "/fake analyze", executable: true)
        let out = dir + "/out"
        let command = ["python3", repoRoot + "/examples/ray/shard_with_ray.py", "--shards", "3", "--analyze", dir + "/fake analyze",
                       "--", out, "--out", out]
        let first = try Processes.run("/usr/bin/env", command, workingDirectory: dir)
        #expect(first.status == 1 && first.stderr.contains("shard 2 of 3 failed (exit 1): Error: shard two broke"), "\(first.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/result.json"))
        let logOne = try FileManager.default.attributesOfItem(atPath: out + "/shards/shard-1-of-3.log")[.modificationDate] as? Date
        try write("", to: out + "/fixed")
        let second = try Processes.run("/usr/bin/env", command, workingDirectory: dir)
        #expect(second.status == 0 && second.stdout.contains("merged 3 shards"), "\(second.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/result.json"))
        #expect(try FileManager.default.attributesOfItem(atPath: out + "/shards/shard-1-of-3.log")[.modificationDate] as? Date == logOne,
                "shard 1 was done and must not run again")
    }
}
