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
        do { return try JSONDecoder().decode(ModelSpec.self, from: data) } catch let error as DecodingError {
            throw .invalidInput(path: path, detail: "model spec: " + describe(error))
        } catch {
            throw .invalidInput(path: path, detail: "model spec: \(error)")
        }
    }

    /// Decodes a model spec held as a JSON value (a manifest's `model`).
    public static func decode(_ value: JSONValue, path: String) throws(CheckpointError) -> ModelSpec {
        let data: Data
        do { data = try JSONEncoder().encode(value) } catch { throw .invalidInput(path: path, detail: "model spec: \(error)") }
        return try decode(json: data, path: path)
    }

    /// One line for a decoding error: the field, what is wrong and what it should hold.
    static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            let parts = (path + (key.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return parts.isEmpty ? "the top level" : "the field '" + parts.joined(separator: ".").replacingOccurrences(of: ".[", with: "[") + "'"
        }
        func help(_ key: String?) -> String { key.flatMap { fieldHelp[$0] }.map { " (\($0))" } ?? "" }
        switch error {
        case let .keyNotFound(key, context):
            return "\(field(context.codingPath, key)) is missing\(help(key.stringValue)); see docs/TRAINING.md"
        case let .typeMismatch(type, context):
            return "\(field(context.codingPath)) is not \(article(type))\(help(context.codingPath.last?.stringValue))"
        case let .valueNotFound(type, context):
            return "\(field(context.codingPath)) is null, expected \(article(type))\(help(context.codingPath.last?.stringValue))"
        case let .dataCorrupted(context):
            if context.codingPath.last?.stringValue == "kind" {
                return "the field 'kind' is not one Basin builds\(help("kind"))"
            }
            return context.codingPath.isEmpty ? "not valid JSON" : "\(field(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func article(_ type: Any.Type) -> String {
        switch "\(type)" {
        case "Int": return "an integer"
        case "Double", "Float": return "a number"
        case "Bool": return "true or false"
        case "String": return "a string"
        case let t where t.hasPrefix("Array"): return "an array"
        case let t where t.hasPrefix("Dictionary"): return "an object"
        default: return "a \(type)"
        }
    }
}
