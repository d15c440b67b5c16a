import CheckpointFormat
import Foundation
import Tensors

/// Reader for the CIFAR-10 binary version (`data_batch_1.bin` … `test_batch.bin`): records of one
/// label byte followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32×32).
public enum CIFAR10 {
    static let recordSize = 1 + 3 * 32 * 32

    /// Reads and concatenates binary batch files into `[N, 3, 32, 32]` inputs scaled to [0, 1].
    /// - Throws: `TrainerError.dataset` naming the file when it is unreadable, not a whole number of
    ///   records, or holds a label above 9.
    public static func dataset(name: String, files: [URL]) throws(TrainerError) -> Dataset {
        var pixels: [Float] = [], labels: [Int] = []
        for url in files {
            let data: [UInt8]
            do { data = try FileReader.contents(of: url.path) } catch { throw .dataset(error.description) }
            guard data.count % recordSize == 0, !data.isEmpty else {
                throw .dataset("\(url.path): \(data.count) bytes is not a whole number of \(recordSize)-byte CIFAR-10 records")
            }
            let bytes = data
            pixels.reserveCapacity(pixels.count + bytes.count)
            for r in 0..<(bytes.count / recordSize) {
                let start = r * recordSize
                guard bytes[start] < 10 else { throw .dataset("\(url.path): record \(r) has label \(bytes[start]) (expected 0–9)") }
                labels.append(Int(bytes[start]))
                for i in 1..<recordSize { pixels.append(Float(bytes[start + i]) / 255) }
            }
        }
        return try Dataset(name: name, inputs: IDX.tensor([labels.count, 3, 32, 32], pixels), labels: labels, classes: 10)
    }

    /// Per-channel means and standard deviations of the CIFAR-10 training set (the values used
    /// with `Dataset.normalized(mean:std:)` by most CIFAR recipes).
    public static let trainMean: [Float] = [0.4914, 0.4822, 0.4465]
    /// Per-channel standard deviations of the CIFAR-10 training set.
    public static let trainStd: [Float] = [0.2470, 0.2435, 0.2616]
}
