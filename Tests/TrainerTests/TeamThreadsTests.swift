import Testing
import Tensors
@testable import Trainer

/// BatchNorm (per channel) and ReLU (per element) split their work over the OpenMP team from
/// `OpenMPTeam.minimumElements` on; every channel's sums keep their order, so one thread and two give the same
/// bits — values, tangents, ∂x, R{∂x}, ∂θ and H·v — with batch and with running statistics.
/// (`BLAS.withCallingThreadCount` runs the two-thread path under make test's one-thread cap.)
struct TeamThreadsTests {
    struct Outcome: Equatable {
        var y: [Float], ry: [Float], dx: [Float], rdx: [Float], gradient: [Float], hvp: [Float], buffers: [Float]
    }

    static func run(threads: Int, mode: ForwardMode, pool window: (kernel: Int, stride: Int)) -> Outcome {
        BLAS.withCallingThreadCount(threads) {
            let (b, c, hw) = (16, 24, 200)   // 76 800 elements
            var rng = RandomGenerator(seed: 9)
            func buffer(_ n: Int, scale: Float = 1) -> Buffer<Float> {
                let t = Buffer<Float>(count: n)
                for i in 0..<n { t.pointer[i] = scale * Float(rng.nextDouble() * 2 - 1) }
                return t
            }
            let bn = BatchNorm<Float>(channels: c), relu = ReLU<Float>()
            let theta = buffer(2 * c), v = buffer(2 * c), stats = Buffer<Float>(count: 2 * c + 1)
            for i in 0..<c { theta.pointer[i] += 1.5; stats.pointer[c + i] = 1 + Float(i) / 10 }
            let gradient = Buffer<Float>(count: 2 * c), hvp = Buffer<Float>(count: 2 * c)
            let pass = Pass(parameters: UnsafePointer(theta.pointer), direction: UnsafePointer(v.pointer), gradient: gradient.pointer,
                            hvp: hvp.pointer, buffers: stats.pointer, mode: mode)
            let shape = [b, c, 10, 20]
            let x = Dual(shape: shape, value: buffer(b * c * hw, scale: 3), tangent: buffer(b * c * hw))
            let pool = MaxPool2d<Float>(kernelSize: window.kernel, stride: window.stride)
            let y = pool.forward(relu.forward(bn.forward(x, pass), pass), pass)
            let dy = Dual(shape: y.shape, value: buffer(y.value.count), tangent: buffer(y.value.count))
            let dx = bn.backward(relu.backward(pool.backward(dy, pass), pass), pass)
            func array(_ p: Buffer<Float>?) -> [Float] { p.map { Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)) } ?? [] }
            return Outcome(y: array(y.value), ry: array(y.tangent), dx: array(dx.value), rdx: array(dx.tangent),
                           gradient: array(gradient), hvp: array(hvp), buffers: array(stats))
        }
    }

    /// BatchNorm, ReLU and max pooling (2×2 stride 2, and overlapping 3×3 stride 2 windows).
    @Test(arguments: [ForwardMode.train, .batchStatistics, .eval], [(2, 2), (3, 2)])
    func oneAndTwoThreadsGiveTheSameBits(mode: ForwardMode, pool: (Int, Int)) {
        let one = Self.run(threads: 1, mode: mode, pool: pool), two = Self.run(threads: 2, mode: mode, pool: pool)
        let (ho, wo) = ((10 - pool.0) / pool.1 + 1, (20 - pool.0) / pool.1 + 1)
        #expect(one.y.count == 16 * 24 * ho * wo && one.dx.count == 16 * 24 * 200 && one.hvp.count == 48)
        #expect(one.gradient.contains { $0 != 0 } && one.hvp.contains { $0 != 0 } && one.rdx.contains { $0 != 0 })
        #expect(one == two)
    }
}
