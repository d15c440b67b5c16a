import Foundation
import Tensors

/// An n-dimensional array as stored on disk: dtype, shape and the raw little-endian,
/// C-order bytes. This is what .npy, .npz and safetensors entries decode to, before any
/// conversion.
public struct NDArray: Sendable, Equatable {
    public private(set) var dtype: DType
    public private(set) var shape: [Int]
    /// `shape.product × dtype.size` bytes, little-endian, row-major.
    public private(set) var bytes: [UInt8]

    /// Number of elements. The initialisers guarantee `bytes.count == count × dtype.size`,
    /// so this division is exact and never overflows, whatever the shape.
    public var count: Int { bytes.count / dtype.size }

    /// - Throws: `NDArrayError.invalidShape` for a negative dimension, `.tooLarge` when the
    ///   shape's byte size overflows `Int` (checked before any use), `.byteCountMismatch`
    ///   when the byte count does not match shape and dtype.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws(NDArrayError) {
        let expected: Int
        // `ElementCount` refuses `[2^62, 4, 0]` too: it holds no elements, but the plain
        // `shape.reduce(1, *)` that tensors and analyses compute would still trap on it.
        do {
            expected = try ElementCount.bytes(shape, elementSize: dtype.size)
        } catch {
            switch error {
            case .negativeDimension: throw .invalidShape(shape)
            case .tooLarge: throw .tooLarge(dtype: dtype, shape: shape)
            }
        }
        guard expected == bytes.count else {
            throw .byteCountMismatch(dtype: dtype, shape: shape, expected: expected, got: bytes.count)
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// The float32 array holding a tensor's scalars (a plain memory copy on little-endian hosts).
    public init(_ tensor: Tensor<Float>) {
        dtype = .float32
        shape = tensor.shape
        bytes = tensor.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
    }

    /// The float64 array holding a tensor's scalars.
    public init(_ tensor: Tensor<Double>) {
        dtype = .float64
        shape = tensor.shape
        bytes = tensor.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
    }

    /// The elements converted to `Double`, whatever the stored dtype (exact for every
    /// dtype except 64-bit integers beyond 2⁵³).
    public func doubles() -> [Double] {
        let n = count
        return bytes.withUnsafeBytes { raw -> [Double] in
            func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
            }
            switch dtype {
            // float64 copied as it lies (little-endian, as `floats()` copies float32), float32
            // widened in one loop into the array's storage.
            case .float32:
                return [Double](unsafeUninitializedCapacity: n) { buf, initialized in
                    for i in 0..<n { buf[i] = Double(Float(bitPattern: load(UInt32.self, i))) }
                    initialized = n
                }
            case .float64:
                return [Double](unsafeUninitializedCapacity: n) { buf, initialized in
                    UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(8 * n)]))
                    initialized = n
                }
            case .float16: return (0..<n).map { Double(halfToFloat(load(UInt16.self, $0))) }
            case .int8: return (0..<n).map { Double(Int8(bitPattern: raw[$0])) }
            case .uint8: return (0..<n).map { Double(raw[$0]) }
            case .bool: return (0..<n).map { raw[$0] == 0 ? 0 : 1 }
            case .int16: return (0..<n).map { Double(load(Int16.self, $0)) }
            case .uint16: return (0..<n).map { Double(load(UInt16.self, $0)) }
            case .int32: return (0..<n).map { Double(load(Int32.self, $0)) }
            case .uint32: return (0..<n).map { Double(load(UInt32.self, $0)) }
            case .int64: return (0..<n).map { Double(load(Int64.self, $0)) }
            case .uint64: return (0..<n).map { Double(load(UInt64.self, $0)) }
            }
        }
    }

    /// The array as a float32 tensor. `float32` data is copied bit for bit; every other
    /// dtype is converted element by element (float64 rounds to nearest).
    public func floatTensor() -> Tensor<Float> {
        Self.tensor(shape, floats())
    }

    /// The elements as float32, as `floatTensor()` converts them.
    public func floats() -> [Float] {
        if dtype == .float32 {
            return [Float](unsafeUninitializedCapacity: count) { buf, initialized in
                bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(buf).copyMemory(from: $0) }
                initialized = count
            }
        }
        return doubles().map { Float($0) }
    }

    /// The array as a float64 tensor (exact for float16/32/64 and integers up to 2⁵³).
    public func doubleTensor() -> Tensor<Double> {
        Self.tensor(shape, doubles())
    }

    /// The tensor of `shape` holding `scalars`. Every initialiser established
    /// `scalars.count == ElementCount.of(shape)` (checked, non-negative, no overflow) and the
    /// stored properties cannot change afterwards, so `Tensor(shape:scalars:)` cannot throw
    /// here; reaching the failure branch would be a bug in this file, never in a user's file —
    /// and a tensor of another shape must never stand in silently.
    private static func tensor<T: BLASScalar>(_ shape: [Int], _ scalars: [T]) -> Tensor<T> {
        do { return try Tensor(shape: shape, scalars: scalars) } catch {
            preconditionFailure("NDArray invariant broken: \(scalars.count) scalars for shape \(shape) (\(error))")
        }
    }

    /// Index of the first NaN or infinite element of a floating-point array, if any.
    public func firstNonFiniteIndex() -> Int? {
        guard dtype.isFloatingPoint else { return nil }
        if dtype == .float32 {
            return bytes.withUnsafeBytes { raw in
                (0..<count).first { !Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))).isFinite }
            }
        }
        return doubles().firstIndex { !$0.isFinite }
    }
}

/// IEEE 754 half precision to single precision (exact).
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: value = mantissa · 2⁻²⁴.
        let v = Float(mantissa) * 0x1p-24
        return sign == 0 ? v : -v
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}

/// bfloat16 to single precision (exact: bfloat16 is the top half of a float32).
func bfloat16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

/// An array whose bytes do not fit its shape and dtype.
public enum NDArrayError: Error, Equatable, CustomStringConvertible {
    case invalidShape([Int])
    case byteCountMismatch(dtype: DType, shape: [Int], expected: Int, got: Int)
    /// A shape whose byte size overflows `Int`: no file or memory can hold it.
    case tooLarge(dtype: DType, shape: [Int])

    public var description: String {
        switch self {
        case let .invalidShape(shape): return "invalid shape \(shape)"
        case let .tooLarge(dtype, shape): return "\(dtype.rawValue) array of shape \(shape) is larger than any file or memory can hold"
        case let .byteCountMismatch(dtype, shape, expected, got):
            return "\(dtype.rawValue) array of shape \(shape) needs \(expected) bytes, got \(got)"
        }
    }
}
