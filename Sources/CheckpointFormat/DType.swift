import Foundation

/// The element types Basin's archives can hold, named as NumPy names them.
///
/// Checkpoints written by the trainer hold `float32`; imported tensors keep the dtype
/// they came with (a PyTorch `num_batches_tracked` stays `int64`), so an import
/// round-trips exactly. Conversion to the float32 that analyses compute in is always
/// an explicit call (`NDArray.floatTensor()`), never an implicit cast.
public enum DType: String, Codable, Sendable, CaseIterable {
    case float16, float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .int8, .uint8: return 1
        case .float16, .int16, .uint16: return 2
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// NumPy's type code without byte order (`f4`, `i8`, `b1` …).
    public var numpyCode: String {
        switch self {
        case .float16: return "f2"
        case .float32: return "f4"
        case .float64: return "f8"
        case .int8: return "i1"
        case .int16: return "i2"
        case .int32: return "i4"
        case .int64: return "i8"
        case .uint8: return "u1"
        case .uint16: return "u2"
        case .uint32: return "u4"
        case .uint64: return "u8"
        case .bool: return "b1"
        }
    }

    /// The little-endian NumPy `descr` Basin writes (`<f4`; `|u1` for one-byte types).
    public var numpyDescr: String { (size == 1 ? "|" : "<") + numpyCode }

    /// The safetensors dtype name (`F32`, `I64`, `BOOL` …).
    public var safetensorsName: String {
        switch self {
        case .bool: return "BOOL"
        case .float16: return "F16"
        case .float32: return "F32"
        case .float64: return "F64"
        case .int8: return "I8"
        case .int16: return "I16"
        case .int32: return "I32"
        case .int64: return "I64"
        case .uint8: return "U8"
        case .uint16: return "U16"
        case .uint32: return "U32"
        case .uint64: return "U64"
        }
    }

    /// The dtype for a NumPy type code (`f4`, `i8` …), or nil.
    public init?(numpyCode: String) {
        guard let d = DType.allCases.first(where: { $0.numpyCode == numpyCode }) else { return nil }
        self = d
    }

    /// The dtype for a safetensors name, or nil (`BF16` is handled by the safetensors reader).
    public init?(safetensorsName: String) {
        guard let d = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = d
    }

    public var isFloatingPoint: Bool { self == .float16 || self == .float32 || self == .float64 }
}
