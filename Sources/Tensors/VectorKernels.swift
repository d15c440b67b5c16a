import CVector

/// Elementwise loops of the Trainer that Swift, built for the baseline x86-64, cannot run on the
/// CPU's wide vector units: compiled in C (`Sources/CVector`) for AVX-512 and for AVX2 + FMA
/// beside the baseline, the path picked once from the CPU. Every path rounds each operation as
/// the Swift loop did, so results are the same bits on any path (tests compare them).
public enum VectorKernels {
    /// Which update `sgdUpdate` applies (PyTorch's `optim.SGD`, d = g + wd·θ).
    public enum SGDUpdate: Int32, Sendable {
        /// θ −= lr·d
        case plain = 0
        /// b = d, θ −= lr·d (the first step with momentum)
        case firstMomentum = 1
        /// b = d, θ −= lr·(d + μ·d)
        case firstNesterov = 2
        /// b = μ·b + (1 − dampening)·d, θ −= lr·b
        case momentum = 3
        /// b = μ·b + (1 − dampening)·d, θ −= lr·(d + μ·b)
        case nesterov = 4
    }

    /// One SGD update of `count` parameters at `p` from the gradient `g`, the momentum buffer
    /// at `b` (unused, may be nil, for `.plain`).
    public static func sgdUpdate(_ update: SGDUpdate, count: Int, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
                                 b: UnsafeMutablePointer<Float>?, lr: Float, mu: Float, wd: Float, damp: Float) {
        guard count > 0, update == .plain || b != nil else { return }
        basin_sgd_update_f32(update.rawValue, Int64(count), p, g, b, lr, mu, wd, damp)
    }

    /// The path the kernels take on this CPU: 2 AVX-512, 1 AVX2 + FMA, 0 the baseline.
    public static var level: Int { Int(basin_vector_level()) }
}
