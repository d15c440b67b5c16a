/// Strided walks over a row-major output: broadcasting, transposes, slices and their adjoints
/// all read (or add into) an operand at `Σ_d i_d·stride_d`. An odometer steps the outer
/// dimensions and the innermost one runs as a plain loop with a fixed stride (0 for a
/// broadcast dimension), so no per-element index array is built.

import Tensors

/// Calls `body(outOffset, offsetA, offsetB)` at the start of every innermost row of `out`
/// (one call for a rank-0 output), the operands' offsets advancing by `sa` and `sb`.
@inline(__always)
func forEachRow(_ out: [Int], _ sa: [Int], _ sb: [Int], start: (a: Int, b: Int) = (0, 0), _ body: (Int, Int, Int) -> Void) {
    let rank = out.count
    guard rank > 0 else { body(0, start.a, start.b); return }
    guard !out.contains(0) else { return }
    let inner = out[rank - 1], rows = out.dropLast().reduce(1, *)
    var index = [Int](repeating: 0, count: rank - 1)
    var offA = start.a, offB = start.b
    for r in 0..<rows {
        body(r * inner, offA, offB)
        var d = rank - 2
        while d >= 0 {
            index[d] += 1; offA += sa[d]; offB += sb[d]
            if index[d] < out[d] { break }
            offA -= sa[d] * out[d]; offB -= sb[d] * out[d]; index[d] = 0
            d -= 1
        }
    }
}

/// The elements of a tensor of `shape` read at every position of `out` through `strides`
/// (starting at `offset`): a broadcast, transpose, slice or expand in one strided copy.
func stridedCopy<T>(_ values: [T], _ out: [Int], offset: Int = 0, strides: [Int]) throws(KernelError) -> [T] {
    let n = try checkedCount(out)
    guard n > 0 else { return [] }
    let inner = out.last ?? 1, step = strides.last ?? 0
    return values.withUnsafeBufferPointer { src in
        [T](unsafeUninitializedCapacity: n) { dst, initialized in
            forEachRow(out, strides, strides, start: (offset, offset)) { o, a, _ in
                if step == 1 {
                    for k in 0..<inner { dst.initializeElement(at: o + k, to: src[a + k]) }
                } else {
                    for k in 0..<inner { dst.initializeElement(at: o + k, to: src[a + k * step]) }
                }
            }
            initialized = n
        }
    }
}

/// `values` of `shape` broadcast to `out` (the same array when the shapes agree).
func expanded(_ values: [Float], _ shape: [Int], to out: [Int]) throws(KernelError) -> [Float] {
    guard try checkedCount(shape) == values.count else { throw KernelError("internal: \(values.count) values for shape \(shape)") }
    if shape == out { return values }
    if values.count == 1 { return [Float](repeating: values[0], count: try checkedCount(out)) }
    return try stridedCopy(values, out, strides: broadcastStrides(shape, to: out))
}

/// The gradient `g` of a broadcast result `out` summed back onto an operand of `shape`.
func unbroadcast(_ g: [Float], from out: [Int], to shape: [Int]) throws(KernelError) -> [Float] {
    guard try checkedCount(out) == g.count else { throw KernelError("internal: a gradient of \(g.count) elements for shape \(out)") }
    if out == shape { return g }
    let n = try checkedCount(shape)
    if n == 1 {
        var s: Float = 0
        g.withUnsafeBufferPointer { p in for v in p { s += v } }
        return [s]
    }
    var result = [Float](repeating: 0, count: n)
    let strides = broadcastStrides(shape, to: out), inner = out.last ?? 1, step = strides.last ?? 0
    g.withUnsafeBufferPointer { src in
        result.withUnsafeMutableBufferPointer { dst in
            forEachRow(out, strides, strides) { o, a, _ in
                if step == 0 {
                    var s: Float = 0
                    for k in 0..<inner { s += src[o + k] }
                    dst[a] += s
                } else {
                    for k in 0..<inner { dst[a + k] += src[o + k] }
                }
            }
        }
    }
    return result
}

/// `f(a, b)` elementwise on float operands with NumPy broadcasting. Inlined at each call so
/// that `f` is too: same shapes and scalar operands run one flat loop, the rest a row walk.
@inline(__always)
func broadcastFloats(_ a: [Float], _ aShape: [Int], _ b: [Float], _ bShape: [Int], _ f: (Float, Float) -> Float) throws(KernelError) -> (shape: [Int], values: [Float]) {
    let out = aShape == bShape ? aShape : try broadcastShape(aShape, bShape)
    let n = try checkedCount(out)
    guard n > 0 else { return (out, []) }
    let sa = broadcastStrides(aShape, to: out), sb = broadcastStrides(bShape, to: out)
    let values = a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            [Float](unsafeUninitializedCapacity: n) { py, initialized in
                if aShape == bShape {
                    for i in 0..<n { py[i] = f(pa[i], pb[i]) }
                } else if b.count == 1, out == aShape {
                    let y = pb[0]
                    for i in 0..<n { py[i] = f(pa[i], y) }
                } else if a.count == 1, out == bShape {
                    let x = pa[0]
                    for i in 0..<n { py[i] = f(x, pb[i]) }
                } else {
                    let inner = out.last ?? 1, ia = sa.last ?? 0, ib = sb.last ?? 0
                    forEachRow(out, sa, sb) { o, offA, offB in
                        switch (ia, ib) {
                        case (1, 1): for k in 0..<inner { py[o + k] = f(pa[offA + k], pb[offB + k]) }
                        case (1, 0): let y = pb[offB]; for k in 0..<inner { py[o + k] = f(pa[offA + k], y) }
                        case (0, 1): let x = pa[offA]; for k in 0..<inner { py[o + k] = f(x, pb[offB + k]) }
                        default: for k in 0..<inner { py[o + k] = f(pa[offA + k * ia], pb[offB + k * ib]) }
                        }
                    }
                }
                initialized = n
            }
        }
    }
    return (out, values)
}

/// `f(x[i], y[i])` over two arrays of equal length, as one flat loop.
@inline(__always)
func zipMap(_ x: [Float], _ y: [Float], _ f: (Float, Float) -> Float) -> [Float] {
    let n = min(x.count, y.count)
    return x.withUnsafeBufferPointer { px in
        y.withUnsafeBufferPointer { py in
            [Float](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = f(px[i], py[i]) }
                initialized = n
            }
        }
    }
}

/// `sign[i] > 0 ? d[i] : 0` over two arrays of the same length (Relu: d = sign; its gradient:
/// sign = x, d = ∂y) through `VectorKernels.selectPositive` (vector units, OpenMP team): the
/// Swift select compiled to a branch per element, mispredicted half the time on activations.
func selectPositive(_ sign: [Float], _ d: [Float]) -> [Float] {
    let n = min(sign.count, d.count)
    return sign.withUnsafeBufferPointer { ps in
        d.withUnsafeBufferPointer { pd in
            [Float](unsafeUninitializedCapacity: n) { out, initialized in
                if let s = ps.baseAddress, let v = pd.baseAddress, let o = out.baseAddress, n > 0 {
                    VectorKernels.selectPositive(count: n, sign: s, d: v, out: o)
                    initialized = n
                } else {
                    initialized = 0
                }
            }
        }
    }
}

/// `f(x[i])` over an array, as one flat loop.
@inline(__always)
func mapFloats(_ x: [Float], _ f: (Float) -> Float) -> [Float] {
    x.withUnsafeBufferPointer { px in
        [Float](unsafeUninitializedCapacity: px.count) { out, initialized in
            for i in 0..<px.count { out[i] = f(px[i]) }
            initialized = px.count
        }
    }
}
