import Tensors

/// R-operators of the normalisations that use their own statistics (LayerNormalization over
/// its trailing dimensions, BatchNormalization with batch statistics over N and space): per
/// group, x̂ = (x − μ)·r with r = 1/√(σ² + ε), so
///     ẋ̂ = r·(ẋ − mean ẋ − x̂·mean(x̂ẋ)),   ṙ/r = −r·mean(x̂ẋ),
/// and for the backward dx = r·(g − mean g − x̂·mean(g x̂)), g = dy·scale, its motion
///     ṙ/r·dx + r·(ġ − mean ġ − ẋ̂·mean(g x̂) − x̂·mean(ġ x̂ + g ẋ̂)),   ġ = dy·ṡcale.
/// All in double, as the forward's statistics.
struct NormalizedGroup {
    let xhat: [Double], r: Double, txhat: [Double], rDotOverR: Double

    init(_ x: [Double], _ tx: [Double], epsilon: Float) {
        let n = Double(max(x.count, 1))
        let mean = x.reduce(0, +) / n
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let r = 1 / (variance + Double(epsilon)).squareRoot()
        let xhat = x.map { ($0 - mean) * r }
        let mt = tx.reduce(0, +) / n
        let mxt = zip(xhat, tx).reduce(0) { $0 + $1.0 * $1.1 } / n
        self.r = r
        self.xhat = xhat
        txhat = zip(xhat, tx).map { r * ($1 - mt - $0 * mxt) }
        rDotOverR = -r * mxt
    }

    /// The motion of the input gradient for g = dy·scale and ġ = dy·ṡcale (per element).
    func curvature(_ g: [Double], _ gdot: [Double]) -> [Double] {
        let n = Double(max(g.count, 1))
        let mg = g.reduce(0, +) / n, mgx = zip(g, xhat).reduce(0) { $0 + $1.0 * $1.1 } / n
        let mgd = gdot.reduce(0, +) / n
        var m2 = 0.0
        for i in g.indices { m2 += gdot[i] * xhat[i] + g[i] * txhat[i] }
        m2 /= n
        return g.indices.map { i in
            let dx = r * (g[i] - mg - xhat[i] * mgx)
            return rDotOverR * dx + r * (gdot[i] - mgd - txhat[i] * mgx - xhat[i] * m2)
        }
    }
}

extension Kernel {
    /// Element indices of each normalisation group: LayerNormalization's rows, or
    /// BatchNormalization's channels (over N and the spatial axes).
    static func normalizationGroups(_ shape: [Int], layerAxis: Int?) throws(KernelError) -> [[Int]] {
        if let layerAxis {
            let a = try normalizedAxis(layerAxis, rank: shape.count)
            let size = shape[a...].reduce(1, *), rows = shape[..<a].reduce(1, *)
            return (0..<rows).map { r in Array((r * size)..<((r + 1) * size)) }
        }
        guard shape.count >= 2 else { throw KernelError("BatchNormalization needs [N, C, …], got \(shape)") }
        let c = shape[1], inner = shape[2...].reduce(1, *)
        var groups = [[Int]](repeating: [], count: c)
        for ch in 0..<c {
            for n in 0..<shape[0] {
                let start = (n * c + ch) * inner
                groups[ch].append(contentsOf: start..<(start + inner))
            }
        }
        return groups
    }

    /// Tangent and curvature of a self-normalising kernel: `scaleAt(i)` maps element i to its
    /// scale (and bias) element. Returns ẏ, and the curvature for x and for the scale.
    static func normalizationRop(x: Tensor<Float>, tx: [Float], scale: Tensor<Float>, tScale: [Float], tBias: [Float]?,
                                 scaleIndex: (Int) -> Int, groups: [[Int]], dy: [Float]?, epsilon: Float)
        -> (tangent: [Float], input: [Float], scale: [Float]) {
        var ty = [Float](repeating: 0, count: x.count), cx = ty, cs = [Float](repeating: 0, count: scale.count)
        for group in groups {
            let ng = NormalizedGroup(group.map { Double(x.scalars[$0]) }, group.map { Double(tx[$0]) }, epsilon: epsilon)
            for (k, i) in group.enumerated() {
                let s = scaleIndex(i)
                ty[i] = Float(ng.txhat[k] * Double(scale.scalars[s]) + ng.xhat[k] * Double(tScale[s]) + Double(tBias?[s] ?? 0))
            }
            guard let dy else { continue }
            let g = group.map { Double(dy[$0]) * Double(scale.scalars[scaleIndex($0)]) }
            let gdot = group.map { Double(dy[$0]) * Double(tScale[scaleIndex($0)]) }
            for (k, c) in ng.curvature(g, gdot).enumerated() { cx[group[k]] = Float(c) }
            for (k, i) in group.enumerated() { cs[scaleIndex(i)] += Float(Double(dy[i]) * ng.txhat[k]) }
        }
        return (ty, cx, cs)
    }
}
