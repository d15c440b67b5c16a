import CheckpointFormat
import Foundation

/// Reading a run's `metrics.jsonl`: one JSON object per line (Basin's runs write a `kind` —
/// `step`, `epoch` — and an `iteration`; a hand-written log of an imported run may hold any
/// numeric fields). Everything that draws or groups by these lines (the report's
/// training curves, the walk's epochs) reads them here, so a damaged line is an error naming
/// it everywhere, never a silently shorter curve.
public enum MetricsRecords {
    /// The records of `path`, in order; empty when the file does not exist. A last line
    /// without its newline is a write a kill interrupted (`train --resume` removes it) and is
    /// left out; any other line that is not a record is an error.
    /// - Throws: `CheckpointError.invalidInput` naming the file and the line.
    public static func records(_ path: String) throws -> [[String: Any]] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let bytes = try FileReader.contents(of: path)
        var out: [[String: Any]] = []
        var start = 0, line = 0
        while let end = bytes[start...].firstIndex(of: 0x0A) {
            line += 1
            defer { start = end + 1 }
            if end == start { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes[start..<end]))) as? [String: Any] else {
                throw CheckpointError.invalidInput(path: path, detail: "line \(line) is not a JSON object")
            }
            out.append(object)
        }
        return out
    }

    /// The numeric fields of each record (booleans left out).
    public static func numbers(_ path: String) throws -> [[String: Double]] {
        try records(path).map { object in
            var row: [String: Double] = [:]
            for (k, v) in object { if let n = v as? NSNumber, !isBoolean(n) { row[k] = n.doubleValue } }
            return row
        }
    }

    /// A JSON `true`/`false`. Not `v is Bool`: Foundation bridges every NSNumber holding 0 or 1
    /// (`"epoch": 1`, `"val_acc": 1.0`) to Bool, which dropped those values; JSONSerialization
    /// makes booleans, and only booleans, with the `char` encoding.
    static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }
}
