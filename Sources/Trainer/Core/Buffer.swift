import Tensors

/// A fixed-size, zero-initialised scalar buffer that owns its memory.
///
/// Layers pass activations and their tangents as `Buffer`s so that hot loops and
/// BLAS calls take a stable pointer without nested `withUnsafe…` closures. A buffer
/// is written by the layer that creates it and treated as read-only afterwards.
final class Buffer<Scalar: BLASScalar> {
    /// Number of scalars.
    let count: Int
    /// The first scalar; valid for `count` elements while the buffer is alive.
    let pointer: UnsafeMutablePointer<Scalar>

    /// False for a buffer that views memory it does not own (`init(borrowing:)`).
    private let owned: Bool

    /// `count` zeros.
    init(count: Int) {
        precondition(count >= 0, "Buffer needs a non-negative count")
        self.count = count
        owned = true
        pointer = .allocate(capacity: Swift.max(count, 1))
        pointer.initialize(repeating: 0, count: Swift.max(count, 1))
    }

    /// A read-only view of `source` without a copy, for the network's input within one pass:
    /// the caller keeps `source` alive until the pass is over and its caches are released, and
    /// no layer writes into its input.
    init(borrowing source: UnsafeBufferPointer<Scalar>) {
        count = source.count
        if let base = source.baseAddress {
            owned = false
            pointer = UnsafeMutablePointer(mutating: base)
        } else {
            owned = true
            pointer = .allocate(capacity: 1)
            pointer.initialize(to: 0)
        }
    }

    /// `count` scalars left unset, for a caller that writes every one before anything reads
    /// them (a GEMM with β = 0, an elementwise map): skips the fill, a measurable part of a
    /// small network's training step.
    init(uninitializedCount count: Int) {
        precondition(count >= 0, "Buffer needs a non-negative count")
        self.count = count
        owned = true
        pointer = .allocate(capacity: Swift.max(count, 1))
    }

    /// A copy of `source` (one pass: the copy is the only write).
    convenience init(copying source: UnsafeBufferPointer<Scalar>) {
        self.init(uninitializedCount: source.count)
        if let base = source.baseAddress { pointer.update(from: base, count: source.count) }
    }

    /// A copy of a tensor's scalars.
    convenience init(_ tensor: Tensor<Scalar>) {
        self.init(uninitializedCount: tensor.count)
        tensor.withUnsafeBufferPointer { p in
            if let base = p.baseAddress { pointer.update(from: base, count: p.count) }
        }
    }

    deinit {
        guard owned else { return }
        pointer.deinitialize(count: Swift.max(count, 1))
        pointer.deallocate()
    }

    /// A copy of this buffer.
    func copy() -> Buffer { Buffer(copying: UnsafeBufferPointer(start: pointer, count: count)) }

    /// Sets every element to zero.
    func zero() { pointer.update(repeating: 0, count: count) }

    /// The scalars as a tensor of `shape` (one copy).
    func tensor(shape: [Int]) -> Tensor<Scalar> {
        precondition(shape.reduce(1, *) == count, "shape \(shape) does not hold \(count) scalars")
        // One memcpy into a fresh array (a zero-filled tensor first cost a generic element-wise
        // fill: a tenth of an MLP training step).
        let scalars = Array(UnsafeBufferPointer(start: pointer, count: count))
        return (try? Tensor(shape: shape, scalars: scalars)) ?? Tensor(zeros: shape)
    }
}

/// An activation and, in a Hessian-vector pass, its directional derivative R{·}.
///
/// Shapes are `[batch, features]` or NCHW `[batch, channels, height, width]`, row-major.
struct Dual<Scalar: BLASScalar> {
    var shape: [Int]
    var value: Buffer<Scalar>
    /// R{value} = d/dε value(θ + ε·v) at ε = 0; nil outside a Hessian-vector pass.
    var tangent: Buffer<Scalar>?
    /// True when the value does not depend on θ (the network's input, and what parameter-free
    /// layers make of it): no gradient has to flow into it, so the backward pass of the layer
    /// that reads it computes only that layer's parameter gradients (for an MLP on images, the
    /// skipped `∂x` of the first layer is a quarter of a training step's arithmetic).
    var constant = false

    var batch: Int { shape[0] }
    /// Elements per sample (product of all but the first dimension).
    var perSample: Int { shape.dropFirst().reduce(1, *) }

    /// What a layer returns as the gradient of a `constant` input: nothing (no buffer), since
    /// no layer before it needs one.
    static func noGradient(_ shape: [Int]) -> Dual {
        Dual(shape: shape, value: Buffer(count: 0), tangent: nil, constant: true)
    }

    /// An activation of `shape` (and its tangent when `withTangent`) whose every element the
    /// caller writes before reading any (`Buffer(uninitializedCount:)`); the tangent starts from
    /// zero instead when the caller only adds into it (`tangentWritten` false).
    static func unset(_ shape: [Int], withTangent: Bool, tangentWritten: Bool = true) -> Dual {
        let n = shape.reduce(1, *)
        let tangent: Buffer<Scalar>? = withTangent ? (tangentWritten ? Buffer(uninitializedCount: n) : Buffer(count: n)) : nil
        return Dual(shape: shape, value: Buffer(uninitializedCount: n), tangent: tangent)
    }

    /// a + b, and R{a} + R{b} (each term present or zero) when `withTangent`: a residual block's sum.
    static func sum(_ a: Dual, _ b: Dual, withTangent: Bool) -> Dual {
        let n = a.value.count
        let both = a.tangent != nil && b.tangent != nil
        let out = Dual.unset(a.shape, withTangent: withTangent, tangentWritten: both)
        VectorKernels.add(count: n, a.value.pointer, b.value.pointer, into: out.value.pointer, rectified: false)
        if let rs = out.tangent {
            if let ra = a.tangent, let rb = b.tangent { VectorKernels.add(count: n, ra.pointer, rb.pointer, into: rs.pointer, rectified: false) }
            else if let r = a.tangent ?? b.tangent { rs.pointer.update(from: r.pointer, count: n) }
        }
        return out
    }

    /// A zero activation of `shape`, with a zero tangent when `withTangent`.
    static func zeros(_ shape: [Int], withTangent: Bool) -> Dual {
        let n = shape.reduce(1, *)
        return Dual(shape: shape, value: Buffer(count: n), tangent: withTangent ? Buffer(count: n) : nil)
    }
}

/// Which statistics batch normalisation uses, stated by every caller (no hidden mode).
public enum ForwardMode: String, Codable, Sendable, CaseIterable {
    /// Batch statistics, and running statistics updated with momentum (PyTorch `model.train()`).
    case train
    /// Batch statistics, running statistics left untouched (for loss/Hessian probes on batches).
    case batchStatistics
    /// Running statistics (PyTorch `model.eval()`).
    case eval

    var usesBatchStatistics: Bool { self != .eval }
}

/// The flat vectors one forward/backward pass reads and writes, as raw pointers valid
/// for the duration of the pass. Each layer addresses its slice by offset.
struct Pass<Scalar: BLASScalar> {
    /// θ, the flat parameter vector.
    let parameters: UnsafePointer<Scalar>
    /// v, the direction of a Hessian-vector product; nil for plain passes.
    let direction: UnsafePointer<Scalar>?
    /// ∂L/∂θ accumulates here (zeroed by the caller); nil when not wanted.
    let gradient: UnsafeMutablePointer<Scalar>?
    /// Hv = R{∂L/∂θ} accumulates here; nil outside a Hessian-vector pass.
    let hvp: UnsafeMutablePointer<Scalar>?
    /// Running statistics and other non-trainable buffers.
    let buffers: UnsafeMutablePointer<Scalar>
    let mode: ForwardMode
    /// The output of the layer that reads the network's input, computed beforehand (a linear
    /// family's shared products, `Network+LinearFamily.swift`): the `Linear` or `Conv2d` whose
    /// parameters start at `offset` returns it instead of computing it. Plain passes only.
    var leading: (offset: Int, output: Dual<Scalar>)? = nil
    /// True when the caller zeroed `gradient` only outside the slices of `Linear` layers: each
    /// `Linear` then writes its slice whole (a β = 0 product, bias sums from +0) instead of adding
    /// to it — the same values, without a pass over the parameter-sized vector to zero it.
    /// Every `Linear` runs backward exactly once per pass (`Network.linearParameterRanges`).
    var linearGradientsUnset = false

    var withTangents: Bool { direction != nil }

    /// The precomputed output for the layer whose parameters start at `offset`, when this pass
    /// carries one and the layer reads the network's input (`x.constant`).
    func leadingOutput(offset: Int, input x: Dual<Scalar>) -> Dual<Scalar>? {
        guard let leading, leading.offset == offset, x.constant, direction == nil else { return nil }
        return leading.output
    }
}

/// C ← α·op(A)·op(B) + β·C on raw row-major pointers; skips empty products. With α = 1 and
/// β = 0 or 1, float32 products run as oneDNN matmul primitives (`BLASScalar.denseProduct`),
/// else as a GEMM.
@inline(__always)
func gemm<S: BLASScalar>(_ transposeA: Bool, _ transposeB: Bool, m: Int, n: Int, k: Int,
                         alpha: S = 1, _ a: UnsafePointer<S>, lda: Int, _ b: UnsafePointer<S>, ldb: Int,
                         beta: S, _ c: UnsafeMutablePointer<S>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    if alpha == 1, beta == 0 || beta == 1,
       S.denseProduct(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                      bias: nil, relu: false, accumulate: beta == 1, c: c, ldc: ldc) {
        return
    }
    S.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
           a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// y ← y + α·x over `count` elements, one fused multiply-add each, on the calling thread
/// (`BLASScalar.fusedAXPY`: vectorised in C for the CPU's AVX-512/AVX2 units; the loop written
/// here in Swift called libm's `fmaf` per element — 40 % of a landscape point's time).
///
/// Not `cblas_saxpy`: OpenBLAS splits an axpy above ~10 000 elements over its own thread pool,
/// whose threads then spin (`sched_yield`) against the OpenMP threads of oneDNN's convolutions
/// and GEMMs on the same two cores — measured on the shallow CNN's training step, rounds of
/// 6 steps ranged 1 900–3 600 samples/s with it and (see docs/PERFORMANCE.md) tightly without.
@inline(__always)
func axpy<S: BLASScalar>(_ count: Int, _ alpha: S, _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>) {
    S.fusedAXPY(count: Swift.max(count, 0), alpha: alpha, x: x, y: y)
}

/// eˣ for any BLAS scalar (through `Double`; only used on [batch, classes] matrices).
@inline(__always) func exponential<S: BLASScalar>(_ x: S) -> S { S(_exp(Double(x))) }
/// ln x for any BLAS scalar (through `Double`).
@inline(__always) func logarithm<S: BLASScalar>(_ x: S) -> S { S(_log(Double(x))) }
