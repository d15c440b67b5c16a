import Foundation
import Synchronization
import Testing
import Tensors
@testable import ONNX

/// The ONNX `Conv` on oneDNN (`Kernels/ConvOneDNN.swift`) against the im2col route, which the
/// onnxruntime and PyTorch fixtures pinned before oneDNN took over: every geometry ONNX allows
/// for 2-D convolutions (rectangular kernels, per-axis strides and dilations, asymmetric and
/// SAME padding, groups up to depthwise, pointwise), forward, input gradient and weight gradient.
/// Both are float32 sums of the same products in different orders, so they agree to a few ulps
/// of Σ|w·x| per output; the bound is 1e-5 of it.
struct ONNXConvRouteTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let x: [Int], w: [Int], group: Int, attributes: Kernel.WindowAttributes, bias: Bool
        var testDescription: String { "x \(x), w \(w), group \(group), \(attributes), bias \(bias)" }
    }

    static func attributes(strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil, autoPad: String = "NOTSET") -> Kernel.WindowAttributes {
        Kernel.WindowAttributes(kernelShape: nil, strides: strides, pads: pads, dilations: dilations, autoPad: autoPad)
    }

    static let cases: [Case] = [
        Case(x: [2, 3, 9, 9], w: [8, 3, 3, 3], group: 1, attributes: attributes(pads: [1, 1, 1, 1]), bias: true),
        Case(x: [3, 4, 10, 7], w: [6, 4, 3, 2], group: 1, attributes: attributes(strides: [2, 1], pads: [0, 1, 2, 0]), bias: false),
        Case(x: [2, 4, 11, 12], w: [4, 2, 3, 3], group: 2, attributes: attributes(pads: [2, 1, 0, 3], dilations: [2, 3]), bias: true),
        Case(x: [2, 6, 8, 8], w: [6, 1, 3, 3], group: 6, attributes: attributes(strides: [2, 2], autoPad: "SAME_UPPER"), bias: true),
        Case(x: [1, 8, 7, 5], w: [12, 2, 1, 3], group: 4, attributes: attributes(autoPad: "SAME_LOWER"), bias: false),
        Case(x: [4, 5, 6, 6], w: [7, 5, 1, 1], group: 1, attributes: attributes(), bias: true),
        Case(x: [2, 16, 16, 16], w: [32, 16, 1, 1], group: 1, attributes: attributes(strides: [2, 2]), bias: false),
        Case(x: [1, 3, 5, 5], w: [2, 3, 5, 5], group: 1, attributes: attributes(autoPad: "VALID"), bias: true),
    ]

    static func random(_ shape: [Int], _ rng: inout SplitMix) throws -> Tensor<Float> {
        try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float(rng.gaussian()) })
    }

    /// max |a − b| ≤ 1e-5 · max(Σ|terms|) where `scale` bounds each output's Σ|w·x|.
    static func expectClose(_ a: [Float], _ b: [Float], scale: Float, _ what: String) {
        #expect(a.count == b.count, "\(what): \(a.count) against \(b.count) elements")
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5 * scale, "\(what): max |oneDNN − im2col| \(worst), scale \(scale)")
    }

    @Test(arguments: cases)
    func oneDNNMatchesIm2col(_ c: Case) throws {
        var rng = SplitMix(seed: UInt64(c.x.reduce(0, +) * 31 + c.w.reduce(0, +)))
        let x = try Self.random(c.x, &rng), w = try Self.random(c.w, &rng)
        let bias = c.bias ? try Self.random([c.w[0]], &rng) : nil
        let l = try Kernel.ConvLayout(x.shape, w.shape, c.attributes, group: c.group)
        let dy = try Self.random(l.outputShape, &rng).scalars
        // Σ|w·x| per output is at most (patch size)·max|w|·max|x|; the gaussians stay below 6.
        let scale = Float(l.patch) * 36 + 6

        let fast = try #require(Kernel.convOneDNN(x, w, bias, l), "oneDNN did not run \(c.testDescription) (BASIN_CONV=im2col set, or no primitive)")
        let slow = try Kernel.convIm2col(x, w, bias, l)
        #expect(fast.shape == slow.shape)
        Self.expectClose(fast.scalars, slow.scalars, scale: scale, "forward")

        let g = try #require(Kernel.convBackwardOneDNN(x, w, dy, l, wantInput: true, wantWeight: true))
        let h = Kernel.convBackwardIm2col(x, w, dy, l, wantInput: true, wantWeight: true)
        Self.expectClose(try #require(g.input), try #require(h.input), scale: Float(l.groupOutChannels * l.window.kernel[0] * l.window.kernel[1]) * 36, "input gradient")
        Self.expectClose(try #require(g.weight), try #require(h.weight), scale: Float(l.batch * l.pixels) * 36, "weight gradient")

        // Only what is asked for is computed.
        let onlyWeight = try #require(Kernel.convBackwardOneDNN(x, w, dy, l, wantInput: false, wantWeight: true))
        #expect(onlyWeight.input == nil && onlyWeight.weight == g.weight)
        let onlyInput = try #require(Kernel.convBackwardOneDNN(x, w, dy, l, wantInput: true, wantWeight: false))
        #expect(onlyInput.weight == nil && onlyInput.input == g.input)
    }

    /// The bias gradient Σ_{n,pixels} ∂y[n, o, …]: the float64 sum to float rounding, the same bits
    /// on one thread and two (channels split over the team), and not computed when not asked for.
    @Test func biasGradientIsTheSumOverBatchAndPixels() throws {
        var rng = SplitMix(seed: 12)
        let x = try Self.random([6, 8, 14, 14], &rng), w = try Self.random([24, 8, 3, 3], &rng)
        let attributes = Self.attributes(pads: [1, 1, 1, 1])
        let l = try Kernel.ConvLayout(x.shape, w.shape, attributes, group: 1)
        let dy = try Self.random(l.outputShape, &rng).scalars
        let one = try BLAS.withCallingThreadCount(1) { try Kernel.convBackward(x, w, dy, attributes, group: 1, wantInput: false) }
        let two = try BLAS.withCallingThreadCount(2) { try Kernel.convBackward(x, w, dy, attributes, group: 1, wantInput: false) }
        #expect(one.bias.count == 24 && one.bias == two.bias)
        for o in 0..<24 {
            var exact = 0.0
            for n in 0..<6 { for p in 0..<l.pixels { exact += Double(dy[(n * 24 + o) * l.pixels + p]) } }
            #expect(abs(Double(one.bias[o]) - exact) <= 1e-6 * max(1, abs(exact)), "channel \(o): \(one.bias[o]) against \(exact)")
        }
        let none = try Kernel.convBackward(x, w, dy, attributes, group: 1, wantInput: false, wantBias: false)
        #expect(none.bias.isEmpty && none.weight == one.weight)
    }

    /// Handles are shared across threads (one per caller at a time) and every call brings its own
    /// scratchpad: concurrent convolutions of one geometry give the bits a lone call gives.
    @Test func concurrentCallsGiveTheSameBits() throws {
        var rng = SplitMix(seed: 11)
        let x = try Self.random([8, 16, 12, 12], &rng), w = try Self.random([16, 16, 3, 3], &rng)
        let l = try Kernel.ConvLayout(x.shape, w.shape, Self.attributes(pads: [1, 1, 1, 1]), group: 1)
        let dy = try Self.random(l.outputShape, &rng).scalars
        let alone = try #require(Kernel.convOneDNN(x, w, nil, l)).scalars
        let aloneGradient = try #require(Kernel.convBackwardOneDNN(x, w, dy, l, wantInput: true, wantWeight: true))
        let results = Mutex([(forward: [Float], input: [Float]?, weight: [Float]?)?](repeating: nil, count: 8))
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let y = Kernel.convOneDNN(x, w, nil, l)?.scalars
            let g = Kernel.convBackwardOneDNN(x, w, dy, l, wantInput: true, wantWeight: true)
            results.withLock { $0[i] = y.flatMap { y in g.map { (y, $0.input, $0.weight) } } }
        }
        for (i, r) in results.withLock({ $0 }).enumerated() {
            let r = try #require(r, "call \(i) did not run on oneDNN")
            #expect(r.forward == alone && r.input == aloneGradient.input && r.weight == aloneGradient.weight, "call \(i)")
        }
    }
}

/// BatchNormalization's forward and gradient split their channels over the OpenMP team from
/// `OpenMPTeam.minimumElements` on: one thread and two give the same bits.
struct ONNXBatchNormalizationThreadsTests {
    @Test(arguments: [false, true])
    func oneAndTwoThreadsGiveTheSameBits(batchStatistics: Bool) throws {
        var rng = SplitMix(seed: 21)
        let x = try ONNXConvRouteTests.random([8, 12, 30, 30], &rng)
        let scale = try ONNXConvRouteTests.random([12], &rng), bias = try ONNXConvRouteTests.random([12], &rng)
        let mean = try ONNXConvRouteTests.random([12], &rng)
        let variance = try Tensor<Float>(shape: [12], scalars: (0..<12).map { 0.5 + Float($0) / 8 })
        let dy = try ONNXConvRouteTests.random([8, 12, 30, 30], &rng).scalars
        func run(_ threads: Int) throws -> ([Float], [Float], [Float], [Float]) {
            try BLAS.withCallingThreadCount(threads) {
                let y = try Kernel.batchNormalization(x, scale: scale, bias: bias, mean: mean, variance: variance, epsilon: 1e-5)
                let g = try Kernel.batchNormalizationBackward(x, scale: scale, mean: mean, variance: variance, dy, epsilon: 1e-5,
                                                              batchStatistics: batchStatistics)
                return (y.scalars, g.input, g.scale, g.bias)
            }
        }
        let one = try run(1), two = try run(2)
        #expect(one.0 == two.0 && one.1 == two.1 && one.2 == two.2 && one.3 == two.3)
        #expect(one.1.contains { $0 != 0 } && one.2.contains { $0 != 0 })
    }
}
