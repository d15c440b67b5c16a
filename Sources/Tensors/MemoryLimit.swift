import Foundation

/// How much memory this process may use: the machine's memory, or less under a cgroup limit
/// (`memory.max`, containers and Slurm jobs) or an address-space limit (`ulimit -v`). Sizes read
/// from files are checked against it before a computation that would allocate beyond it starts.
public enum MemoryLimit {
    /// The smallest of the machine's memory, the cgroup's `memory.max` and `RLIMIT_AS`, in bytes.
    public static let bytes: UInt64 = {
        var limit = ProcessInfo.processInfo.physicalMemory
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let cgroup = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            limit = min(limit, cgroup)
        }
        var address = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &address) == 0, address.rlim_cur != rlim_t.max {
            limit = min(limit, UInt64(address.rlim_cur))
        }
        return max(limit, 1)
    }()

    /// `bytes` as text, e.g. "24.0 GB".
    public static var description: String { String(format: "%.1f GB", Double(bytes) / 1e9) }
}
