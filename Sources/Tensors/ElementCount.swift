/// Overflow-checked sizes of shapes read from files.
///
/// Every reader that takes a shape from a file (an .npy header, a safetensors header, a
/// manifest's tensor table, an IDX header, a model spec) computes the element count and
/// byte size through these two functions before it compares them with the bytes present
/// or allocates anything: `shape.reduce(1, *)` traps on a shape like `[2^62, 4]`.
public enum ElementCount {
    /// The product of `shape`'s dimensions (1 for a scalar shape `[]`).
    /// - Throws: `ShapeSizeError` when a dimension is negative or the product exceeds `Int.max`.
    public static func of(_ shape: [Int]) throws(ShapeSizeError) -> Int {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw .negativeDimension(shape: shape) }
        // The non-zero dimensions must multiply without overflow too: `[2^62, 4, 0]` holds no
        // element, but every later `shape.reduce(1, *)` over a part of it would trap.
        var n = 1
        for d in shape where d != 0 {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o { throw .tooLarge(shape: shape, elementSize: 1) }
            n = p
        }
        return shape.contains(0) ? 0 : n
    }

    /// `of(shape) × elementSize`, the byte size of a tensor of that shape.
    /// - Throws: `ShapeSizeError` when a dimension is negative or the size exceeds `Int.max`.
    public static func bytes(_ shape: [Int], elementSize: Int) throws(ShapeSizeError) -> Int {
        _ = try of(shape)
        // The non-zero dimensions' bytes must fit too (as for `of`), so that no part of an empty
        // shape overflows when a reader multiplies it by its element size.
        var n = max(elementSize, 0)
        for d in shape where d != 0 {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o { throw .tooLarge(shape: shape, elementSize: elementSize) }
            n = p
        }
        return shape.contains(0) ? 0 : n
    }
}

/// A shape whose size cannot be a real tensor's.
public enum ShapeSizeError: Error, Equatable, Sendable, CustomStringConvertible {
    case negativeDimension(shape: [Int])
    case tooLarge(shape: [Int], elementSize: Int)

    public var description: String {
        switch self {
        case let .negativeDimension(shape): return "shape \(shape) has a negative dimension"
        case let .tooLarge(shape, size):
            return size > 1 ? "shape \(shape) of \(size)-byte elements is larger than any file or memory can hold"
                            : "shape \(shape) has more elements than any file or memory can hold"
        }
    }
}
