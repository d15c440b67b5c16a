import Foundation
import Tensors

/// The R-operator (Pearlmutter) of each kernel, for exact Hessian-vector products by
/// forward-over-reverse: `tangent` is the directional derivative of the forward (ẏ from the
/// inputs' tangents ẋ), `curvature` the part of the backward's directional derivative that
/// comes from the inputs moving — R{dxⱼ} = backward(ḋy)ⱼ + curvatureⱼ(x, ẋ, dy); backward is
/// linear in dy, so the first part is `backward` itself.
///
/// `t[i]` holds input i's tangent (zeros when no direction reaches it; nil for integer inputs).
/// Kernels without an R-operator (Pow with a varying exponent, Mod) throw, and the caller
/// names the node. The self-normalising kernels are in `TangentNormalization.swift`.
/// Input `i` as a float tensor (the R-operator's and curvature's inputs alike).
private func floatInput(_ x: [ONNXValue?], _ i: Int) throws(KernelError) -> Tensor<Float> {
    guard i < x.count, let v = x[i] else { throw KernelError("input \(i) is missing") }
    return try v.floatTensor("input \(i)")
}

/// Input `i`'s tangent in its shape; zeros when no direction reaches it.
private func tangentInput(_ x: [ONNXValue?], _ t: [[Float]?], _ i: Int) throws(KernelError) -> Tensor<Float> {
    let shape = try floatInput(x, i).shape
    guard i < t.count, let d = t[i] else { return try makeFloat(shape) }
    return try floatResult(shape, d)
}

/// True when input `i` has no tangent or an all-zero one (the graph input, parameters off the
/// direction): the products with it are skipped.
func isZero(_ t: [[Float]?], _ i: Int) -> Bool {
    guard i < t.count, let d = t[i] else { return true }
    return !d.contains { $0 != 0 } // NaN != 0: a NaN tangent is not skipped
}

extension Kernel {
    func tangent(_ x: [ONNXValue?], _ t: [[Float]?], output y: ONNXValue, opset: Int, batchStatistics: Bool) throws(KernelError) -> [Float] {
        func float(_ i: Int) throws(KernelError) -> Tensor<Float> { try floatInput(x, i) }
        func dot(_ i: Int) throws(KernelError) -> Tensor<Float> { try tangentInput(x, t, i) }
        switch self {
        case let .conv(w, group):
            // ẏ = conv(x, ẇ) + ḃ, then conv(ẋ, w) added into the same buffer.
            let b = x.count > 2 && x[2] != nil ? try dot(2) : nil
            var out = try Kernel.conv(try float(0), try dot(1), b, w, group: group)
            if !isZero(t, 0) {
                try Kernel.convAdding(try dot(0), try float(1), try ConvLayout(try float(0).shape, try float(1).shape, w, group: group), into: &out)
            }
            return out.scalars
        case let .gemm(alpha, beta, transA, transB):
            let a2 = try Kernel.gemm(try float(0), try dot(1), x.count > 2 && x[2] != nil ? try dot(2) : nil, alpha: alpha, beta: beta, transA: transA, transB: transB)
            if isZero(t, 0) { return a2.scalars }
            let a1 = try Kernel.gemm(try dot(0), try float(1), nil, alpha: alpha, beta: 0, transA: transA, transB: transB)
            return zipMap(a1.scalars, a2.scalars) { $0 + $1 }
        case .matMul:
            if isZero(t, 0) { return try Kernel.matMul(try float(0), try dot(1)).scalars }
            if isZero(t, 1) { return try Kernel.matMul(try dot(0), try float(1)).scalars }
            let a1 = try Kernel.matMul(try dot(0), try float(1)), a2 = try Kernel.matMul(try float(0), try dot(1))
            return zipMap(a1.scalars, a2.scalars) { $0 + $1 }
        case let .binary(op):
            return try Kernel.binaryTangent(op, x, t, y)
        case let .unary(op):
            if case .identity = op { return try dot(0).scalars }
            return try Kernel.unaryBackward(op, try float(0), try y.floatTensor("the output"), try dot(0).scalars)
        case let .softmax(axis, log, legacy):
            let ys = try y.floatTensor("the output")
            if !log { return try Kernel.softmaxBackward(ys, try dot(0).scalars, axis: axis, log: false, legacy: legacy) }
            // ẏ = ẋ − Σ p·ẋ along the axis (p = exp y).
            var out = try dot(0).scalars
            try Kernel.forEachLine(ys.shape, axis: axis, legacy: legacy) { line in
                var s: Double = 0
                for j in line { s += Double(Foundation.exp(ys.scalars[j]) * out[j]) }
                for j in line { out[j] -= Float(s) }
            }
            return out
        case let .batchNormalization(epsilon) where batchStatistics:
            let xs = try float(0), c = xs.shape[1], inner = Swift.max(xs.shape[2...].reduce(1, *), 1)
            return Kernel.normalizationRop(x: xs, tx: try dot(0).scalars, scale: try float(1), tScale: try dot(1).scalars, tBias: try dot(2).scalars,
                                           scaleIndex: { ($0 / inner) % c }, groups: try Kernel.normalizationGroups(xs.shape, layerAxis: nil),
                                           dy: nil, epsilon: epsilon).tangent
        case let .batchNormalization(epsilon):
            let xs = try float(0), mean = try float(3), variance = try float(4)
            let dx = try dot(0).scalars, ds = try dot(1).scalars, db = try dot(2).scalars, s = try float(1)
            let c = xs.shape[1], inner = Swift.max(xs.shape[2...].reduce(1, *), 1)
            var out = [Float](repeating: 0, count: xs.count)
            guard dx.count == xs.count, [ds.count, db.count, s.count, mean.count, variance.count].allSatisfy({ $0 == c }) else {
                throw KernelError("internal: BatchNormalization tangents do not fit input \(xs.shape)")
            }
            xs.withUnsafeBufferPointer { px in
                dx.withUnsafeBufferPointer { pdx in
                    out.withUnsafeMutableBufferPointer { po in
                        for block in 0..<(xs.count / inner) {
                            let ch = block % c, base = block * inner
                            let inv = 1 / (variance.scalars[ch] + epsilon).squareRoot()
                            let (sc, m, sd, bd) = (s.scalars[ch], mean.scalars[ch], ds[ch], db[ch])
                            for i in base..<(base + inner) { po[i] = pdx[i] * sc * inv + (px[i] - m) * inv * sd + bd }
                        }
                    }
                }
            }
            return out
        case let .layerNormalization(axis, epsilon):
            let r = try Kernel.layerNormalizationLayout(try float(0), scale: try float(1), bias: x.count > 2 && x[2] != nil ? try float(2) : nil, axis: axis)
            let tBias = x.count > 2 && x[2] != nil ? try dot(2).scalars : nil
            let tScale = try dot(1).scalars
            // Scale and bias tangents read through their broadcast maps onto the normalised shape.
            let ts = r.scaleIndex.map { tScale[$0] }, tb = tBias.map { t in r.biasIndex.map { t[$0] } }
            return Kernel.normalizationRop(x: try float(0), tx: try dot(0).scalars, scale: r.expandedScale, tScale: ts, tBias: tb,
                                           scaleIndex: { $0 % r.size }, groups: try Kernel.normalizationGroups(try float(0).shape, layerAxis: axis),
                                           dy: nil, epsilon: epsilon).tangent
        case let .pool(w, max, ceilMode, countIncludePad):
            if max {
                let sources = try Kernel.maxPoolSources(try float(0), w, ceilMode: ceilMode), d = try dot(0).scalars
                return sources.map { $0 >= 0 ? d[$0] : 0 }
            }
            return try Kernel.pool(try dot(0), w, max: false, ceilMode: ceilMode, countIncludePad: countIncludePad).scalars
        case .pad:
            // The fill value is a constant: padding has no tangent.
            guard x.count > 1, let pads = x[1] else { throw KernelError("input 1 is missing") }
            return try Kernel.pad(.float(try dot(0)), pads: try pads.ints("pads"), value: 0,
                                  axes: x.count > 3 ? try x[3]?.ints("axes") : nil).floatTensor("the tangent").scalars
        case .globalAveragePool, .reduceMean, .flatten, .reshape, .transpose, .gather, .unsqueeze, .squeeze, .slice, .expand, .cast, .concat:
            // Linear in the float operands: the forward applied to the tangents.
            var operands = x
            for i in x.indices { if case .float? = x[i] { operands[i] = .float(try dot(i)) } }
            return try forward(operands, opset: opset).floatTensor("the tangent").scalars
        case .constant, .shape, .constantOfShape:
            return try makeFloat(y.shape).scalars
        }
    }

    func curvature(_ x: [ONNXValue?], _ t: [[Float]?], output y: ONNXValue, outputTangent ty: [Float], gradient dy: [Float],
                   wanted: [Bool], opset: Int, batchStatistics: Bool) throws(KernelError) -> [[Float]?] {
        func float(_ i: Int) throws(KernelError) -> Tensor<Float> { try floatInput(x, i) }
        func dot(_ i: Int) throws(KernelError) -> Tensor<Float> { try tangentInput(x, t, i) }
        func want(_ i: Int) -> Bool { i < wanted.count && wanted[i] }
        var result = [[Float]?](repeating: nil, count: x.count)
        switch self {
        case let .conv(w, group):
            // dW depends on x, dx on W: each takes the other's tangent.
            if want(1), !isZero(t, 0) { result[1] = try Kernel.convBackward(try dot(0), try float(1), dy, w, group: group, wantInput: false, wantBias: false).weight }
            if want(0) { result[0] = try Kernel.convBackward(try float(0), try dot(1), dy, w, group: group, wantInput: true, wantWeight: false, wantBias: false).input }
        case let .gemm(alpha, beta, transA, transB):
            // da = α·dy·B'ᵀ moves with Ḃ, dB with Ȧ: each product only where that tangent is not zero.
            if want(0), !isZero(t, 1) {
                result[0] = try Kernel.gemmBackward(try float(0), try dot(1), nil, dy, alpha: alpha, beta: beta, transA: transA, transB: transB, wantB: false).a
            }
            if want(1), !isZero(t, 0) {
                result[1] = try Kernel.gemmBackward(try dot(0), try float(1), nil, dy, alpha: alpha, beta: beta, transA: transA, transB: transB, wantA: false).b
            }
        case .matMul:
            if want(0), !isZero(t, 1) { result[0] = try Kernel.matMulBackward(try float(0), try dot(1), dy, wantB: false).a }
            if want(1), !isZero(t, 0) { result[1] = try Kernel.matMulBackward(try dot(0), try float(1), dy, wantA: false).b }
        case let .binary(op):
            let c = try Kernel.binaryCurvature(op, x, t, y, dy, wantExponent: want(1))
            result[0] = c.a; result[1] = c.b
        case let .unary(op):
            let xs = try float(0).scalars, ys = try y.floatTensor("the output").scalars, d = try dot(0).scalars
            guard let second = Kernel.secondDerivative(op, xs, ys) else { break }
            guard dy.count == xs.count, d.count == xs.count else { throw KernelError("internal: a tangent or gradient does not fit input of \(xs.count) elements") }
            result[0] = dy.withUnsafeBufferPointer { pdy in
                d.withUnsafeBufferPointer { pd in
                    [Float](unsafeUninitializedCapacity: xs.count) { out, initialized in
                        for i in 0..<xs.count { out[i] = pdy[i] * second(i) * pd[i] }
                        initialized = xs.count
                    }
                }
            }
        case let .softmax(axis, log, legacy):
            let ys = try y.floatTensor("the output")
            var out = [Float](repeating: 0, count: dy.count)
            try Kernel.forEachLine(ys.shape, axis: axis, legacy: legacy) { line in
                if log {
                    // dx = dy − p·Σdy: the p moves, ṗ = p ⊙ ẏ.
                    var s: Double = 0
                    for j in line { s += Double(dy[j]) }
                    for j in line { out[j] = -Foundation.exp(ys.scalars[j]) * ty[j] * Float(s) }
                } else {
                    // dx = y ⊙ (dy − Σ dy·y): ẏ ⊙ (dy − Σ dy·y) − y · Σ dy·ẏ.
                    var s: Double = 0, st: Double = 0
                    for j in line { s += Double(dy[j] * ys.scalars[j]); st += Double(dy[j] * ty[j]) }
                    for j in line { out[j] = ty[j] * (dy[j] - Float(s)) - ys.scalars[j] * Float(st) }
                }
            }
            result[0] = out
        case let .batchNormalization(epsilon) where batchStatistics:
            let xs = try float(0), c = xs.shape[1], inner = Swift.max(xs.shape[2...].reduce(1, *), 1)
            let r = Kernel.normalizationRop(x: xs, tx: try dot(0).scalars, scale: try float(1), tScale: try dot(1).scalars, tBias: nil,
                                            scaleIndex: { ($0 / inner) % c }, groups: try Kernel.normalizationGroups(xs.shape, layerAxis: nil),
                                            dy: dy, epsilon: epsilon)
            result[0] = r.input; result[1] = r.scale
        case let .batchNormalization(epsilon):
            // y = x·s·inv + (bias − mean·s·inv): dx = dy·s·inv moves with s, dscale = Σ dy·(x − mean)·inv with x.
            let xs = try float(0), variance = try float(4), dx = try dot(0).scalars, ds = try dot(1).scalars
            let c = xs.shape[1], inner = Swift.max(xs.shape[2...].reduce(1, *), 1)
            var gx = [Float](repeating: 0, count: xs.count), gs = [Float](repeating: 0, count: c)
            guard dx.count == xs.count, dy.count == xs.count, ds.count == c, variance.count == c else {
                throw KernelError("internal: BatchNormalization tangents do not fit input \(xs.shape)")
            }
            dy.withUnsafeBufferPointer { pdy in
                dx.withUnsafeBufferPointer { pdx in
                    gx.withUnsafeMutableBufferPointer { pg in
                        for block in 0..<(xs.count / inner) {
                            let ch = block % c, base = block * inner
                            let inv = 1 / (variance.scalars[ch] + epsilon).squareRoot(), sd = ds[ch]
                            var sum = gs[ch]
                            for i in base..<(base + inner) {
                                pg[i] = pdy[i] * sd * inv
                                sum += pdy[i] * pdx[i] * inv
                            }
                            gs[ch] = sum
                        }
                    }
                }
            }
            result[0] = gx; result[1] = gs
        case let .layerNormalization(axis, epsilon):
            let xs = try float(0)
            let l = try Kernel.layerNormalizationLayout(xs, scale: try float(1), bias: nil, axis: axis)
            let tScale = try dot(1).scalars
            let r = Kernel.normalizationRop(x: xs, tx: try dot(0).scalars, scale: l.expandedScale, tScale: l.scaleIndex.map { tScale[$0] }, tBias: nil,
                                            scaleIndex: { $0 % l.size }, groups: try Kernel.normalizationGroups(xs.shape, layerAxis: axis),
                                            dy: dy, epsilon: epsilon)
            result[0] = r.input
            result[1] = scatter(l.scaleIndex, r.scale, count: try float(1).count)
        case .pool, .pad, .globalAveragePool, .reduceMean, .flatten, .reshape, .transpose, .gather, .unsqueeze, .squeeze,
             .slice, .expand, .cast, .concat, .constant, .shape, .constantOfShape:
            break // linear in their float operands (max pooling: for its fixed choice of maxima)
        }
        return result
    }

    /// Calls `body` with the element indices of each line along `axis` (all trailing
    /// dimensions for `legacy` softmax), as the softmax kernels walk them.
    static func forEachLine(_ shape: [Int], axis: Int, legacy: Bool, _ body: (StrideTo<Int>) -> Void) throws(KernelError) {
        let a = try normalizedAxis(axis, rank: shape.count)
        let outer = shape[..<a].reduce(1, *)
        let (length, inner) = legacy ? (shape[a...].reduce(1, *), 1) : (shape[a], shape[(a + 1)...].reduce(1, *))
        for o in 0..<outer {
            for i in 0..<inner { let base = o * length * inner + i; body(stride(from: base, to: base + length * inner, by: inner)) }
        }
    }

    /// f″ of an elementwise operator at element i (nil: zero everywhere — piecewise linear).
    static func secondDerivative(_ op: UnaryOp, _ xs: [Float], _ ys: [Float]) -> ((Int) -> Float)? {
        switch op {
        case .relu, .leakyRelu, .neg, .identity: return nil
        case .sigmoid: return { let s = ys[$0]; return s * (1 - s) * (1 - 2 * s) }
        case .tanh: return { let t = ys[$0]; return -2 * t * (1 - t * t) }
        case .erf: return { let v = xs[$0]; return -2 * v * 1.1283791670955126 * Foundation.exp(-v * v) }
        case .gelu(tanh: false): return { let v = xs[$0]; return Foundation.exp(-0.5 * v * v) * 0.3989422804014327 * (2 - v * v) }
        case .gelu(tanh: true):
            return {
                let v = xs[$0], c: Float = 0.79788456080286536, a: Float = 0.044715
                let t = Foundation.tanh(c * (v + a * v * v * v)), u1 = c * (1 + 3 * a * v * v), u2 = 6 * c * a * v
                return (1 - t * t) * u1 + 0.5 * v * (-2 * t * (1 - t * t) * u1 * u1 + (1 - t * t) * u2)
            }
        case .sqrt: return { let r = ys[$0]; return -0.25 / (r * r * r) }
        }
    }
}

extension Kernel {
    /// The operands and their tangents at every output position of a broadcasting binary
    /// operator, and the operands' shapes (to sum gradients back onto them).
    struct BinaryPoints {
        var a: [Float], b: [Float], ta: [Float], tb: [Float], aShape: [Int], bShape: [Int], out: [Int]
        var bIsFloat: Bool
    }

    static func binaryPoints(_ x: [ONNXValue?], _ t: [[Float]?], _ y: ONNXValue) throws(KernelError) -> BinaryPoints {
        guard x.count == 2, let a = x[0], let b = x[1] else { throw KernelError("a binary operator needs two inputs") }
        let xa = try a.floatTensor("input 0"), out = y.shape
        var bv: [Float], bShape: [Int], bIsFloat = true
        switch b {
        case let .float(v): bv = v.scalars; bShape = v.shape
        case let .int(v): bv = v.values.map { Float($0) }; bShape = v.shape; bIsFloat = false
        }
        let n = try checkedCount(out)
        func tangent(_ i: Int, _ shape: [Int], count: Int) throws(KernelError) -> [Float] {
            guard i < t.count, let d = t[i] else { return [Float](repeating: 0, count: n) }
            guard d.count == count else { throw KernelError("internal: a tangent of \(d.count) elements for input \(i) of shape \(shape)") }
            return try expanded(d, shape, to: out)
        }
        return BinaryPoints(a: try expanded(xa.scalars, xa.shape, to: out), b: try expanded(bv, bShape, to: out),
                            ta: try tangent(0, xa.shape, count: xa.count), tb: try tangent(1, bShape, count: bv.count),
                            aShape: xa.shape, bShape: bShape, out: out, bIsFloat: bIsFloat)
    }

    static func binaryTangent(_ op: BinaryOp, _ x: [ONNXValue?], _ t: [[Float]?], _ y: ONNXValue) throws(KernelError) -> [Float] {
        let p = try binaryPoints(x, t, y)
        switch op {
        case .add: return zipMap(p.ta, p.tb) { $0 + $1 }
        case .sub: return zipMap(p.ta, p.tb) { $0 - $1 }
        case .mul: return p.a.indices.map { p.ta[$0] * p.b[$0] + p.a[$0] * p.tb[$0] }
        case .div: return p.a.indices.map { p.ta[$0] / p.b[$0] - p.a[$0] * p.tb[$0] / (p.b[$0] * p.b[$0]) }
        case .pow:
            guard !p.tb.contains(where: { $0 != 0 }) else { throw KernelError("no exact Hessian-vector product for a Pow exponent that varies") }
            return p.a.indices.map { p.ta[$0] * p.b[$0] * Foundation.pow(p.a[$0], p.b[$0] - 1) }
        case .mod:
            throw KernelError("Mod has no gradient in Basin (it may only act on shape tensors and constants)")
        }
    }

    /// The backward's dependence on the operands: Mul's da = dy·b moves with ḃ, Div's and
    /// Pow's with both (Pow only for a constant exponent).
    static func binaryCurvature(_ op: BinaryOp, _ x: [ONNXValue?], _ t: [[Float]?], _ y: ONNXValue, _ dy: [Float],
                                wantExponent: Bool) throws(KernelError) -> (a: [Float]?, b: [Float]?) {
        let p = try binaryPoints(x, t, y)
        switch op {
        case .add, .sub: return (nil, nil)
        case .mul:
            return (try unbroadcast(zipMap(dy, p.tb) { $0 * $1 }, from: p.out, to: p.aShape),
                    p.bIsFloat ? try unbroadcast(zipMap(dy, p.ta) { $0 * $1 }, from: p.out, to: p.bShape) : nil)
        case .div:
            let ga = dy.indices.map { -dy[$0] * p.tb[$0] / (p.b[$0] * p.b[$0]) }
            let gb = dy.indices.map { i -> Float in
                let b2 = p.b[i] * p.b[i]
                return -dy[i] * p.ta[i] / b2 + 2 * dy[i] * p.a[i] * p.tb[i] / (b2 * p.b[i])
            }
            return (try unbroadcast(ga, from: p.out, to: p.aShape), p.bIsFloat ? try unbroadcast(gb, from: p.out, to: p.bShape) : nil)
        case .pow:
            guard !wantExponent, !p.tb.contains(where: { $0 != 0 }) else {
                throw KernelError("no exact Hessian-vector product for a Pow exponent that varies")
            }
            let ga = dy.indices.map { dy[$0] * p.b[$0] * (p.b[$0] - 1) * Foundation.pow(p.a[$0], p.b[$0] - 2) * p.ta[$0] }
            return (try unbroadcast(ga, from: p.out, to: p.aShape), nil)
        case .mod: throw KernelError("Mod has no gradient in Basin (it may only act on shape tensors and constants)")
        }
    }
}

extension Kernel {
    /// LayerNormalization's normalised size and the maps from its elements to the scale's and
    /// bias's (broadcast) elements; `expandedScale` is the scale read onto the normalised shape.
    static func layerNormalizationLayout(_ x: Tensor<Float>, scale: Tensor<Float>, bias: Tensor<Float>?, axis: Int) throws(KernelError)
        -> (size: Int, scaleIndex: [Int], biasIndex: [Int], expandedScale: Tensor<Float>) {
        let a = try normalizedAxis(axis, rank: x.rank)
        let normalized = Array(x.shape[a...])
        let si = try gatherIndices(normalized, offset: 0, strides: broadcastStrides(scale.shape, to: normalized))
        let bi = try bias.map { (b: Tensor<Float>) throws(KernelError) in try gatherIndices(normalized, offset: 0, strides: broadcastStrides(b.shape, to: normalized)) } ?? []
        return (normalized.reduce(1, *), si, bi, try floatResult([si.count], si.map { scale.scalars[$0] }))
    }
}
