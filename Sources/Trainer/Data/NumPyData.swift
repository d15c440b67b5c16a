import CheckpointFormat
import Foundation
import Tensors

/// Datasets from NumPy arrays: `X.npy` + `y.npy`, or two arrays of one `.npz` — what
/// `np.save("X.npy", X.numpy())` writes from a PyTorch evaluation set.
///
/// Inputs are `[N] + sampleShape` in the model's layout (`[N, 1, 28, 28]` or `[N, 784]`), stored
/// as float32, float64, float16 or uint8, and read **as stored**: a uint8 image is 0…255 unless
/// `scale` says otherwise (`--scale 0.00392156862745098` for 1/255). No normalisation is
/// guessed, because a guess that differs from the user's PyTorch transform changes every number.
/// Labels are one integer class index per sample (`[N]` or `[N, 1]`; int64 as PyTorch saves them,
/// int32, int16, int8, uint8, uint16), in `0..<CSVDataset.maximumClasses`.
/// Shapes come from the files and were checked by the readers (`NDArray`); counts are compared
/// here before anything is built.
public enum NumPyDataset {
    /// The input dtypes accepted (integers other than uint8 are more likely labels given by mistake).
    static let inputTypes: [DType] = [.float32, .float64, .float16, .uint8]
    static let labelTypes: [DType] = [.int64, .int32, .int16, .int8, .uint8, .uint16]

    /// Reads `X.npy` and `y.npy`.
    /// - Throws: `TrainerError.dataset` naming the file and what is wrong.
    public static func read(inputs: String, labels: String, scale: Double, name: String? = nil) throws(TrainerError) -> Dataset {
        // The inputs' header now, their data once everything else is checked: straight from
        // the file into the float32 buffer the tensor keeps (`NPYInput.floats`).
        let x: NPYInput, y: NDArray
        do { x = try NPYInput(path: inputs) } catch { throw .dataset("\(error)") }
        do { y = try NPYFile.read(path: labels) } catch { throw .dataset("\(error)") }
        return try dataset(dtype: x.dtype, shape: x.shape, inputsLabel: inputs, y, labelsLabel: labels, scale: scale,
                           name: name ?? URL(fileURLWithPath: inputs).deletingPathExtension().lastPathComponent) {
            (s: Float) throws(TrainerError) -> ([Float], Int?) in
            do { return try x.floats(scale: s) } catch { throw .dataset("\(error)") }
        }
    }

    /// Reads two arrays of an `.npz`: `inputsKey` (default `x` or `X`) and `labelsKey` (default `y` or `Y`).
    /// - Throws: `TrainerError.dataset` naming the file and the keys it holds when one is missing.
    public static func read(npz path: String, inputsKey: String?, labelsKey: String?, scale: Double) throws(TrainerError) -> Dataset {
        let arrays: [(name: String, array: NDArray)]
        do { arrays = try NPZ.read(path: path) } catch { throw .dataset("\(error)") }
        func find(_ key: String?, _ defaults: [String], _ role: String) throws(TrainerError) -> (String, NDArray) {
            let keys = key.map { [$0] } ?? defaults
            for k in keys { if let a = arrays.first(where: { $0.name == k }) { return (k, a.array) } }
            throw .dataset("\(path): no array \(keys.map { "'\($0)'" }.joined(separator: " or ")) for the \(role); it holds \(arrays.map(\.name).joined(separator: ", ")) (name them: npz:\(path):INPUTS,LABELS)")
        }
        let (xk, x) = try find(inputsKey, ["x", "X"], "inputs")
        let (yk, y) = try find(labelsKey, ["y", "Y"], "labels")
        return try dataset(dtype: x.dtype, shape: x.shape, inputsLabel: "\(path): entry '\(xk)'", y, labelsLabel: "\(path): entry '\(yk)'",
                           scale: scale, name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent) {
            (s: Float) throws(TrainerError) -> ([Float], Int?) in
            var values = x.floats()
            if s != 1 { for i in values.indices { values[i] *= s } }
            return (values, x.firstNonFiniteIndex())
        }
    }

    /// Checks the inputs' dtype and shape and the labels, then reads the inputs as float32
    /// (`values(scale)`: the values times `scale` unless it is 1, and the first stored
    /// non-finite index) and checks those.
    static func dataset(dtype: DType, shape: [Int], inputsLabel: String, _ y: NDArray, labelsLabel: String, scale: Double, name: String,
                        values: (Float) throws(TrainerError) -> ([Float], Int?)) throws(TrainerError) -> Dataset {
        let x = (dtype: dtype, shape: shape)
        guard inputTypes.contains(x.dtype) else {
            throw .dataset("\(inputsLabel): inputs of dtype \(x.dtype.rawValue); expected \(inputTypes.map(\.rawValue).joined(separator: ", "))")
        }
        guard x.shape.count >= 2, x.shape[0] > 0, x.shape.dropFirst().allSatisfy({ $0 > 0 }) else {
            throw .dataset("\(inputsLabel): inputs of shape \(x.shape); expected [N, …] with N ≥ 1 samples (in the model's layout, e.g. [N, 1, 28, 28] or [N, 784])")
        }
        guard labelTypes.contains(y.dtype) else {
            throw .dataset("\(labelsLabel): labels of dtype \(y.dtype.rawValue); expected integer class indices (\(labelTypes.map(\.rawValue).joined(separator: ", ")))")
        }
        guard y.shape.count == 1 || (y.shape.count == 2 && y.shape[1] == 1) else {
            throw .dataset("\(labelsLabel): labels of shape \(y.shape); expected [N] (one class index per sample)")
        }
        guard y.shape[0] == x.shape[0] else {
            throw .dataset("\(labelsLabel): \(y.shape[0]) labels for the \(x.shape[0]) samples of \(inputsLabel)")
        }
        let validScale = scale.isFinite && Float(scale).isFinite && scale != 0
        let (scalars, nonFinite) = try values(validScale ? Float(scale) : 1)
        if let i = nonFinite { throw .dataset("\(inputsLabel): element \(i) is NaN or infinite") }
        let values = y.doubles()
        var labels: [Int] = []
        labels.reserveCapacity(values.count)
        for (i, v) in values.enumerated() {
            guard v >= 0, v < Double(CSVDataset.maximumClasses) else {
                throw .dataset("\(labelsLabel): label \(Int(v)) of sample \(i) is not a class index in 0..<\(CSVDataset.maximumClasses)")
            }
            labels.append(Int(v))
        }
        guard validScale else { throw .dataset("scale must be a finite, non-zero float32, got \(scale)") }
        return try Dataset(name: name, inputs: IDX.tensor(x.shape, scalars), labels: labels, classes: (labels.max() ?? 0) + 1)
    }
}
