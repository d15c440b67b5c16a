import Foundation

/// Work spread over the cores for checkpoint I/O: hashing and copying entries is
/// independent per entry, and SHA-256 of a large tensor is the slowest part of both
/// writing and verifying.
enum ParallelIO {
    /// Workers for entry-level parallelism: both cores of a small machine, at most 4
    /// (the page cache and memory bandwidth saturate beyond that).
    static var workers: Int { max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4)) }

    /// `(0..<count).map(body)` on up to `workers` threads, each result (or error) in its
    /// slot; items are handed out in order, so the earliest items finish first.
    static func map<T>(_ count: Int, _ body: (Int) -> Result<T, CheckpointError>) -> [Result<T, CheckpointError>] {
        let box = Box<T>(count)
        let threads = min(workers, count)
        if threads <= 1 { return (0..<count).map(body) }
        withoutActuallyEscaping(body) { body in
            let shared = UnsafeSendable(body)
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                while let i = box.take() { box.put(i, shared.value(i)) }
            }
        }
        return box.results.map { $0 ?? .failure(.writeFailed(path: "", detail: "internal: a parallel item was not run")) }
    }

    private final class Box<T>: @unchecked Sendable {
        var results: [Result<T, CheckpointError>?]
        private var next = 0
        private let lock = NSLock()
        init(_ n: Int) { results = Array(repeating: nil, count: n) }
        func take() -> Int? {
            lock.lock(); defer { lock.unlock() }
            guard next < results.count else { return nil }
            next += 1
            return next - 1
        }
        func put(_ i: Int, _ r: Result<T, CheckpointError>) { lock.lock(); results[i] = r; lock.unlock() }
    }

    /// A value used from the worker threads: the closures passed here only read shared
    /// state or write disjoint parts of a file, which the callers guarantee.
    private struct UnsafeSendable<V>: @unchecked Sendable {
        let value: V
        init(_ v: V) { value = v }
    }
}
