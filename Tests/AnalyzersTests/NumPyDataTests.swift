import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// `--data npy:…`/`npz:…`, `--train-first`, `--val-data` and `--split` (issue 13 item 4).
@Suite("Data from NumPy and the shared data options")
struct NumPyDataTests {
    /// 12 samples of 4 features (multiples of 1/4: exact in float32 and in CSV) and labels 0…2.
    static let features: [Double] = (0..<48).map { Double(($0 * 7) % 23) / 4 - 2 }
    static let labels: [Int] = (0..<12).map { ($0 * 5) % 3 }

    static func int64Array(_ values: [Int]) throws -> NDArray {
        var bytes: [UInt8] = []
        for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { bytes += $0 } }
        return try NDArray(dtype: .int64, shape: [values.count], bytes: bytes)
    }

    /// X.npy (float64), y.npy (int64), the same as data.npz (keys X, y) and data.csv (header, label last).
    static func writeFiles() throws -> String {
        let dir = LandscapeFixtures.folder("numpy-data")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let x = NDArray(try Tensor<Double>(shape: [12, 4], scalars: features))
        let y = try int64Array(labels)
        try NPYFile.write(x, to: dir + "/X.npy")
        try NPYFile.write(y, to: dir + "/y.npy")
        try NPZ.write([("X", x), ("y", y)], to: dir + "/data.npz")
        try NPZ.write([("inputs", x), ("targets", y)], to: dir + "/named.npz")
        var csv = "# the same data as X.npy, y.npy\nf0,f1,f2,f3,label\n"
        for i in 0..<12 { csv += (features[(i * 4)..<(i * 4 + 4)].map { String($0) } + [String(labels[i])]).joined(separator: ",") + "\n" }
        try csv.write(toFile: dir + "/data.csv", atomically: true, encoding: .utf8)
        return dir
    }

    func load(_ text: String, scale: Double = 1) throws -> Dataset {
        try DataSource(parsing: text).resolve(seed: 0, scale: scale).load().train
    }

    @Test func npyAndNpzEqualTheSameDataThroughCSV() throws {
        let dir = try Self.writeFiles()
        let csv = try load("csv:\(dir)/data.csv")
        for form in ["npy:\(dir)/X.npy,\(dir)/y.npy", "npz:\(dir)/data.npz", "npz:\(dir)/named.npz:inputs,targets"] {
            let d = try load(form)
            #expect(d.inputs.shape == [12, 4] && d.inputs.scalars == csv.inputs.scalars, "\(form)")
            #expect(d.labels == csv.labels && d.labels == Self.labels && d.classes == 3, "\(form)")
        }
        // Scale applies alike.
        #expect(try load("npy:\(dir)/X.npy,\(dir)/y.npy", scale: 0.5).inputs.scalars == (try load("csv:\(dir)/data.csv", scale: 0.5)).inputs.scalars)
    }

    @Test func uint8InputsAreReadAsStoredUnlessScaled() throws {
        let dir = try Self.writeFiles()
        let pixels: [UInt8] = (0..<24).map { UInt8($0 * 10) }
        try NPYFile.write(try NDArray(dtype: .uint8, shape: [6, 1, 2, 2], bytes: pixels), to: dir + "/img.npy")
        try NPYFile.write(try NDArray(dtype: .uint8, shape: [6], bytes: [0, 1, 2, 0, 1, 2]), to: dir + "/lab.npy")
        let d = try load("npy:\(dir)/img.npy,\(dir)/lab.npy")
        #expect(d.sampleShape == [1, 2, 2] && d.inputs.scalars == pixels.map(Float.init) && d.labels == [0, 1, 2, 0, 1, 2])
        let s = try load("npy:\(dir)/img.npy,\(dir)/lab.npy", scale: 1.0 / 255)
        #expect(s.inputs.scalars == pixels.map { Float($0) * Float(1.0 / 255) })
    }

    @Test(arguments: [("float-labels", "integer class indices"), ("short-labels", "11 labels for the 12 samples"),
                      ("negative-label", "label -1 of sample 0"), ("int-inputs", "inputs of dtype int64"), ("missing-key", "no array 'x' or 'X'")])
    func badArraysAreRefusedNamingTheFile(_ c: String, expected: String) throws {
        let dir = try Self.writeFiles()
        var form = "npy:\(dir)/X.npy,\(dir)/bad.npy"
        switch c {
        case "float-labels": try NPYFile.write(NDArray(try Tensor<Double>(shape: [12], scalars: Self.labels.map(Double.init))), to: dir + "/bad.npy")
        case "short-labels": try NPYFile.write(try Self.int64Array(Array(Self.labels.prefix(11))), to: dir + "/bad.npy")
        case "negative-label": try NPYFile.write(try Self.int64Array([-1] + Self.labels.dropFirst()), to: dir + "/bad.npy")
        case "int-inputs":
            try NPYFile.write(try Self.int64Array(Array(0..<12)), to: dir + "/bad.npy")
            form = "npy:\(dir)/bad.npy,\(dir)/y.npy"
        default:
            try NPZ.write([("images", try Self.int64Array([1]))], to: dir + "/bad.npz")
            form = "npz:\(dir)/bad.npz"
        }
        do { _ = try load(form); Issue.record("loaded \(c)") } catch let e as TrainerError {
            #expect(e.description.contains(expected) && e.description.contains("bad.np"), "\(e)")
        }
    }

    @Test(arguments: [("npy:a.npy", "npy takes X.npy,y.npy (inputs, then integer labels)"), ("npy:a,b,c", "npy takes X.npy,y.npy (inputs, then integer labels)"),
                      ("npz:", "npz takes FILE[:INPUTS,LABELS]"), ("npz:f.npz:x", "npz takes FILE[:INPUTS,LABELS], e.g. npz:eval.npz:X,y")])
    func malformedNumPyFormsAreUsageErrors(text: String, expected: String) {
        #expect(throws: DataSourceError.malformed(text, expected)) { _ = try DataSource(parsing: text) }
    }

    @Test func trainFirstTakesTheFirstSamplesExactly() throws {
        let dir = try Self.writeFiles()
        let data = "npy:\(dir)/X.npy,\(dir)/y.npy"
        let first = try EvaluationData.load(try DataOptions.parse(["--data", data, "--train-first", "5"]), run: nil, fallbackRun: nil, seed: 3)
        #expect(first.train.labels == Array(Self.labels.prefix(5)) && first.train.inputs.scalars == Self.features.prefix(20).map(Float.init))
        #expect(first.trainSelection == "first 5" && first.trainAvailable == 12 && first.validation == nil)
        let seeded = try EvaluationData.load(try DataOptions.parse(["--data", data, "--train-limit", "5"]), run: nil, fallbackRun: nil, seed: 3)
        #expect(seeded.train.count == 5 && seeded.trainSelection.hasPrefix("seeded random 5"))
        // Validation given separately, first N of it.
        let val = try EvaluationData.load(try DataOptions.parse(["--data", data, "--val-data", "csv:\(dir)/data.csv", "--val-first", "4"]),
                                          run: nil, fallbackRun: nil, seed: 3)
        #expect(val.validation?.labels == Array(Self.labels.prefix(4)) && val.validationSplit?.hasPrefix("val-data") == true)
        #expect(usageError(DataOptions.self, ["--data", data, "--train-first", "5", "--train-limit", "5"])?.contains("give one of") == true)
        #expect(usageError(DataOptions.self, ["--data", data, "--train-first", "0"])?.contains("at least 1") == true)
        #expect(usageError(DataOptions.self, ["--split", "train", "--val-data", data])?.contains("--split train evaluates no validation") == true)
    }

    @Test func dataIsReshapedToTheModelAndLabelsCheckedAgainstItsClasses() throws {
        let model = try Model(spec: .mlp(inputShape: [1, 2, 2], widths: [], classes: 3), rng: RandomGenerator(seed: 0))
        let flat = try Dataset(name: "flat", inputs: Tensor(shape: [12, 4], scalars: Self.features.map(Float.init)), labels: Self.labels, classes: 3)
        let fitted = try EvaluationData.fit(flat, model: model, modelPath: "m.ckpt", label: "X.npy")
        #expect(fitted.sampleShape == [1, 2, 2] && fitted.inputs.scalars == flat.inputs.scalars)
        let two = try Model(spec: .mlp(inputShape: [4], widths: [], classes: 2), rng: RandomGenerator(seed: 0))
        do { _ = try EvaluationData.fit(flat, model: two, modelPath: "m.ckpt", label: "X.npy"); Issue.record("label 2 accepted for 2 classes") } catch {
            #expect("\(error)" == "m.ckpt: the data (X.npy) has label 2, but the model has 2 classes (0..<2)")
        }
    }

    @Test func planeAndBarrierRunWithoutAValidationSplit() throws {
        let run = try LandscapeFixtures.convexRun()
        // The run's training data as NumPy arrays: no validation split comes with them.
        let spec = try RunSpec.load(run).data
        let train = try RunData.load(spec).train
        let dir = LandscapeFixtures.folder("plane-npy")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try NPYFile.write(NDArray(train.inputs), to: dir + "/X.npy")
        try NPYFile.write(try Self.int64Array(train.labels), to: dir + "/y.npy")
        let data = ["--data", "npy:\(dir)/X.npy,\(dir)/y.npy"]
        let context = { (name: String) in AnalysisContext(run: run, outputDirectory: dir + "/" + name, progress: .silent, threads: 1, seed: 0) }
        let plane = try PlaneAnalyzer(options: try PlaneAnalyzer.Options.parse(["--pair", "1,3", "--third", "2", "--grid", "3"] + data)).run(context("plane"))
        #expect(plane.splits == ["train"] && plane.settings.data.validationSplit == nil)
        let barrier = try BarrierAnalyzer(options: try BarrierAnalyzer.Options.parse(["--pairs", "1,3", "--points", "3"] + data)).run(context("barrier"))
        #expect(barrier.settings.splits == ["train"])
        // On the run's own data (validation held out) both splits are evaluated, as before.
        let both = try BarrierAnalyzer(options: try BarrierAnalyzer.Options.parse(["--pairs", "1,3", "--points", "3"])).run(context("both"))
        #expect(both.settings.splits == ["train", "val"])
        do {
            _ = try PlaneAnalyzer(options: try PlaneAnalyzer.Options.parse(["--pair", "1,3", "--third", "2", "--grid", "3", "--split", "val"] + data)).run(context("val"))
            Issue.record("--split val without validation data accepted")
        } catch let e as AnalysisError {
            #expect(e.description.contains("no validation or test split") && e.description.contains("--val-data"), "\(e)")
        }
    }
}
