import CDNNL
import Foundation
import Tensors

/// oneDNN's float32 convolution primitives for one input shape (see `Sources/CDNNL`).
///
/// oneDNN runs a whole batch per call with its own register-blocked kernels on its preferred
/// (channel-blocked) layouts, on OpenMP threads; the im2col route ran one small `sgemm` per image,
/// and OpenBLAS's threads spun in `sched_yield` between them. Measured in docs/PERFORMANCE.md
/// ("Convolutions"). Built for one (batch, height, width, thread count) and dropped with the
/// layer's caches after each pass; oneDNN's global primitive cache makes the rebuild cheap.
/// Calls run on `threads` threads, so the same inputs give the same bits for a fixed thread count.
final class OneDNNConvolution {
    struct Key: Equatable {
        let batch: Int, height: Int, width: Int, threads: Int
    }

    let key: Key
    private let handle: OpaquePointer

    /// False when `BASIN_CONV=im2col` is set (to compare the two routes), or when oneDNN cannot
    /// build a primitive on this machine; Conv2d then keeps its im2col route.
    static let enabled: Bool = ProcessInfo.processInfo.environment["BASIN_CONV"] != "im2col"

    /// The primitives for x `[batch, C, height, width]`, or nil when oneDNN cannot build them.
    init?(_ layer: (inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int, hasBias: Bool), key: Key) {
        guard let h = basin_conv_create(Int64(key.batch), Int64(layer.inChannels), Int64(key.height), Int64(key.width),
                                        Int64(layer.outChannels), Int64(layer.kernelSize), Int64(layer.stride),
                                        Int64(layer.padding), layer.hasBias ? 1 : 0, Int32(key.threads))
        else { return nil }
        self.key = key
        handle = h
    }

    deinit { basin_conv_destroy(handle) }

    /// y = conv(x, W) + b (no bias term when `bias` is nil). False when oneDNN failed.
    func forward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 into y: UnsafeMutablePointer<Float>) -> Bool {
        basin_conv_forward(handle, x, weight, bias, y) == 0
    }

    /// ∂x = convᵀ(∂y, W), overwriting `dx`.
    func backwardData(weight: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) -> Bool {
        basin_conv_backward_data(handle, weight, dy, dx) == 0
    }

    /// ∂W = Σ ∂y ⋆ x and ∂b = Σ ∂y, overwriting both (`dbias` needed exactly when the layer has a bias).
    func backwardWeights(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dweight: UnsafeMutablePointer<Float>,
                         bias dbias: UnsafeMutablePointer<Float>?) -> Bool {
        basin_conv_backward_weights(handle, x, dy, dweight, dbias) == 0
    }
}
