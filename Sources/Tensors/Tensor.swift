/// A dense tensor: a shape and its scalars in one contiguous, row-major (C-order) buffer.
///
/// Shapes follow PyTorch's conventions: a dense layer's weight is `[out, in]`, a
/// convolution's is OIHW `[out, in, kh, kw]`, an activation matrix is
/// `[datapoints, neurons]`. A rank-0 tensor (shape `[]`) holds one scalar.
///
/// Storage is a Swift array, so copies are copy-on-write and a tensor can be passed
/// to BLAS as one pointer without copying.
public struct Tensor<Scalar: BLASScalar>: Sendable, Equatable {
    /// The extent of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// All elements in row-major order; `scalars.count == shape.reduce(1, *)` always.
    public internal(set) var scalars: [Scalar]

    /// A tensor from its shape and row-major scalars.
    /// - Throws: `TensorError.countMismatch` when `scalars.count` is not the product of `shape`,
    ///   `TensorError.tooLarge` when that product overflows,
    ///   `TensorError.negativeDimension` when a dimension is negative.
    public init(shape: [Int], scalars: [Scalar]) throws(TensorError) {
        if let bad = shape.first(where: { $0 < 0 }) { throw .negativeDimension(shape: shape, dimension: bad) }
        guard let expected = try? ElementCount.of(shape) else { throw .tooLarge(shape: shape) }
        guard expected == scalars.count else {
            throw .countMismatch(shape: shape, expected: expected, got: scalars.count)
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of the given shape with every element equal to `value`.
    /// (Inlinable so the fill is specialised for the scalar type at the call site.)
    @inlinable public init(shape: [Int], repeating value: Scalar) {
        let clamped = shape.map { Swift.max($0, 0) }
        self.init(uncheckedShape: clamped, scalars: Array(repeating: value, count: clamped.reduce(1, *)))
    }

    /// A tensor of zeros.
    @inlinable public init(zeros shape: [Int]) { self.init(shape: shape, repeating: 0) }

    /// A rank-1 tensor holding `scalars`.
    public init(vector scalars: [Scalar]) {
        self.shape = [scalars.count]
        self.scalars = scalars
    }

    /// Shape and storage already known to agree (used inside the module after a computation).
    @usableFromInline init(uncheckedShape shape: [Int], scalars: [Scalar]) {
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of another scalar type with the same shape, converted element by element.
    public init<Other: BLASScalar>(converting other: Tensor<Other>) {
        self.shape = other.shape
        self.scalars = other.scalars.map { Scalar($0) }
    }

    /// The `n × n` identity matrix.
    public static func identity(_ n: Int) -> Tensor {
        var t = Tensor(zeros: [n, n])
        for i in 0..<n { t.scalars[i * n + i] = 1 }
        return t
    }

    /// Number of elements.
    public var count: Int { scalars.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Rows of a matrix (first dimension); 1 for a vector.
    public var rows: Int { rank >= 2 ? shape[0] : 1 }
    /// Columns of a matrix: the product of all but the first dimension.
    public var columns: Int { rank >= 2 ? shape.dropFirst().reduce(1, *) : (shape.first ?? 1) }

    /// Element `i` of the row-major buffer.
    public subscript(flat i: Int) -> Scalar {
        get { scalars[i] }
        set { scalars[i] = newValue }
    }

    /// Element `(row, column)` of a matrix (rank 2).
    public subscript(row: Int, column: Int) -> Scalar {
        get { scalars[row * shape[1] + column] }
        set { scalars[row * shape[1] + column] = newValue }
    }

    /// The same scalars under another shape with the same element count.
    /// - Throws: `TensorError.countMismatch` if the counts differ.
    public func reshaped(_ newShape: [Int]) throws(TensorError) -> Tensor {
        try Tensor(shape: newShape, scalars: scalars)
    }

    /// The transpose of a matrix, `[m, n] → [n, m]`.
    /// - Throws: `TensorError.rankMismatch` unless the tensor is rank 2.
    public func transposed() throws(TensorError) -> Tensor {
        guard rank == 2 else { throw .rankMismatch(operation: "transpose", expected: 2, got: shape) }
        let m = shape[0], n = shape[1]
        var out = [Scalar](repeating: 0, count: m * n)
        scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                // Blocked so both sides stay in cache for large matrices.
                let block = 32
                for i0 in stride(from: 0, to: m, by: block) {
                    for j0 in stride(from: 0, to: n, by: block) {
                        for i in i0..<min(i0 + block, m) {
                            for j in j0..<min(j0 + block, n) { dst[j * m + i] = src[i * n + j] }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [n, m], scalars: out)
    }

    /// Calls `body` with a pointer to the contiguous scalars.
    public func withUnsafeBufferPointer<R>(
        _ body: (UnsafeBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with a mutable pointer to the contiguous scalars.
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    /// True when no element is NaN or ±∞.
    ///
    /// `x · 0` is 0 for every finite `x` and NaN for NaN and ±∞, so four running sums of
    /// `x · 0` stay 0 exactly when every element is finite: one branch-free pass that the
    /// compiler vectorises, instead of a per-element test (this guards every BLAS and LAPACK
    /// call, on matrices of millions of elements).
    @inlinable public var isFinite: Bool {
        scalars.withUnsafeBufferPointer { b in
            var s0: Scalar = 0, s1: Scalar = 0, s2: Scalar = 0, s3: Scalar = 0
            let n = b.count, blocks = n / 4
            for k in 0..<blocks {
                let i = 4 * k
                s0 += b[i] * 0; s1 += b[i + 1] * 0; s2 += b[i + 2] * 0; s3 += b[i + 3] * 0
            }
            for i in (4 * blocks)..<n { s0 += b[i] * 0 }
            return s0 + s1 + s2 + s3 == 0
        }
    }

    /// Index of the first NaN or infinite element, if any (for error messages).
    public var firstNonFiniteIndex: Int? { scalars.firstIndex { !$0.isFinite } }
}

/// Shape and size errors of tensor operations. Each names what was expected.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    case countMismatch(shape: [Int], expected: Int, got: Int)
    case negativeDimension(shape: [Int], dimension: Int)
    case rankMismatch(operation: String, expected: Int, got: [Int])
    case shapeMismatch(operation: String, left: [Int], right: [Int])
    /// A shape whose element count overflows (`ElementCount`).
    case tooLarge(shape: [Int])

    public var description: String {
        switch self {
        case let .countMismatch(shape, expected, got):
            return "shape \(shape) needs \(expected) elements, got \(got)"
        case let .negativeDimension(shape, dimension):
            return "shape \(shape) has a negative dimension \(dimension)"
        case let .rankMismatch(operation, expected, got):
            return "\(operation) needs a rank-\(expected) tensor, got shape \(got)"
        case let .shapeMismatch(operation, left, right):
            return "\(operation): shapes \(left) and \(right) do not agree"
        case let .tooLarge(shape):
            return "shape \(shape) has more elements than any memory can hold"
        }
    }
}
