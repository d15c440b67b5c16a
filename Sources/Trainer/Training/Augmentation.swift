import Tensors

/// Data augmentation for NCHW image batches, as torchvision's `RandomCrop(size, padding)` and
/// `RandomHorizontalFlip()`: zero-pad by `cropPadding`, crop back to H×W at a uniform offset, then
/// mirror with probability ½. Draws come from the stream the caller passes (one per iteration).
public struct Augmentation: Codable, Equatable, Sendable {
    /// Padding for the random crop; 0 disables cropping.
    public var cropPadding: Int
    /// Random horizontal flips.
    public var horizontalFlip: Bool

    public init(cropPadding: Int = 4, horizontalFlip: Bool = true) {
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
    }

    /// Augments every image of `inputs` `[B, C, H, W]` independently; other ranks pass through.
    public func apply(to inputs: Tensor<Float>, rng: inout RandomGenerator) -> Tensor<Float> {
        guard inputs.rank == 4, cropPadding > 0 || horizontalFlip else { return inputs }
        let b = inputs.shape[0], c = inputs.shape[1], h = inputs.shape[2], w = inputs.shape[3]
        var out = Tensor<Float>(zeros: inputs.shape)
        let pad = cropPadding
        inputs.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<b {
                    let dy = pad > 0 ? rng.nextInt(below: 2 * pad + 1) - pad : 0
                    let dx = pad > 0 ? rng.nextInt(below: 2 * pad + 1) - pad : 0
                    let flip = horizontalFlip && rng.nextInt(below: 2) == 1
                    for ch in 0..<c {
                        let base = (i * c + ch) * h * w
                        for y in 0..<h {
                            let sy = y + dy
                            guard sy >= 0 && sy < h else { continue }
                            for x in 0..<w {
                                let sx = (flip ? w - 1 - x : x) + dx
                                if sx >= 0 && sx < w { dst[base + y * w + x] = src[base + sy * w + sx] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
