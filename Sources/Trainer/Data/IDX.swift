import CheckpointFormat
import Foundation
import Tensors

/// Reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.): a 4-byte magic
/// `00 00 <type> <rank>`, `rank` big-endian UInt32 dimensions, then the data, row-major.
///
/// Basin reads the unsigned-byte type (0x08) that image and label files use; the other IDX
/// types (0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) are refused by name.
/// The header's size is checked before anything is read by it: at most `maximumRank`
/// dimensions, the element count overflow-checked (`ElementCount`), and the data must be
/// exactly that many bytes — a compressed file is decompressed only that far (plus one byte,
/// to prove nothing follows), so a small `.gz` cannot expand into gigabytes.
public enum IDX {
    /// Most dimensions accepted (image files have 3, label files 1).
    public static let maximumRank = 16

    static let typeNames: [UInt8: String] = [0x08: "unsigned byte", 0x09: "signed byte (int8)", 0x0B: "short (int16)",
                                             0x0C: "int (int32)", 0x0D: "float (float32)", 0x0E: "double (float64)"]

    /// Reads an unsigned-byte IDX tensor (type 0x08), raw or compressed (gzip, as Debian's
    /// `dataset-fashion-mnist` ships it, or zstd/xz/bzip2).
    ///
    /// - Throws: `TrainerError.dataset` naming the file when it cannot be read or decompressed, is
    ///   not IDX, not unsigned bytes, has a shape too large to exist, or holds fewer or more data
    ///   bytes than its header says.
    public static func readBytes(_ url: URL) throws(TrainerError) -> (shape: [Int], bytes: [UInt8]) {
        let path = url.path
        func fail(_ what: String) -> TrainerError { .dataset("\(path): \(what)") }
        do {
            let reader = try DecompressingReader(path: path)
            let magic = try reader.read(upTo: 4)
            guard magic.count == 4, magic[0] == 0, magic[1] == 0 else { throw fail("not an IDX file (bad magic)") }
            guard magic[2] == 0x08 else {
                let name = typeNames[magic[2]].map { " (\($0))" } ?? ""
                let hex = String(magic[2], radix: 16, uppercase: true)
                throw fail("IDX type 0x\(hex.count == 1 ? "0" + hex : hex)\(name) is not unsigned byte (0x08), the only type Basin reads")
            }
            let rank = Int(magic[3])
            guard rank <= maximumRank else { throw fail("IDX header declares \(rank) dimensions; at most \(maximumRank) are accepted") }
            let dims = try reader.read(upTo: 4 * rank)
            guard dims.count == 4 * rank else { throw fail("truncated IDX header: \(rank) dimensions need \(4 * rank) bytes, found \(dims.count)") }
            let shape = (0..<rank).map { d in dims[4 * d..<4 * d + 4].reduce(0) { $0 << 8 | Int($1) } }
            let count: Int
            do { count = try ElementCount.of(shape) } catch { throw fail("IDX header: \(error)") }
            let start = 4 + 4 * rank
            if !reader.isCompressed && reader.fileSize - start != count {
                throw fail("header says \(count) values (shape \(shape)) but the file holds \(reader.fileSize - start)")
            }
            if !reader.isCompressed {
                // The size matched exactly: one positioned read into storage of that size.
                return (shape, try FileReader.contents(of: path, from: start, count: count))
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(min(count, 1 << 26))
            while bytes.count < count {
                let chunk = try reader.read(upTo: min(count - bytes.count, 1 << 22))
                if chunk.isEmpty { throw fail("header says \(count) values (shape \(shape)) but the file holds \(bytes.count)") }
                bytes += chunk
            }
            guard try reader.read(upTo: 1).isEmpty else {
                throw fail("header says \(count) values (shape \(shape)) but more data follows")
            }
            return (shape, bytes)
        } catch let error as TrainerError {
            throw error
        } catch let error as CheckpointError {
            throw fail(error.description.hasPrefix(path) ? String(error.description.dropFirst(path.count + 2)) : error.description)
        } catch {
            throw fail("\(error)")
        }
    }

    /// An image/label pair of IDX files as a dataset with inputs `[N, 1, H, W]` scaled to [0, 1].
    /// - Throws: `TrainerError.dataset` when either file is unreadable or the counts disagree.
    public static func dataset(name: String, images: URL, labels: URL, classes: Int = 10) throws(TrainerError) -> Dataset {
        let (shape, pixels) = try readBytes(images)
        let (labelShape, labelBytes) = try readBytes(labels)
        guard shape.count == 3 else { throw .dataset("\(images.path): expected [N, H, W] images, got \(shape)") }
        guard labelShape == [shape[0]] else {
            throw .dataset("\(labels.path): \(labelShape) labels for \(shape[0]) images in \(images.path)")
        }
        if let bad = labelBytes.firstIndex(where: { Int($0) >= classes }) {
            throw .dataset("\(labels.path): label \(labelBytes[bad]) of item \(bad) is not a class index in 0..<\(classes)")
        }
        let x = try tensor([shape[0], 1, shape[1], shape[2]], unitFloats(pixels))
        return try Dataset(name: name, inputs: x, labels: labelBytes.map(Int.init), classes: classes)
    }

    /// `Float(b) / 255` for every byte, through a 256-entry table (the same values as the
    /// division, bit for bit, without a division per pixel).
    /// Both cores convert halves of a large image file, its pages mapped in first (a fresh
    /// 4-byte-per-pixel array otherwise takes a page fault per 4 KiB inside the loop).
    static func unitFloats(_ bytes: [UInt8]) -> [Float] {
        let table = (0..<256).map { Float($0) / 255 }
        let n = bytes.count
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            guard let base = out.baseAddress else { initialized = 0; return }
            FileReader.adviseHugePages(UnsafeMutableRawPointer(base), n * 4)
            let parts = n >= 1 << 20 ? 2 : 1
            let destination = SendablePointer(base)
            table.withUnsafeBufferPointer { t in
                bytes.withUnsafeBufferPointer { b in
                    let (tp, bp) = (SendablePointer(t.baseAddress), SendablePointer(b.baseAddress))
                    DispatchQueue.concurrentPerform(iterations: parts) { k in
                        guard let t = tp.pointer, let b = bp.pointer, let o = destination.pointer else { return }
                        let range = (n * k / parts)..<(n * (k + 1) / parts)
                        // Each worker has the kernel map (and zero) its own part's pages first.
                        FileReader.populate(UnsafeMutableRawPointer(o + range.lowerBound), range.count * 4)
                        for i in range { o[i] = t[Int(b[i])] }
                    }
                }
            }
            initialized = n
        }
    }

    static func tensor(_ shape: [Int], _ scalars: [Float]) throws(TrainerError) -> Tensor<Float> {
        do { return try Tensor(shape: shape, scalars: scalars) } catch { throw .dataset("\(error)") }
    }
}

/// A pointer handed to `concurrentPerform`'s workers, each writing its own part.
private struct SendablePointer<T>: @unchecked Sendable {
    let pointer: T?
    init(_ p: T?) { pointer = p }
}
