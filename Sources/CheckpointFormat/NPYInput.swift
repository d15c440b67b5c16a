import Foundation

/// An `.npy` file opened for reading: its header parsed and its size compared with the file
/// before any data is read (`NPYFile.read` is `NPYInput(path:).array()`).
///
/// `floats(scale:)` is the data loaders' route: the values as float32 in one pass from the
/// file into the final buffer — float32 data read straight into it, other dtypes converted
/// chunk by chunk as they arrive — with the first non-finite stored value found on the way,
/// instead of reading the bytes, checking them, then converting into another buffer.
public final class NPYInput {
    public let path: String
    public let header: NPY.Header
    private let file: FileReader

    /// - Throws: `CheckpointError` — `.invalidNPY` for a malformed header or a file that holds
    ///   fewer or more bytes than the header implies.
    public init(path: String) throws(CheckpointError) {
        self.path = path
        let file = try FileReader(path: path)
        let (header, _) = try NPY.readHeader(from: try file.read(at: 0, count: min(file.size, 4096)),
                                             invalid: { .invalidNPY(path: path, entry: nil, error: $0) }) {
            (needed: Int, _: [UInt8]) throws(CheckpointError) -> [UInt8]? in
            needed <= file.size ? try file.read(at: 0, count: needed) : nil
        }
        let present = file.size - header.dataOffset
        guard present >= header.dataByteCount else {
            throw .invalidNPY(path: path, entry: nil, error: .truncated(expectedBytes: header.dataByteCount, got: present))
        }
        guard present == header.dataByteCount else {
            throw .invalidNPY(path: path, entry: nil, error: .trailingBytes(expectedBytes: header.dataByteCount, got: present))
        }
        self.header = header
        self.file = file
    }

    public var dtype: DType { header.dtype }
    public var shape: [Int] { header.shape }

    /// The whole array, normalised to little-endian, C order.
    public func array() throws(CheckpointError) -> NDArray {
        let data = try file.read(at: header.dataOffset, count: header.dataByteCount)
        do { return try NPY.array(header: header, data: data) } catch { throw .invalidNPY(path: path, entry: nil, error: error) }
    }

    /// Bytes converted at a time: stays in the cache between reading and converting.
    static let chunk = 1 << 20

    /// The values as float32 in C order, each multiplied by `scale` unless it is 1 (float32
    /// data bit for bit; float64 rounded to nearest; float16, integers and bool exactly as
    /// `NDArray.floatTensor()` converts them), and the index of the first stored value that is
    /// NaN or infinite (nil for integer dtypes).
    public func floats(scale: Float = 1) throws(CheckpointError) -> (values: [Float], firstNonFinite: Int?) {
        let n = header.dataByteCount / max(header.dtype.size, 1)
        let fast: Set<DType> = [.float32, .float64, .float16, .uint8]
        guard fast.contains(header.dtype), !header.bigEndian, !(header.fortranOrder && header.shape.count > 1) else {
            let a = try array()
            var values = a.floats()
            if scale != 1 { for i in values.indices { values[i] *= scale } }
            return (values, a.firstNonFiniteIndex())
        }
        let size = header.dtype.size
        let perChunk = NPYInput.chunk / size
        var firstNonFinite: Int?
        var failure: CheckpointError?
        var raw = header.dtype == .float32 ? [] : [UInt8](repeating: 0, count: min(perChunk, n) * size)
        let values = [Float](unsafeUninitializedCapacity: n) { out, initialized in
            guard let base = out.baseAddress else { initialized = 0; return }
            FileReader.adviseHugePages(UnsafeMutableRawPointer(base), n * 4)
            var done = 0
            while done < n {
                let count = min(perChunk, n - done)
                let target = UnsafeMutableBufferPointer(rebasing: out[done..<done + count])
                do throws(CheckpointError) {
                    if header.dtype == .float32 {
                        try file.read(into: UnsafeMutableRawBufferPointer(target), at: header.dataOffset + done * 4)
                    } else {
                        let at = header.dataOffset + done * size
                        let bad = try raw.withUnsafeMutableBytes { r in
                            Result { () throws(CheckpointError) -> Int? in
                                let piece = UnsafeMutableRawBufferPointer(rebasing: r[0..<count * size])
                                try file.read(into: piece, at: at)
                                return NPYInput.convert(UnsafeRawBufferPointer(piece), header.dtype, into: target)
                            }
                        }.get()
                        if firstNonFinite == nil, let bad { firstNonFinite = done + bad }
                    }
                } catch {
                    failure = error
                    target.initialize(repeating: 0)
                    done += count
                    continue
                }
                if firstNonFinite == nil, header.dtype == .float32, let i = target.firstIndex(where: { !$0.isFinite }) {
                    firstNonFinite = done + i
                }
                if scale != 1 { for i in target.indices { target[i] *= scale } }
                done += count
            }
            initialized = n
        }
        if let failure { throw failure }
        return (values, firstNonFinite)
    }

    /// Float32 values of little-endian float64, float16 or uint8 bytes, and the index of the
    /// first NaN or infinite value *as stored* (a float64 beyond float32's range becomes ±∞
    /// here, as `NDArray.floatTensor()` makes it, but it was a finite number in the file).
    static func convert(_ raw: UnsafeRawBufferPointer, _ dtype: DType, into out: UnsafeMutableBufferPointer<Float>) -> Int? {
        var bad: Int?
        switch dtype {
        case .float64:
            for i in out.indices {
                let d = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
                if bad == nil, !d.isFinite { bad = i }
                out[i] = Float(d)
            }
        case .float16:
            for i in out.indices {
                let f = halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                if bad == nil, !f.isFinite { bad = i }
                out[i] = f
            }
        default:
            for i in out.indices { out[i] = Float(raw[i]) }
        }
        return bad
    }
}
