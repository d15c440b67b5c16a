import Foundation
import Tensors

/// Results of a parallel map, filled by worker threads under a lock.
private final class ParallelResults<T>: @unchecked Sendable {
    var results: [T?]
    var error: Error?
    let lock = NSLock()
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
}

/// `(0..<count).map(body)` on up to `threads` threads, results in order; the first error
/// wins and stops the remaining work. BLAS runs single-threaded meanwhile so the workers
/// do not oversubscribe the cores, and gets its thread count back afterwards.
public func parallelMap<T>(_ count: Int, threads: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
    let box = ParallelResults<T>(count)
    let workers = max(1, min(threads, count))
    let saved = BLAS.threadCount
    if workers > 1 { BLAS.setThreadCount(1) }
    defer { if workers > 1 { BLAS.setThreadCount(saved) } }
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        var i = w
        while i < count {
            box.lock.lock(); let failed = box.error != nil; box.lock.unlock()
            if failed { return }
            do {
                let r = try body(i)
                box.lock.lock(); box.results[i] = r; box.lock.unlock()
            } catch {
                box.lock.lock(); if box.error == nil { box.error = error }; box.lock.unlock()
                return
            }
            i += workers
        }
    }
    if let e = box.error { throw e }
    return box.results.compactMap { $0 }
}
