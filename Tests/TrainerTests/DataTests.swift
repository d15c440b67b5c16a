import Foundation
import Testing
import Tensors
@testable import Trainer

@Suite("Datasets")
final class DataTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("basin-trainer-tests-\(UUID().uuidString)")

    deinit { try? FileManager.default.removeItem(at: directory) }

    func temporaryFile(_ bytes: [UInt8], _ name: String) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// The repository's `fixtures/fashion-mnist-mini` (256 train, 128 test images).
    static var fashionMini: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/fashion-mnist-mini")
    }

    @Test("the Fashion-MNIST fixture reads, and an MLP learns it")
    func fashionMiniFixture() throws {
        let dir = Self.fashionMini
        let train = try IDX.dataset(name: "fmnist-mini", images: dir.appendingPathComponent("train-images-idx3-ubyte"),
                                    labels: dir.appendingPathComponent("train-labels-idx1-ubyte"))
        let test = try IDX.dataset(name: "fmnist-mini-test", images: dir.appendingPathComponent("t10k-images-idx3-ubyte"),
                                   labels: dir.appendingPathComponent("t10k-labels-idx1-ubyte"))
        #expect(train.inputs.shape == [256, 1, 28, 28] && test.count == 128)
        #expect(Array(train.labels.prefix(5)) == [9, 0, 0, 3, 0])
        let model = try Model(spec: .mlp(inputShape: [1, 28, 28], widths: [64], classes: 10), rng: RandomGenerator(seed: 1))
        let loop = try TrainingLoop(model: model, optimizer: try SGD(learningRate: 0.05, momentum: 0.9),
                                    configuration: TrainingConfiguration(epochs: 15, batchSize: 32, schedule: .constant(0.05), seed: 1))
        let history = try loop.train(on: train, validation: test)
        #expect((history.last?.trainAccuracy ?? 0) > 0.9)
        #expect((history.last?.validationAccuracy ?? 0) > 0.6, "test accuracy \(history.last?.validationAccuracy ?? 0)")
    }

    @Test("IDX images and labels read into [N, 1, H, W] in [0, 1]")
    func idx() throws {
        let images = try temporaryFile([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 255, 51, 102], "img.idx")
        let labels = try temporaryFile([0, 0, 8, 1, 0, 0, 0, 2, 7, 3], "lbl.idx")
        let d = try IDX.dataset(name: "tiny", images: images, labels: labels)
        #expect(d.inputs.shape == [2, 1, 1, 2])
        #expect(d.inputs.scalars == [0, 1, 0.2, 0.4])
        #expect(d.labels == [7, 3])
    }

    @Test("IDX errors name the file", arguments: [
        ([0x1F, 0x8B, 8, 0], "bad.idx"), ([1, 2, 3, 4], "bad magic"), ([0, 0, 0x0D, 1, 0, 0, 0, 1], "not unsigned byte"),
        ([0, 0, 8, 1, 0, 0, 0, 5, 1], "holds"),
    ] as [([UInt8], String)])
    func idxErrors(_ bytes: [UInt8], _ fragment: String) throws {
        let url = try temporaryFile(bytes, "bad.idx")
        do {
            _ = try IDX.readBytes(url)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains(url.path) && error.description.contains(fragment), "\(error)")
        }
    }

    @Test("gzip-compressed IDX files read directly (Debian's Fashion-MNIST)",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")))
    func gzipIDX() throws {
        let dir = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
        let d = try IDX.dataset(name: "fashion-mnist-test", images: dir.appendingPathComponent("t10k-images-idx3-ubyte.gz"),
                                labels: dir.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        #expect(d.inputs.shape == [10_000, 1, 28, 28])
        // The fixture holds the first 128 test images: the compressed and raw files must agree.
        let mini = Self.fashionMini
        let m = try IDX.dataset(name: "mini", images: mini.appendingPathComponent("t10k-images-idx3-ubyte"),
                                labels: mini.appendingPathComponent("t10k-labels-idx1-ubyte"))
        #expect(Array(d.labels.prefix(128)) == m.labels)
        #expect((0..<(128 * 784)).allSatisfy { d.inputs[flat: $0] == m.inputs[flat: $0] })
    }

    @Test("CSV with a header, label last, scaled")
    func csv() throws {
        let url = try temporaryFile(Array("a,b,label\n0,16,1\n8,4,0\n\n".utf8), "digits.csv")
        let d = try CSVDataset.read(url, scale: 1.0 / 16)
        #expect(d.inputs.scalars == [0, 1, 0.5, 0.25])
        #expect(d.labels == [1, 0] && d.classes == 2)
        let bad = try temporaryFile(Array("1,2,0\n1,2\n".utf8), "bad.csv")
        #expect(throws: TrainerError.self) { try CSVDataset.read(bad) }
    }

    @Test("a CSV label that is not an integer class index is one line naming file, line and what was expected",
          arguments: ["inf", "nan", "1e30", "-1", "2.5", "x", "-inf"])
    func csvBadLabels(_ label: String) throws {
        let url = try temporaryFile(Array("a,b,label\n0,1,1\n2,3,\(label)\n".utf8), "labels.csv")
        #expect(throws: TrainerError.dataset("\(url.path):3: label '\(label)' is not an integer class index in 0..<65536")) {
            try CSVDataset.read(url)
        }
        #expect(throws: TrainerError.dataset("\(url.path):3: label '\(label)' is not an integer class index in 0..<65536")) {
            try CSVDataset.read(url, classes: nil)
        }
    }

    @Test("CSV labels beyond the given classes, non-finite features and ragged rows are refused with file and line")
    func csvBadRows() throws {
        let labels = try temporaryFile(Array("0,1,1\r\n2,3,7\r\n".utf8), "range.csv")
        #expect(throws: TrainerError.dataset("\(labels.path):2: label '7' is not an integer class index in 0..<5")) {
            try CSVDataset.read(labels, classes: 5)
        }
        for (value, what) in [("nan", "is not a finite number"), ("inf", "is not a finite number"), ("1e39", "is not a finite number"),
                              ("", "is not a number"), ("0x", "is not a number"), ("1 2", "is not a number")] {
            let url = try temporaryFile(Array("# comment\n0,1,1\n\(value),3,0\n".utf8), "features.csv")
            #expect(throws: TrainerError.dataset("\(url.path):3: field 1 '\(value)' \(what)")) { try CSVDataset.read(url) }
        }
        let ragged = try temporaryFile(Array("0,1,1\n\n2,3,4,0\n".utf8), "ragged.csv")
        #expect(throws: TrainerError.dataset("\(ragged.path):3: 4 fields, expected 3 as on line 1")) { try CSVDataset.read(ragged) }
        let scaled = try temporaryFile(Array("3e38,1\n".utf8), "scaled.csv")
        #expect(throws: TrainerError.dataset("\(scaled.path):1: feature 3e+38 × scale 16.0 is not a finite float32")) {
            try CSVDataset.read(scaled, scale: 16)
        }
        let first = try temporaryFile(Array("2, 0.5 ,0.25\n1,1,1\n".utf8), "first.csv")
        let d = try CSVDataset.read(first, labelColumn: .first)
        #expect(d.labels == [2, 1] && d.inputs.scalars == [0.5, 0.25, 1, 1] && d.classes == 3)
    }

    @Test("a large CSV parses as bytes: 2 000 rows of 785 fields give exactly the values written")
    func csvLarge() throws {
        var text = "label," + (0..<784).map { "p\($0)" }.joined(separator: ",") + "\n"
        for r in 0..<2000 { text += "\(r % 10)," + (0..<784).map { String(($0 * 7 + r) % 256) }.joined(separator: ",") + "\n" }
        let url = try temporaryFile(Array(text.utf8), "mnist.csv")
        let d = try CSVDataset.read(url, labelColumn: .first, scale: 1.0 / 255, sampleShape: [1, 28, 28])
        #expect(d.inputs.shape == [2000, 1, 28, 28] && d.classes == 10)
        #expect(d.labels[1234] == 4)
        #expect(d.inputs[flat: 1234 * 784 + 100] == Float((700 + 1234) % 256) * (1.0 / 255))
    }

    @Test("IDX headers are checked before anything is read by them", arguments: [
        ([0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0],
         "IDX header: shape [4294967295, 4294967295, 4294967295] has more elements than any file or memory can hold"),
        ([0, 0, 8, 200], "IDX header declares 200 dimensions; at most 16 are accepted"),
        ([0, 0, 8, 2, 0, 0, 0, 1], "truncated IDX header: 2 dimensions need 8 bytes, found 4"),
        ([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3], "header says 2 values (shape [2]) but the file holds 3"),
        ([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], "IDX type 0x0D (float (float32)) is not unsigned byte (0x08), the only type Basin reads"),
    ] as [([UInt8], String)])
    func idxHeaders(_ bytes: [UInt8], _ message: String) throws {
        let url = try temporaryFile(bytes, "hostile.idx")
        do {
            _ = try IDX.readBytes(url)
            Issue.record("expected an error")
        } catch {
            #expect(error == .dataset("\(url.path): \(message)"))
        }
    }

    @Test("a gzipped IDX file is decompressed only as far as its header says (a 16 kB file holding 16 MiB)")
    func idxBomb() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/hostile/bomb-labels-idx1-ubyte.gz")
        #expect(throws: TrainerError.dataset("\(url.path): header says 4 values (shape [4]) but more data follows")) {
            try IDX.readBytes(url)
        }
    }

    @Test("dataset settings out of range are refused before any data is read")
    func specValidation() throws {
        let bad: [(DatasetSpec, String)] = [
            (DatasetSpec(source: .blobs(classes: 2, perClass: 4, dimensions: 2), trainLimit: -1), "train limit must be at least 1, got -1"),
            (DatasetSpec(source: .blobs(classes: 2, perClass: 4, dimensions: 2), testLimit: -2), "test limit must be non-negative, got -2"),
            (DatasetSpec(source: .blobs(classes: 2, perClass: 4, dimensions: 2), validationCount: -3), "validation count must be non-negative, got -3"),
            (DatasetSpec(source: .csv(train: "x.csv", test: nil, scale: .infinity, sampleShape: nil)), "csv scale must be a finite, non-zero float32, got inf"),
        ]
        for (spec, message) in bad { #expect(throws: TrainerError.dataset(message)) { try RunData.load(spec) } }
        let duplicate = DatasetSpec(source: .blobs(classes: 3, perClass: 4, dimensions: 2), classSubset: [1, 1])
        #expect(throws: TrainerError.dataset("blobs: class subset names class 1 twice")) { try RunData.load(duplicate) }
        let outside = DatasetSpec(source: .blobs(classes: 3, perClass: 4, dimensions: 2), classSubset: [0, 5])
        #expect(throws: TrainerError.dataset("blobs: class subset names class 5; the data has classes 0..<3")) { try RunData.load(outside) }
    }

    @Test("PS10: simple and complex patterns in separate channels, constant over space, groups recorded")
    func ps10() throws {
        let d = try PS10.generate(samples: 400, height: 4, width: 4, noisyFraction: 0.1, rng: RandomGenerator(seed: 3))
        #expect(d.inputs.shape == [400, 6, 4, 4] && d.classes == 10)
        #expect(d.groups["simple"]?.count == 200 && d.groups["complex"]?.count == 200 && d.groups["noisy"]?.count == 40)
        let simple = Set(d.groups["simple"] ?? [])
        var patternsPerClass: [Int: Set<[Float]>] = [:]
        for i in 0..<d.count {
            let sample = (0..<96).map { d.inputs[flat: i * 96 + $0] }
            let active = simple.contains(i) ? 0..<48 : 48..<96, silent = simple.contains(i) ? 48..<96 : 0..<48
            #expect(silent.allSatisfy { sample[$0] == 0 })
            for c in 0..<3 { #expect(Set(sample[(active.lowerBound + 16 * c)..<(active.lowerBound + 16 * (c + 1))]).count == 1) }
            if simple.contains(i) && !(d.groups["noisy"] ?? []).contains(i) {
                patternsPerClass[d.labels[i], default: []].insert([sample[0], sample[16], sample[32]])
            }
        }
        #expect(patternsPerClass.values.allSatisfy { $0.count <= 10 })
        let again = try PS10.generate(samples: 400, height: 4, width: 4, noisyFraction: 0.1, rng: RandomGenerator(seed: 3))
        #expect(again.inputs == d.inputs && again.labels == d.labels)
    }

    /// Paper 003's split of "simple" and "complex" made checkable: a linear model (multinomial
    /// logistic regression on the 3 pattern values, trained here by plain full-batch gradient
    /// descent) labels every simple sample correctly and stays far from that on complex ones.
    @Test("PS10 by construction: a linear model separates the simple patterns and not the complex ones")
    func ps10SimpleIsLinearComplexIsNot() throws {
        let d = try PS10.generate(samples: 4000, height: 1, width: 1, rng: RandomGenerator(seed: 11))
        func points(_ group: String, channels: Range<Int>) -> (x: [[Double]], y: [Int]) {
            let members = d.groups[group] ?? []
            return (members.map { i in channels.map { Double(d.inputs[flat: i * 6 + $0]) } }, members.map { d.labels[$0] })
        }
        // Softmax regression with a bias, full batch gradient descent (the loss is convex), the
        // products through BLAS: X [n, 4] (a constant 1 appended), W [4, 10].
        func linearAccuracy(_ x: [[Double]], _ y: [Int]) throws -> Double {
            let n = x.count
            let features = try Tensor<Double>(shape: [n, 4], scalars: x.flatMap { $0 + [1] })
            var w = Tensor<Double>(zeros: [4, 10])
            var residual = [Double](repeating: 0, count: n * 10)
            for _ in 0..<1500 {
                let z = try Tensor.matmul(features, w)
                for i in 0..<n {
                    var m = -Double.infinity
                    for k in 0..<10 { m = max(m, z[flat: i * 10 + k]) }
                    var s = 0.0
                    for k in 0..<10 { residual[i * 10 + k] = Foundation.exp(z[flat: i * 10 + k] - m); s += residual[i * 10 + k] }
                    for k in 0..<10 { residual[i * 10 + k] = residual[i * 10 + k] / s - (k == y[i] ? 1 : 0) }
                }
                let g = try Tensor.matmul(features, try Tensor<Double>(shape: [n, 10], scalars: residual), transposeA: true)
                w = try Tensor<Double>(shape: [4, 10], scalars: (0..<40).map { w[flat: $0] - 16 * g[flat: $0] / Double(n) })
            }
            let z = try Tensor.matmul(features, w)
            let correct = (0..<n).filter { i in (0..<10).max { z[flat: i * 10 + $0] < z[flat: i * 10 + $1] } == y[i] }.count
            return Double(correct) / Double(n)
        }
        let simple = points("simple", channels: 0..<3), complex = points("complex", channels: 3..<6)
        #expect(simple.x.count == 2000 && complex.x.count == 2000)
        // The nearest-anchor rule is itself a linear classifier; it is exact on simple patterns.
        let (patterns, _) = PS10.patterns(rng: RandomGenerator(seed: 11))
        for (k, class_) in patterns.enumerated() {
            for p in class_ {
                let nearest = PS10.anchors.indices.min { a, b in
                    zip(PS10.anchors[a], p).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) < zip(PS10.anchors[b], p).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
                }
                let own = PS10.anchors.indices.min { a, b in
                    zip(PS10.anchors[a], class_[0]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) < zip(PS10.anchors[b], class_[0]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
                }
                #expect(nearest == own, "class \(k): a simple pattern is nearer another class's anchor")
            }
        }
        let simpleAccuracy = try linearAccuracy(simple.x, simple.y), complexAccuracy = try linearAccuracy(complex.x, complex.y)
        #expect(simpleAccuracy == 1, "linear model on simple patterns: \(simpleAccuracy)")
        #expect(complexAccuracy < 0.4, "linear model on complex patterns: \(complexAccuracy)")
    }

    @Test("label noise changes exactly the recorded labels")
    func labelNoise() throws {
        let d = try SyntheticData.blobs(classes: 4, perClass: 50, dimensions: 3, rng: RandomGenerator(seed: 1))
        let noisy = try d.withLabelNoise(fraction: 0.2, rng: RandomGenerator(seed: 2))
        let changed = (0..<d.count).filter { d.labels[$0] != noisy.labels[$0] }
        #expect(changed == noisy.groups["noisy"])
        #expect(changed.count == 40)
    }

    @Test("a seeded split is a partition and keeps groups")
    func split() throws {
        let d = try SyntheticData.spirals(classes: 3, perClass: 20, rng: RandomGenerator(seed: 1))
            .withLabelNoise(fraction: 0.5, rng: RandomGenerator(seed: 1))
        let (train, validation) = try d.split(validationCount: 15, rng: RandomGenerator(seed: 4))
        #expect(train.count == 45 && validation.count == 15)
        #expect((train.groups["noisy"]?.count ?? 0) + (validation.groups["noisy"]?.count ?? 0) == 30)
    }

    @Test("random crop shifts each image by at most the padding and fills with zeros")
    func randomCrop() throws {
        var rng = RandomGenerator(seed: 3)
        let h = 5, w = 6
        let image = (0..<(h * w)).map { Float($0 + 1) }
        let x = try Tensor<Float>(shape: [6, 1, h, w], scalars: Array((0..<6).map { _ in image }.joined()))
        let y = Augmentation(cropPadding: 2, horizontalFlip: false).apply(to: x, rng: &rng)
        for i in 0..<6 {
            let out = (0..<(h * w)).map { y[flat: i * h * w + $0] }
            let shifts = (-2...2).flatMap { dy in (-2...2).map { dx in (dy, dx) } }.filter { dy, dx in
                (0..<h).allSatisfy { r in (0..<w).allSatisfy { c in
                    let sr = r + dy, sc = c + dx
                    let expected: Float = (sr >= 0 && sr < h && sc >= 0 && sc < w) ? image[sr * w + sc] : 0
                    return out[r * w + c] == expected
                } }
            }
            #expect(!shifts.isEmpty, "image \(i) is not a shifted crop")
        }
    }

    @Test("per-channel normalisation")
    func normalization() throws {
        let d = try Dataset(name: "n", inputs: try Tensor<Float>(shape: [1, 2, 1, 2], scalars: [1, 3, 10, 20]), labels: [0], classes: 1)
        let n = try d.normalized(mean: [2, 15], std: [1, 5])
        #expect(n.inputs.scalars == [-1, 1, -1, 1])
        #expect(throws: TrainerError.self) { try d.normalized(mean: [0, 0, 0], std: [1, 1, 1]) }
    }

    @Test("augmentation without padding only mirrors")
    func flipOnly() throws {
        var rng = RandomGenerator(seed: 1)
        let x = try Tensor<Float>(shape: [8, 1, 1, 3], scalars: (0..<8).flatMap { _ in [1, 2, 3] as [Float] })
        let y = Augmentation(cropPadding: 0, horizontalFlip: true).apply(to: x, rng: &rng)
        let rows = (0..<8).map { i in (0..<3).map { y[flat: i * 3 + $0] } }
        #expect(rows.allSatisfy { $0 == [1, 2, 3] || $0 == [3, 2, 1] })
        #expect(rows.contains([3, 2, 1]) && rows.contains([1, 2, 3]))
    }
}

@Suite("CIFAR-10 binary batches")
struct CIFARTests {
    @Test("records split into label and planar RGB; a partial record is an error naming the file")
    func cifar() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("basin-trainer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var bytes: [UInt8] = []
        for label: UInt8 in [3, 7] { bytes.append(label); bytes += (0..<3072).map { UInt8(truncatingIfNeeded: Int($0) / 1024 * 100 + Int(label)) } }
        let url = dir.appendingPathComponent("data_batch_1.bin")
        try Data(bytes).write(to: url)
        let d = try CIFAR10.dataset(name: "cifar", files: [url])
        #expect(d.inputs.shape == [2, 3, 32, 32] && d.labels == [3, 7])
        #expect(d.inputs[flat: 3072 + 2048] == Float(207) / 255)
        let bad = dir.appendingPathComponent("bad.bin")
        try Data(bytes.dropLast()).write(to: bad)
        #expect(throws: TrainerError.dataset("\(bad.path): 6145 bytes is not a whole number of 3073-byte CIFAR-10 records")) {
            try CIFAR10.dataset(name: "cifar", files: [bad])
        }
    }
}

/// Generated datasets multiply their sizes into an allocation: a run spec asking for more than
/// any machine holds (or an overflowing product) is refused before anything is generated.
@Suite struct GeneratedDataSizeTests {
    @Test func oversizedOrOverflowingGeneratedSetsAreRefused() {
        #expect(throws: TrainerError.dataset("blobs (classes × perClass × dimensions) = [4611686018427387904, 4, 2] is more than 2147483648 values")) {
            try DatasetSpec(source: .blobs(classes: 1 << 62, perClass: 4, dimensions: 2)).validate()
        }
        #expect(throws: TrainerError.dataset("ps10 (samples × 6 channels × height × width) = [100000, 6, 4096, 4096] is more than 2147483648 values")) {
            try DatasetSpec(source: .ps10(samples: 100_000, noisyFraction: 0.1, height: 4096, width: 4096)).validate()
        }
        #expect(throws: TrainerError.dataset("spirals (classes × perClass × 2) must all be positive, got [3, -5, 2]")) {
            try DatasetSpec(source: .spirals(classes: 3, perClass: -5, noise: 0.1)).validate()
        }
        #expect(throws: TrainerError.dataset("ps10 noisy fraction must be in [0, 1], got 1.5")) {
            try DatasetSpec(source: .ps10(samples: 10, noisyFraction: 1.5, height: 8, width: 8)).validate()
        }
        #expect(throws: Never.self) { try DatasetSpec(source: .blobs(classes: 3, perClass: 10, dimensions: 2)).validate() }
    }
}

/// A header is a first line without numbers; a first data row with one damaged field is
/// refused, not silently dropped as a header.
@Suite struct CSVHeaderTests {
    @Test func aDamagedFirstRowIsRefusedNotTakenForAHeader() throws {
        let path = NSTemporaryDirectory() + "/basin-csv-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        FileManager.default.createFile(atPath: path, contents: Data("a,b,label\n0.5,1,0\n2,3,1\n".utf8))
        #expect(try CSVDataset.read(URL(fileURLWithPath: path)).count == 2)
        FileManager.default.createFile(atPath: path, contents: Data("O.5,1,0\n2,3,1\n".utf8))
        #expect { try CSVDataset.read(URL(fileURLWithPath: path)) } throws: { error in
            guard case .dataset(let message) = error as? TrainerError else { return false }
            return message.hasPrefix("\(path):1:")
        }
    }
}
