import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's choice of kernels, and a correction for CPUs it does not know (issue 14).
///
/// Debian's OpenBLAS 0.3.21 picks its kernels at load time from the CPU model. It does not know
/// recent AMD EPYC processors with AVX-512 (Zen 4 and later) and gives them its AVX2 "Haswell"
/// kernels: on the benchmark machine `sgemm` at the MLP's shapes (500 × 784 × 512) ran at
/// ≈ 25–33 GFLOP/s per core with them and ≈ 45–65 GFLOP/s with the "SkylakeX" AVX-512 kernels
/// the CPU supports. OpenBLAS reads `OPENBLAS_CORETYPE` only while loading, before any Swift code
/// runs, so the executables (`analyze`, `basin-bench`) call `preferAVX512Kernels()` first: it
/// re-executes the process once with `OPENBLAS_CORETYPE=SkylakeX` when OpenBLAS chose Haswell
/// or Zen kernels but the CPU and the kernel support AVX-512 F/CD/BW/DQ/VL. A run's results are
/// deterministic either way; they differ in the last bits between the two kernel families
/// (different blocking and summation order). `OPENBLAS_CORETYPE` set by the user, or
/// `BASIN_BLAS_CORE=keep`, leaves the choice alone.
public enum BLASCore {
    /// OpenBLAS's kernel family ("Haswell", "SkylakeX", …), nil when it cannot be asked.
    public static var name: String? {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, "openblas_get_corename") else { return nil }
        let call = unsafeBitCast(symbol, to: (@convention(c) () -> UnsafePointer<CChar>?).self)
        return call().map { String(cString: $0) }
        #else
        return nil
        #endif
    }

    /// Whether /proc/cpuinfo lists the AVX-512 subsets OpenBLAS's SkylakeX kernels use (Linux
    /// lists them only when the kernel saves the AVX-512 state).
    static var cpuHasAVX512: Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(set.contains)
    }

    /// Re-executes this process with OpenBLAS's AVX-512 kernels when it misdetected the CPU (see
    /// the type's documentation); returns normally when nothing is to be done or the re-exec fails.
    /// Call it first thing in `main`, before any output.
    public static func preferAVX512Kernels() {
        #if os(Linux)
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["BASIN_BLAS_CORE"] != "keep",
              let core = name, ["Haswell", "Zen"].contains(core), cpuHasAVX512 else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")   // only reached when execv failed: carry on as we are
        #endif
    }
}
