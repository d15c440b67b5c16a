import CDNNL

/// Elementwise work on the calling thread's OpenMP team — the threads oneDNN's GEMMs and
/// convolutions run on. Between two oneDNN calls those threads spin waiting for the next
/// parallel region, so work split over them starts at once, and no second thread pool (GCD's,
/// OpenBLAS's) competes with them for the cores.
public enum OpenMPTeam {
    /// Work over fewer elements than this stays on the calling thread: the team's fork and
    /// join would cost more than the second core saves.
    public static let minimumElements = 1 << 15

    /// The team size for work over `elements` elements: `threads` from `minimumElements` on, else 1.
    public static func threads(forElements elements: Int, _ threads: Int = BLAS.threadCount) -> Int {
        elements >= minimumElements ? threads : 1
    }

    /// Calls `body` once per thread with a contiguous part of 0..<count (boundaries on multiples
    /// of `alignment`: 16 floats is a cache line), on `threads` threads; one part on the calling
    /// thread when `threads` is 1 or `count` < 2·alignment. `body` must only touch its own part's
    /// elements, and should hand what it reads to a function as arguments: values it captures
    /// are reloaded from the closure's context on every use, which stops loops vectorising.
    public static func forEachPart(count: Int, threads: Int = BLAS.threadCount, alignment: Int = 16, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        withoutActuallyEscaping(body) { escaping in
            var function = escaping
            withUnsafeMutablePointer(to: &function) { pointer in
                basin_parallel_parts({ context, begin, end in
                    guard let context else { return }
                    context.assumingMemoryBound(to: ((Range<Int>) -> Void).self).pointee(Int(begin)..<Int(end))
                }, pointer, Int64(count), Int64(max(1, alignment)), Int32(clamping: threads))
            }
        }
    }
}
