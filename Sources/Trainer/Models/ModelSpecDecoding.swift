import CheckpointFormat
import Foundation

extension ModelSpec {
    /// What each field of a model spec holds, for messages that name a missing or wrong field.
    static let fieldHelp: [String: String] = [
        "kind": "the architecture: \(Kind.allCases.map(\.rawValue).joined(separator: ", "))",
        "inputShape": "the per-sample input shape, e.g. [1, 28, 28] or [784]",
        "classes": "the number of output classes (logits), e.g. 10",
        "widths": "hidden widths (mlp) or [conv1, conv2, fc1, fc2] (shallow-cnn), e.g. [512, 256]",
        "depth": "VGG depth 11/13/16/19 or ResNet depth 6n+2",
        "widthMultiplier": "channel multiplier (1 = the paper's widths)",
        "batchNorm": "true or false",
    ]

    /// Decodes a model spec a user wrote (`--model-spec model.json`) or a manifest stored.
    ///
    /// `JSONDecoder`'s own errors (`keyNotFound(CodingKeys(stringValue: "classes" …`) do not say
    /// what to write; this names the field and what it holds, on one line.
    /// - Parameter path: the file named in the error.
    /// - Throws: `CheckpointError.invalidInput` naming the file and the field.
    public static func decode(json data: Data, path: String) throws(CheckpointError) -> ModelSpec {
        do { return try decodeJSON(ModelSpec.self, from: data, describe: describe) } catch {
            throw .invalidInput(path: path, detail: "model spec: " + error.line)
        }
    }

    /// Decodes a model spec held as a JSON value (a manifest's `model`).
    public static func decode(_ value: JSONValue, path: String) throws(CheckpointError) -> ModelSpec {
        let data: Data
        do { data = try JSONEncoder().encode(value) } catch { throw .invalidInput(path: path, detail: "model spec: \(error)") }
        return try decode(json: data, path: path)
    }

    /// One line for a decoding error: the field, what is wrong and what it should hold
    /// (`describeDecoding` with the model spec's field help).
    static func describe(_ error: any Error) -> String {
        let decoding = error as? DecodingError
        if case let .dataCorrupted(context)? = decoding, context.codingPath.last?.stringValue == "kind" {
            return "the field 'kind' is not one Basin builds" + (fieldHelp["kind"].map { " (\($0))" } ?? "")
        }
        let line = describeDecoding(error, help: { fieldHelp[$0] })
        if case .keyNotFound? = decoding { return line + "; see docs/TRAINING.md" }
        return line
    }
}
