import Foundation
import Tensors

/// Reader for numeric CSV datasets such as the UCI optical digits (`optdigits.tra`): one sample
/// per line, comma-separated features, the integer class label in the last (or first) column.
public enum CSVDataset {
    /// Where the label is.
    public enum LabelColumn: String, Codable, Sendable { case first, last }

    /// Reads `url`; blank lines and lines starting with `#` are skipped, a first line that does not
    /// parse as numbers is taken as a header. Features are multiplied by `scale` (1/16 for optdigits).
    /// - Throws: `TrainerError.dataset` naming the file and line of the first malformed row.
    public static func read(_ url: URL, name: String? = nil, labelColumn: LabelColumn = .last, scale: Float = 1,
                            sampleShape: [Int]? = nil, classes: Int? = nil) throws(TrainerError) -> Dataset {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch { throw .dataset("\(url.path): cannot read (\(error.localizedDescription))") }
        var features: [Float] = [], labels: [Int] = []
        var width: Int?
        for (number, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let values = fields.map { Float($0) }
            if values.contains(where: { $0 == nil }) {
                if width == nil && labels.isEmpty { continue }  // header
                throw .dataset("\(url.path):\(number + 1): non-numeric field")
            }
            let row = values.compactMap { $0 }
            guard row.count >= 2 else { throw .dataset("\(url.path):\(number + 1): need features and a label") }
            if let w = width, w != row.count { throw .dataset("\(url.path):\(number + 1): \(row.count) fields, expected \(w)") }
            width = row.count
            let labelValue = labelColumn == .last ? row[row.count - 1] : row[0]
            guard labelValue >= 0, labelValue == labelValue.rounded() else {
                throw .dataset("\(url.path):\(number + 1): label \(labelValue) is not a non-negative integer")
            }
            labels.append(Int(labelValue))
            features.append(contentsOf: (labelColumn == .last ? row.dropLast() : row.dropFirst()).map { $0 * scale })
        }
        guard let w = width else { throw .dataset("\(url.path): no data rows") }
        let shape = sampleShape ?? [w - 1]
        guard shape.reduce(1, *) == w - 1 else { throw .dataset("\(url.path): \(w - 1) features do not fit sample shape \(shape)") }
        let k = classes ?? ((labels.max() ?? 0) + 1)
        return try Dataset(name: name ?? url.deletingPathExtension().lastPathComponent,
                           inputs: IDX.tensor([labels.count] + shape, features), labels: labels, classes: k)
    }
}
