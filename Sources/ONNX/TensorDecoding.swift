import CheckpointFormat
import Tensors

/// `TensorProto` → `NDArray`, with the stated shape sized through `ElementCount` and compared
/// with the data actually present before anything is allocated.
enum TensorDecoding {
    /// The dtype for an ONNX `TensorProto.DataType` code, nil for types Basin does not read
    /// (string, complex, bfloat16, 8-bit floats, 4-bit integers).
    static func dtype(_ code: Int) -> DType? {
        switch code {
        case 1: return .float32
        case 2: return .uint8
        case 3: return .int8
        case 4: return .uint16
        case 5: return .int16
        case 6: return .int32
        case 7: return .int64
        case 9: return .bool
        case 10: return .float16
        case 11: return .float64
        case 12: return .uint32
        case 13: return .uint64
        default: return nil
        }
    }

    /// The tensor's data as an `NDArray` of its stated dtype and shape.
    /// - Throws: `ONNXError.invalidTensor` naming `name` for external data, an unread dtype,
    ///   a negative or overflowing shape, or data of another size than the shape needs.
    static func array(_ t: Onnx_TensorProto, name: String, path: String) throws(ONNXError) -> NDArray {
        func fail(_ reason: String) -> ONNXError { .invalidTensor(path: path, tensor: name, reason: reason) }
        if t.dataLocation == .external || !t.externalData.isEmpty {
            let location = t.externalData.first { $0.key == "location" }?.value ?? "?"
            throw fail("data stored outside the file ('\(location)'); Basin reads self-contained .onnx files only (save with save_as_external_data=False)")
        }
        guard let dtype = dtype(Int(t.dataType)) else { throw fail("element type \(t.dataType) is not read (float, double, float16 and integer types are)") }
        let shape = t.dims.map { Int($0) }
        let count: Int, byteCount: Int
        do {
            count = try ElementCount.of(shape)
            byteCount = try ElementCount.bytes(shape, elementSize: dtype.size)
        } catch { throw fail("\(error)") }
        var bytes: [UInt8]
        if !t.rawData.isEmpty || count == 0 {
            guard t.rawData.count == byteCount else {
                throw fail("raw_data holds \(t.rawData.count) bytes, shape \(shape) of \(dtype.rawValue) needs \(byteCount)")
            }
            bytes = [UInt8](t.rawData)
        } else {
            func check(_ field: String, _ n: Int) throws(ONNXError) {
                guard n == count else { throw fail("\(field) holds \(n) values, shape \(shape) needs \(count)") }
            }
            bytes = []
            switch dtype {
            case .float32:
                try check("float_data", t.floatData.count)
                bytes.reserveCapacity(byteCount)
                for v in t.floatData { append(&bytes, v.bitPattern) }
            case .float64:
                try check("double_data", t.doubleData.count)
                bytes.reserveCapacity(byteCount)
                for v in t.doubleData { append(&bytes, v.bitPattern) }
            case .int64:
                try check("int64_data", t.int64Data.count)
                bytes.reserveCapacity(byteCount)
                for v in t.int64Data { append(&bytes, UInt64(bitPattern: v)) }
            case .uint32, .uint64:
                try check("uint64_data", t.uint64Data.count)
                bytes.reserveCapacity(byteCount)
                for v in t.uint64Data {
                    if dtype == .uint32 { append(&bytes, UInt32(truncatingIfNeeded: v)) } else { append(&bytes, v) }
                }
            case .int32, .int16, .int8, .uint16, .uint8, .bool, .float16:
                try check("int32_data", t.int32Data.count)
                bytes.reserveCapacity(byteCount)
                for v in t.int32Data {
                    switch dtype.size {
                    case 1: bytes.append(UInt8(truncatingIfNeeded: v))
                    case 2: append(&bytes, UInt16(truncatingIfNeeded: v))
                    default: append(&bytes, UInt32(bitPattern: v))
                    }
                }
            }
        }
        // Reached only with the data present, so this bounds empty tensors like [0, 2⁶²], whose
        // dimensions later window and padding arithmetic would overflow on.
        if let d = shape.first(where: { $0 > maxElementsPerValue }) {
            throw fail("dimension \(d) of shape \(shape) is larger than the \(maxElementsPerValue) Basin allows")
        }
        do { return try NDArray(dtype: dtype, shape: shape, bytes: bytes) } catch { throw fail("\(error)") }
    }

    private static func append<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
