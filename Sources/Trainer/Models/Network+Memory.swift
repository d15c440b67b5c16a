#if canImport(Glibc)
import Glibc
#endif

/// glibc's allocator tuned once for the trainer's allocation pattern (issue 14).
///
/// A forward/backward pass allocates activations, tangents and flat parameter-sized vectors of
/// 0.1–10 MB and frees them at its end; the next batch allocates them again. With glibc's
/// defaults the freed top of the heap is handed back to the kernel (`brk` trims above 128 KB,
/// `mmap`ped chunks are unmapped) and the next pass page-faults and zero-fills it all again:
/// `perf` put page faults, zeroing and unmapping at ≈ 20% of an MLP's Hessian-vector product
/// and landscape evaluation. Keeping up to 64 MB of freed top-of-heap per arena, and serving
/// chunks below 16 MB from the heap, removes that churn; larger arrays (SVCCA's activations)
/// are still `mmap`ped and returned at once. Only where memory lives changes, never a value.
/// A user's own `GLIBC_TUNABLES=glibc.malloc.…` or `MALLOC_TRIM_THRESHOLD_` wins.
enum AllocatorTuning {
    static let applied: Bool = {
        #if canImport(Glibc)
        let environment = processEnvironment()
        if environment.contains(where: { $0.hasPrefix("MALLOC_") || ($0.hasPrefix("GLIBC_TUNABLES=") && $0.contains("malloc")) }) {
            return false
        }
        // mallopt is declared in <malloc.h>, which the Glibc module does not import: look it up.
        // RTLD_DEFAULT is the null handle. M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3.
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        return mallopt(-1, 64 << 20) == 1 && mallopt(-3, 16 << 20) == 1
        #else
        return false
        #endif
    }()
}

/// The process environment as `NAME=value` strings (without Foundation).
private func processEnvironment() -> [String] {
    #if canImport(Glibc)
    var out: [String] = []
    var p = environ
    while let entry = p.pointee {
        out.append(String(cString: entry))
        p += 1
    }
    return out
    #else
    return []
    #endif
}
