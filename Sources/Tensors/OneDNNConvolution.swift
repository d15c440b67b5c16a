import CDNNL
import Foundation

/// oneDNN's float32 convolution primitives for one geometry (see `Sources/CDNNL`): forward,
/// backward-data and backward-weights, used by the trainer's `Conv2d` and by the ONNX graph's
/// `Conv` kernel.
///
/// oneDNN runs a whole batch per call with its own register-blocked kernels on its preferred
/// (channel-blocked) layouts, on OpenMP threads; the im2col route ran one small `sgemm` per image,
/// and OpenBLAS's threads spun in `sched_yield` between them. Measured in docs/PERFORMANCE.md
/// ("Convolutions"). A handle holds primitives only (the blocked copies of the operands live for
/// one call), so handles are cheap to keep. Calls run on `geometry.threads` threads, so the same
/// inputs give the same bits for a fixed thread count. One thread uses a handle at a time.
public final class OneDNNConvolution: @unchecked Sendable {
    /// x `[batch, channels, height, width]` with weights `[outChannels, channels/groups, kh, kw]`.
    public struct Geometry: Hashable, Sendable {
        public var batch, channels, height, width, outChannels: Int
        public var kernelHeight, kernelWidth: Int
        public var strideHeight = 1, strideWidth = 1
        /// 1 = dense (ONNX's convention).
        public var dilationHeight = 1, dilationWidth = 1
        public var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0
        public var groups = 1
        public var hasBias: Bool
        public var threads: Int

        public init(batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, kernelHeight: Int, kernelWidth: Int,
                    hasBias: Bool, threads: Int) {
            (self.batch, self.channels, self.height, self.width, self.outChannels) = (batch, channels, height, width, outChannels)
            (self.kernelHeight, self.kernelWidth, self.hasBias, self.threads) = (kernelHeight, kernelWidth, hasBias, threads)
        }
    }

    public let geometry: Geometry
    private let handle: OpaquePointer

    /// False when `BASIN_CONV=im2col` is set (to compare the two routes); convolutions then keep
    /// their im2col route, as they do when oneDNN cannot build a primitive on this machine.
    public static let enabled: Bool = ProcessInfo.processInfo.environment["BASIN_CONV"] != "im2col"

    /// The primitives for `geometry`, or nil when oneDNN cannot build them (or the window does
    /// not fit the input: the callers have checked that already).
    public init?(_ geometry: Geometry) {
        var g = basin_conv_geometry(
            n: Int64(geometry.batch), c: Int64(geometry.channels), h: Int64(geometry.height), w: Int64(geometry.width),
            o: Int64(geometry.outChannels), kh: Int64(geometry.kernelHeight), kw: Int64(geometry.kernelWidth),
            stride_h: Int64(geometry.strideHeight), stride_w: Int64(geometry.strideWidth),
            dilation_h: Int64(geometry.dilationHeight), dilation_w: Int64(geometry.dilationWidth),
            pad_top: Int64(geometry.padTop), pad_left: Int64(geometry.padLeft),
            pad_bottom: Int64(geometry.padBottom), pad_right: Int64(geometry.padRight), groups: Int64(geometry.groups))
        guard geometry.threads >= 1, geometry.threads <= Int(Int32.max),
              let h = basin_conv_create(&g, geometry.hasBias ? 1 : 0, Int32(geometry.threads)) else { return nil }
        self.geometry = geometry
        handle = h
    }

    deinit { basin_conv_destroy(handle) }

    /// y = conv(x, W) + b (no bias term when `bias` is nil). False when oneDNN failed.
    public func forward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        into y: UnsafeMutablePointer<Float>) -> Bool {
        basin_conv_forward(handle, x, weight, bias, y) == 0
    }

    /// ∂x = convᵀ(∂y, W), overwriting `dx`.
    public func backwardData(weight: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) -> Bool {
        basin_conv_backward_data(handle, weight, dy, dx) == 0
    }

    /// ∂W = Σ ∂y ⋆ x and ∂b = Σ ∂y, overwriting both (`dbias` needed exactly when the geometry has a bias).
    public func backwardWeights(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dweight: UnsafeMutablePointer<Float>,
                                bias dbias: UnsafeMutablePointer<Float>?) -> Bool {
        basin_conv_backward_weights(handle, x, dy, dweight, dbias) == 0
    }

    // MARK: Shared handles

    private static let shared = SharedHandles<Geometry, OneDNNConvolution>()

    /// Runs `body` with a handle for `geometry` taken from the shared set (built on first use and
    /// returned afterwards, so concurrent callers never share one); nil when oneDNN cannot build
    /// it, or when disabled.
    public static func withShared<R>(_ geometry: Geometry, _ body: (OneDNNConvolution) -> R) -> R? {
        guard enabled else { return nil }
        return shared.with(geometry, make: { OneDNNConvolution($0) }, body)
    }
}

/// Idle oneDNN handles kept for reuse by key (primitives only: a few kB each), each lent to one
/// caller at a time, so concurrent callers never share one; the least recently used key goes
/// first beyond `idleLimit` handles.
final class SharedHandles<Key: Hashable, Handle: AnyObject>: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [Key: [Handle]] = [:]
    private var lastUse: [Key: Int] = [:]
    private var clock = 0
    let idleLimit: Int

    init(idleLimit: Int = 64) { self.idleLimit = idleLimit }

    /// `body` with an idle handle for `key`, or one `make` builds; nil when `make` cannot.
    func with<R>(_ key: Key, make: (Key) -> Handle?, _ body: (Handle) -> R) -> R? {
        let reused: Handle? = lock.withLock { idle[key]?.popLast() }
        guard let handle = reused ?? make(key) else { return nil }
        let result = body(handle)
        lock.withLock {
            clock += 1
            idle[key, default: []].append(handle)
            lastUse[key] = clock
            var count = idle.values.reduce(0) { $0 + $1.count }
            while count > idleLimit, let oldest = lastUse.min(by: { $0.value < $1.value })?.key {
                count -= idle[oldest]?.count ?? 0
                idle[oldest] = nil
                lastUse[oldest] = nil
            }
        }
        return result
    }
}
