import CheckpointFormat
import Foundation
import Tensors
import Trainer

/// Issue 14, items 3 and 4: data loaders and checkpoint I/O.
///
/// `loaders` generates its own files in `$BASIN_BENCH_DIR/basin-bench-io` (an MNIST-sized CSV,
/// IDX pair and `.npy` pair) and times each reader end to end — from the path to the `Dataset`
/// the trainer and analyzers use — in MB/s of file bytes.
///
/// `checkpoint` writes and reads 50 float32 tensors of 50M parameters in all (the state dict
/// of a 200 MB model), plain, zstd and gzip. `checkpoint-round` (never run by default) is one
/// plain write+read for bench/torch_io_reference.py, which interleaves it with torch.save and
/// torch.load on the same tensors: it leaves the checkpoint in `basin-bench-io/basin.ckpt` and
/// prints its timings as one JSON line.
enum IOBench {
    static func folder(_ directory: String) throws -> String {
        let d = directory + "/basin-bench-io"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func fileMB(_ path: String) -> Double {
        Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1e6
    }

    /// The checkpoint every section writes: `count` tensors of `[parameters / count / 1000, 1000]`.
    static func tensors(parameters: Int, count: Int) -> [(name: String, tensor: Tensor<Float>)] {
        var rng = RandomGenerator(seed: 1)
        let perTensor = parameters / count
        return (0..<count).map { i in
            ("features.\(i).weight", Tensor<Float>.randomNormal(shape: [perTensor / 1000, 1000], using: &rng))
        }
    }

    static func checkpoint(directory: String, parameters: Int, count: Int, quick: Bool) throws {
        let tensors = tensors(parameters: parameters, count: count).map { TensorSource(name: $0.name, tensor: $0.tensor) }
        let megabytes = Double(parameters * 4) / 1e6
        let manifest = CheckpointManifest(kind: .checkpoint, createdBy: "basin-bench")
        for compression in [Compression.none, .zstd, .gzip] where !(quick && compression == .gzip) {
            let path = directory + "/basin-bench-\(compression.rawValue).ckpt"
            let repeats = compression == .gzip ? 1 : 5
            var writes: [Double] = [], reads: [Double] = []
            for _ in 0..<repeats {
                writes.append(try seconds { try CheckpointWriter.write(tensors, manifest: manifest, to: path, compression: compression) })
                reads.append(try seconds {
                    let arrays = try CheckpointReader(path: path).arrays()
                    guard arrays.count == count else { throw BenchFailure("checkpoint read \(arrays.count) of \(count) tensors") }
                })
            }
            let size = fileMB(path)
            let label = "\(parameters / 1_000_000)M float32 params in \(count) tensors, \(compression.rawValue)"
            Results.record(section: "checkpoint", key: "write-\(compression.rawValue)", workload: "checkpoint write + fsync (SHA-256), \(label)",
                           seconds: writes, per: (megabytes, "MB"))
            Results.record(section: "checkpoint", key: "read-\(compression.rawValue)", workload: "checkpoint read + verify, \(label)",
                           seconds: reads, per: (megabytes, "MB"))
            row("checkpoint write+fsync, \(parameters / 1_000_000)M params, \(compression.rawValue)",
                String(format: "%7.0f MB/s  (%@ s, file %.0f MB)", megabytes / median(writes), spread(writes), size))
            row("checkpoint read+verify, \(parameters / 1_000_000)M params, \(compression.rawValue)",
                String(format: "%7.0f MB/s  (%@ s)", megabytes / median(reads), spread(reads)))
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// One plain write+read for bench/torch_io_reference.py; checks the values read back.
    static func checkpointRound(directory: String, parameters: Int, count: Int) throws {
        let named = tensors(parameters: parameters, count: count)
        let tensors = named.map { TensorSource(name: $0.name, tensor: $0.tensor) }
        let path = try folder(directory) + "/basin.ckpt"
        let manifest = CheckpointManifest(kind: .checkpoint, createdBy: "basin-bench")
        let cpu0 = cpuSeconds()
        let write = try seconds { try CheckpointWriter.write(tensors, manifest: manifest, to: path) }
        let cpu1 = cpuSeconds()
        var arrays: [String: NDArray] = [:]
        let read = try seconds { arrays = try CheckpointReader(path: path).arrays() }
        let cpu2 = cpuSeconds()
        for _ in 0..<(Int(ProcessInfo.processInfo.environment["BASIN_BENCH_PROFILE_READS"] ?? "") ?? 0) {
            arrays = try CheckpointReader(path: path).arrays()
        }
        for _ in 0..<(Int(ProcessInfo.processInfo.environment["BASIN_BENCH_PROFILE_WRITES"] ?? "") ?? 0) {
            try CheckpointWriter.write(tensors, manifest: manifest, to: path)
        }
        for t in named {
            guard case .some(let a) = arrays[t.name], a == NDArray(t.tensor) else {
                throw BenchFailure("checkpoint round: \(t.name) read back differently")
            }
        }
        print(String(format: "{\"write\": %.6f, \"read\": %.6f, \"write_cpu\": %.6f, \"read_cpu\": %.6f, \"parameters\": %d, \"tensors\": %d}",
                     write, read, cpu1 - cpu0, cpu2 - cpu1, parameters, count))
    }

    /// User + system CPU time of the process so far (all threads).
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    // MARK: loaders

    static func loaders(directory: String, quick: Bool) throws {
        let d = try folder(directory)
        let samples = quick ? 6_000 : 60_000
        var rng = RandomGenerator(seed: 14)
        let pixels = [UInt8](unsafeUninitializedCapacity: samples * 784) { b, n in
            for i in 0..<samples * 784 { b[i] = rng.nextInt(below: 4) == 0 ? 0 : UInt8(truncatingIfNeeded: rng.next()) }
            n = samples * 784
        }
        let labels = (0..<samples).map { _ in UInt8(rng.nextInt(below: 10)) }

        // CSV: MNIST as the usual `mnist_train.csv` (label first, integer pixels) and the same
        // values as floats (`%.6g` of pixel/255, label last).
        let csvInts = d + "/mnist.csv", csvFloats = d + "/mnist-float.csv"
        let integers = (0..<256).map { Array(String($0).utf8) }
        let floats = (0..<256).map { Array(String(format: "%.6g", Float($0) / 255).utf8) }
        var text = [UInt8](), floatText = [UInt8]()
        text.reserveCapacity(samples * 784 * 4)
        floatText.reserveCapacity(samples * 784 * 8)
        for s in 0..<samples {
            text += integers[Int(labels[s])]
            for k in 0..<784 {
                text.append(44); text += integers[Int(pixels[s * 784 + k])]
                floatText += floats[Int(pixels[s * 784 + k])]; floatText.append(44)
            }
            text.append(10)
            floatText += integers[Int(labels[s])]; floatText.append(10)
        }
        try AtomicFile.write(text, to: csvInts)
        try AtomicFile.write(floatText, to: csvFloats)

        // IDX: the MNIST files' layout.
        let idxImages = d + "/images-idx3-ubyte", idxLabels = d + "/labels-idx1-ubyte"
        func be(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        try AtomicFile.write([0, 0, 8, 3] + be(samples) + be(28) + be(28) + pixels, to: idxImages)
        try AtomicFile.write([0, 0, 8, 1] + be(samples) + labels, to: idxLabels)

        // .npy: float32 [N, 784] inputs (pixel/255) and int64 labels, as `np.save` writes them
        // from a PyTorch evaluation set; and uint8 images.
        let npyX = d + "/X.npy", npyY = d + "/y.npy", npyU8 = d + "/X-uint8.npy"
        let xf = try Tensor<Float>(shape: [samples, 784], scalars: pixels.map { Float($0) / 255 })
        try NPYFile.write(NDArray(xf), to: npyX)
        let y64 = labels.flatMap { l in withUnsafeBytes(of: Int64(l).littleEndian, Array.init) }
        try NPYFile.write(try NDArray(dtype: .int64, shape: [samples], bytes: y64), to: npyY)
        try NPYFile.write(try NDArray(dtype: .uint8, shape: [samples, 784], bytes: pixels), to: npyU8)

        let repeats = quick ? 3 : 5
        func measure(_ name: String, _ files: [String], _ load: () throws -> Dataset) throws {
            var times: [Double] = [], cpu: [Double] = []
            var data: Dataset?
            for _ in 0..<repeats {
                let c = cpuSeconds()
                times.append(try seconds { data = try load() })
                cpu.append(cpuSeconds() - c)
            }
            guard let data, data.count == samples else { throw BenchFailure("\(name): wrong sample count") }
            let mb = files.map(fileMB).reduce(0, +)
            Results.record(section: "loaders", key: name, workload: name, seconds: times, per: (mb, "MB"))
            row(name, String(format: "%7.0f MB/s  (%@ s, CPU %.3f s, %.0f MB)", mb / median(times), spread(times), median(cpu), mb))
        }
        try measure("load CSV, \(samples / 1000)k × 785 integers", [csvInts]) {
            try CSVDataset.read(URL(fileURLWithPath: csvInts), labelColumn: .first)
        }
        try measure("load CSV, \(samples / 1000)k × 785 floats (%.6g)", [csvFloats]) {
            try CSVDataset.read(URL(fileURLWithPath: csvFloats))
        }
        try measure("load IDX images + labels, \(samples / 1000)k", [idxImages, idxLabels]) {
            try IDX.dataset(name: "bench", images: URL(fileURLWithPath: idxImages), labels: URL(fileURLWithPath: idxLabels))
        }
        try measure("load npy: float32 X + int64 y, \(samples / 1000)k", [npyX, npyY]) {
            try NumPyDataset.read(inputs: npyX, labels: npyY, scale: 1)
        }
        try measure("load npy: uint8 X + int64 y, \(samples / 1000)k", [npyU8, npyY]) {
            try NumPyDataset.read(inputs: npyU8, labels: npyY, scale: 1.0 / 255)
        }
        try? FileManager.default.removeItem(atPath: d)
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// "median [min–max]".
    static func spread(_ xs: [Double]) -> String {
        String(format: "%.3f [%.3f–%.3f]", median(xs), xs.min() ?? .nan, xs.max() ?? .nan)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
