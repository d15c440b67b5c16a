import Tensors

/// Kernels that move elements without arithmetic; they serve float activations and the
/// integer shape tensors an exporter computes alike.
extension ONNXValue {
    /// The same elements under another shape of the same count.
    func reshaped(_ shape: [Int]) throws(KernelError) -> ONNXValue {
        guard try checkedCount(shape) == count else { throw KernelError("cannot reshape \(self.shape) (\(count) elements) to \(shape)") }
        // The storage is shared, not copied (copy-on-write).
        switch self {
        case let .float(t): return .float(try floatResult(shape, t.scalars))
        case let .int(t): return .int(try makeInt(shape, t.values))
        }
    }

    /// A value of shape `out` read from this one at `offset + Σ_d i_d·strides_d` (transpose,
    /// slice and expand), copied row by row.
    func strided(_ out: [Int], offset: Int = 0, strides: [Int]) throws(KernelError) -> ONNXValue {
        switch self {
        case let .float(t): return .float(try floatResult(out, try stridedCopy(t.scalars, out, offset: offset, strides: strides)))
        case let .int(t): return .int(try makeInt(out, try stridedCopy(t.values, out, offset: offset, strides: strides)))
        }
    }
}

/// Row-major strides of `shape`.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    for i in stride(from: shape.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * shape[i + 1] }
    return s
}

/// Source indices for every output position of `outShape`, reading the input at
/// `Σ_d (start_d + step_d·i_d) · stride_d` (transpose, slice, expand and gather are all this).
func gatherIndices(_ outShape: [Int], offset: Int, strides: [Int]) throws(KernelError) -> [Int] {
    let n = try checkedCount(outShape)
    var result: [Int] = []
    result.reserveCapacity(n)
    guard n > 0 else { return [] }
    var index = [Int](repeating: 0, count: outShape.count), source = offset
    for _ in 0..<n {
        result.append(source)
        var d = outShape.count - 1
        while d >= 0 {
            index[d] += 1; source += strides[d]
            if index[d] < outShape[d] { break }
            source -= strides[d] * outShape[d]; index[d] = 0; d -= 1
        }
    }
    return result
}

extension Kernel {
    static func transpose(_ x: ONNXValue, permutation: [Int]?) throws(KernelError) -> ONNXValue {
        let rank = x.shape.count, perm = permutation ?? Array((0..<rank).reversed())
        guard perm.sorted() == Array(0..<rank) else { throw KernelError("perm \(perm) is not a permutation of 0..<\(rank)") }
        let strides = rowMajorStrides(x.shape)
        let out = perm.map { x.shape[$0] }
        return try x.strided(out, strides: perm.map { strides[$0] })
    }

    static func reshape(_ x: ONNXValue, _ target: [Int], allowZero: Bool) throws(KernelError) -> ONNXValue {
        var shape = target
        for (i, d) in target.enumerated() where d == 0 && !allowZero {
            guard i < x.shape.count else { throw KernelError("Reshape target \(target) copies dimension \(i) of \(x.shape), which has none") }
            shape[i] = x.shape[i]
        }
        let unknown = shape.indices.filter { shape[$0] == -1 }
        guard unknown.count <= 1, shape.allSatisfy({ $0 >= -1 }) else { throw KernelError("Reshape target \(target) is not a valid shape") }
        if let u = unknown.first {
            var known = shape; known[u] = 1
            let rest = try checkedCount(known)
            guard rest > 0, x.count % rest == 0 else { throw KernelError("cannot reshape \(x.shape) to \(target)") }
            shape[u] = x.count / rest
        }
        return try x.reshaped(shape)
    }

    static func flatten(_ x: ONNXValue, axis: Int) throws(KernelError) -> ONNXValue {
        let rank = x.shape.count
        guard axis >= -rank, axis <= rank else { throw KernelError("Flatten axis \(axis) is outside -\(rank)…\(rank)") }
        let a = axis < 0 ? axis + rank : axis
        return try x.reshaped([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])
    }

    static func concat(_ values: [ONNXValue], axis: Int) throws(KernelError) -> ONNXValue {
        guard let first = values.first else { throw KernelError("Concat of no inputs") }
        let rank = first.shape.count
        let a = try normalizedAxis(axis, rank: rank)
        var out = first.shape
        out[a] = 0
        for v in values {
            guard v.shape.count == rank, (0..<rank).allSatisfy({ $0 == a || v.shape[$0] == first.shape[$0] }) else {
                throw KernelError("Concat inputs of shapes \(values.map(\.shape)) differ outside axis \(a)")
            }
            out[a] += v.shape[a]
        }
        _ = try checkedCount(out)
        let outer = first.shape[..<a].reduce(1, *)
        func joined<T>(_ parts: [[T]]) -> [T] {
            var r: [T] = []
            for o in 0..<outer {
                for (v, p) in zip(values, parts) {
                    let block = v.shape[a...].reduce(1, *)
                    r.append(contentsOf: p[(o * block)..<((o + 1) * block)])
                }
            }
            return r
        }
        if case .float = first {
            var parts: [[Float]] = []
            for v in values { parts.append(try v.floatTensor("every Concat input").scalars) }
            return .float(try floatResult(out, joined(parts)))
        }
        var parts: [[Int64]] = []
        for v in values { parts.append(try v.intTensor("every Concat input").values) }
        return .int(try makeInt(out, joined(parts)))
    }

    /// Constant padding; `pads` = [begin_0 … begin_{r−1}, end_0 … end_{r−1}] over `axes`.
    static func pad(_ x: ONNXValue, pads: [Int], value: Float, axes: [Int]?) throws(KernelError) -> ONNXValue {
        let rank = x.shape.count
        var axisList: [Int] = []
        for axis in axes ?? Array(0..<rank) { axisList.append(try normalizedAxis(axis, rank: rank, "Pad axis")) }
        guard pads.count == 2 * axisList.count else { throw KernelError("Pad pads \(pads) needs \(2 * axisList.count) values") }
        guard pads.allSatisfy({ $0 >= 0 && $0 <= 1 << 30 }) else { throw KernelError("Pad pads \(pads) must lie in 0…2³⁰ (negative pads are not supported)") }
        var begin = [Int](repeating: 0, count: rank), out = x.shape
        for (k, axis) in axisList.enumerated() {
            begin[axis] = pads[k]
            out[axis] += pads[k] + pads[k + axisList.count]
        }
        let n = try checkedCount(out)
        let strides = rowMajorStrides(out)
        let targets = try gatherIndices(x.shape, offset: zip(begin, strides).map { $0 * $1 }.reduce(0, +), strides: strides)
        switch x {
        case let .float(t):
            var y = [Float](repeating: value, count: n)
            for (i, target) in targets.enumerated() { y[target] = t.scalars[i] }
            return .float(try floatResult(out, y))
        case let .int(t):
            var y = [Int64](repeating: Int64(exactly: value.rounded(.towardZero)) ?? 0, count: n)
            for (i, target) in targets.enumerated() { y[target] = t.values[i] }
            return .int(try makeInt(out, y))
        }
    }

    static func gather(_ x: ONNXValue, _ indices: IntTensor, axis: Int) throws(KernelError) -> ONNXValue {
        let g = try GatherLayout(x.shape, indices, axis: axis)
        func blocks<T>(_ v: [T]) -> [T] {
            // Each (outer, index) pair copies one contiguous block of `inner` elements.
            var out: [T] = []
            out.reserveCapacity(g.outer * g.positions.count * g.inner)
            for o in 0..<g.outer { for p in g.positions { out.append(contentsOf: v[((o * g.extent + p) * g.inner)..<((o * g.extent + p + 1) * g.inner)]) } }
            return out
        }
        switch x {
        case let .float(t): return .float(try floatResult(g.out, blocks(t.scalars)))
        case let .int(t): return .int(try makeInt(g.out, blocks(t.values)))
        }
    }

    /// Gather's adjoint: each block of the output's gradient added back onto the block it was copied from.
    static func gatherBackward(_ shape: [Int], _ indices: IntTensor, axis: Int, _ dy: [Float]) throws(KernelError) -> [Float] {
        let g = try GatherLayout(shape, indices, axis: axis)
        guard dy.count == g.outer * g.positions.count * g.inner else { throw KernelError("internal: a Gather gradient of \(dy.count) elements for output \(g.out)") }
        var dx = [Float](repeating: 0, count: try checkedCount(shape))
        var k = 0
        for o in 0..<g.outer {
            for p in g.positions {
                let base = (o * g.extent + p) * g.inner
                for i in 0..<g.inner { dx[base + i] += dy[k + i] }
                k += g.inner
            }
        }
        return dx
    }

    /// Gather's sizes: the blocks before the axis (`outer`), the checked positions along it, the block after it (`inner`).
    struct GatherLayout {
        let outer: Int, extent: Int, inner: Int, positions: [Int], out: [Int]
        init(_ shape: [Int], _ indices: IntTensor, axis: Int) throws(KernelError) {
            let a = try normalizedAxis(axis, rank: shape.count, "Gather axis")
            extent = shape[a]
            outer = shape[..<a].reduce(1, *)
            inner = shape[(a + 1)...].reduce(1, *)
            var positions: [Int] = []
            for i in indices.values {
                guard i >= -Int64(extent), i < Int64(extent) else { throw KernelError("Gather index \(i) is outside -\(extent)..<\(extent)") }
                positions.append(Int(i < 0 ? i + Int64(extent) : i))
            }
            self.positions = positions
            out = Array(shape[..<a]) + indices.shape + Array(shape[(a + 1)...])
            _ = try checkedCount(out)
        }
    }

    static func slice(_ x: ONNXValue, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws(KernelError) -> ONNXValue {
        let rank = x.shape.count
        let axisList = axes ?? Array(0..<starts.count)
        let stepList = steps ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axisList.count == starts.count, stepList.count == starts.count else {
            throw KernelError("Slice starts, ends, axes and steps differ in length")
        }
        var begin = [Int](repeating: 0, count: rank), step = [Int](repeating: 1, count: rank), out = x.shape
        for k in 0..<starts.count {
            let a = try normalizedAxis(axisList[k], rank: rank, "Slice axis")
            let d = x.shape[a]
            guard stepList[k] != 0 else { throw KernelError("Slice step 0") }
            // A step of |s| ≥ d takes at most the first element, as the step d does: clamped, the
            // arithmetic below (and the stride `s·stride`) cannot overflow whatever the file says.
            let s = stepList[k] > 0 ? Swift.min(stepList[k], Swift.max(d, 1)) : Swift.max(stepList[k], -Swift.max(d, 1))
            // Clamp as ONNX says: negative values count from the end, then clip to the valid range.
            func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(v < 0 ? (v <= Int.min + d ? lo : v + d) : v, lo), hi) }
            let b = s > 0 ? clamp(starts[k], 0, d) : clamp(starts[k], 0, d - 1)
            let e = s > 0 ? clamp(ends[k], 0, d) : clamp(ends[k], -1, d - 1)
            let length = s > 0 ? Swift.max(0, (e - b + s - 1) / s) : Swift.max(0, (b - e - s - 1) / -s)
            begin[a] = b; step[a] = s; out[a] = length
        }
        let strides = rowMajorStrides(x.shape)
        let offset = zip(begin, strides).map { $0 * $1 }.reduce(0, +)
        return try x.strided(out, offset: offset, strides: zip(step, strides).map { $0 * $1 })
    }

    static func squeeze(_ x: ONNXValue, axes: [Int]?) throws(KernelError) -> ONNXValue {
        let rank = x.shape.count
        var drop = Set<Int>()
        if let axes {
            for axis in axes {
                let a = try normalizedAxis(axis, rank: rank, "Squeeze axis")
                guard x.shape[a] == 1 else { throw KernelError("Squeeze axis \(axis) of shape \(x.shape) is not 1") }
                drop.insert(a)
            }
        } else {
            drop = Set(x.shape.indices.filter { x.shape[$0] == 1 })
        }
        return try x.reshaped(x.shape.indices.filter { !drop.contains($0) }.map { x.shape[$0] })
    }

    static func unsqueeze(_ x: ONNXValue, axes: [Int]) throws(KernelError) -> ONNXValue {
        let rank = x.shape.count + axes.count
        var inserted = Set<Int>()
        for axis in axes { guard inserted.insert(try normalizedAxis(axis, rank: rank, "Unsqueeze axis")).inserted else { throw KernelError("Unsqueeze axes \(axes) repeat an axis") } }
        var shape: [Int] = [], rest = x.shape.makeIterator()
        for i in 0..<rank { shape.append(inserted.contains(i) ? 1 : (rest.next() ?? 1)) }
        return try x.reshaped(shape)
    }

    /// Broadcasts x to `target` (NumPy rules in both directions, as ONNX Expand says).
    static func expand(_ x: ONNXValue, _ target: [Int]) throws(KernelError) -> ONNXValue {
        let out = try broadcastShape(x.shape, target)
        let strides = broadcastStrides(x.shape, to: out)
        return try x.strided(out, strides: strides)
    }

    static func cast(_ x: ONNXValue, toFloat: Bool, toBool: Bool) throws(KernelError) -> ONNXValue {
        switch (x, toFloat) {
        case (.float, true): return x
        case let (.int(t), true): return .float(try floatResult(t.shape, t.values.map { Float($0) }))
        case let (.float(t), false):
            return .int(try makeInt(t.shape, t.scalars.map { toBool ? ($0 != 0 ? 1 : 0) : (Int64(exactly: $0.rounded(.towardZero)) ?? 0) }))
        case let (.int(t), false): return toBool ? .int(try makeInt(t.shape, t.values.map { $0 != 0 ? 1 : 0 })) : x
        }
    }
}
