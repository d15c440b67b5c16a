import CheckpointFormat
import Foundation
import Tensors

/// Reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.): a 4-byte magic
/// `00 00 <type> <rank>`, `rank` big-endian UInt32 dimensions, then the data, row-major.
public enum IDX {
    /// Reads an unsigned-byte IDX tensor (type 0x08), raw or compressed (gzip, as Debian's
    /// `dataset-fashion-mnist` ships it, or zstd/xz/bzip2: anything `CompressedFile` reads).
    ///
    /// - Throws: `TrainerError.dataset` naming the file when it cannot be read or decompressed, is
    ///   not IDX, not unsigned bytes, or shorter than its header says.
    public static func readBytes(_ url: URL) throws(TrainerError) -> (shape: [Int], bytes: [UInt8]) {
        let b: [UInt8]
        do { b = try CompressedFile.read(path: url.path) } catch { throw .dataset("\(url.path): \(error.description)") }
        guard b.count >= 4, b[0] == 0, b[1] == 0 else { throw .dataset("\(url.path): not an IDX file (bad magic)") }
        guard b[2] == 0x08 else { throw .dataset("\(url.path): IDX type 0x\(String(b[2], radix: 16)) is not unsigned byte (0x08)") }
        let rank = Int(b[3])
        guard b.count >= 4 + 4 * rank else { throw .dataset("\(url.path): truncated IDX header") }
        var shape: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            shape.append(Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]))
        }
        let count = shape.reduce(1, *), start = 4 + 4 * rank
        guard b.count - start >= count else {
            throw .dataset("\(url.path): header says \(count) values but the file holds \(b.count - start)")
        }
        return (shape, Array(b[start..<(start + count)]))
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
        let x = try tensor([shape[0], 1, shape[1], shape[2]], pixels.map { Float($0) / 255 })
        return try Dataset(name: name, inputs: x, labels: labelBytes.map(Int.init), classes: classes)
    }

    static func tensor(_ shape: [Int], _ scalars: [Float]) throws(TrainerError) -> Tensor<Float> {
        do { return try Tensor(shape: shape, scalars: scalars) } catch { throw .dataset("\(error)") }
    }
}
