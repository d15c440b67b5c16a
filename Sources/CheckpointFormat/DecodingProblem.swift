import Foundation

/// One line for what a JSON decoder refused: the field (`the field 'layers[2].kind'`), what is
/// wrong with it and what it should hold. `DecodingError`'s own description is several lines of
/// coding-path dumps; every reader of JSON files (manifests, run.json, model specs, shard
/// results, submission records) words its refusals through this one function.
///
/// - Parameter help: what a field holds, by its last key (`classes` → "the number of output
///   classes"), appended in parentheses when known.
public func describeDecoding(_ error: any Error, help: (String) -> String? = { _ in nil }) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func field(_ path: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
        let parts = (path + (key.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
        return parts.isEmpty ? "the top level" : "the field '" + parts.joined(separator: ".").replacingOccurrences(of: ".[", with: "[") + "'"
    }
    func hint(_ key: String?) -> String { key.flatMap(help).map { " (\($0))" } ?? "" }
    switch error {
    case let .keyNotFound(key, context):
        return "\(field(context.codingPath, key)) is missing\(hint(key.stringValue))"
    case let .typeMismatch(type, context):
        return "\(field(context.codingPath)) is not \(article(type))\(hint(context.codingPath.last?.stringValue))"
    case let .valueNotFound(type, context):
        return "\(field(context.codingPath)) is null, expected \(article(type))\(hint(context.codingPath.last?.stringValue))"
    case let .dataCorrupted(context):
        guard !context.codingPath.isEmpty else { return "not valid JSON" }
        // Foundation says "Parsed JSON number <1.5> does not fit in Int." for 1.5 where an
        // integer belongs: say what was expected.
        if context.debugDescription.contains("does not fit in Int") {
            return "\(field(context.codingPath)) is not an integer\(hint(context.codingPath.last?.stringValue))"
        }
        return "\(field(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

private func article(_ type: Any.Type) -> String {
    switch "\(type)" {
    case "Int", "Int64", "UInt64": return "an integer"
    case "Double", "Float": return "a number"
    case "Bool": return "true or false"
    case "String": return "a string"
    case let t where t.hasPrefix("Array"): return "an array"
    case let t where t.hasPrefix("Dictionary"): return "an object"
    default: return "a \(type)"
    }
}

/// Decodes `T` from JSON bytes; a refusal is one line (`describeDecoding`).
///
/// Foundation reports a fractional or out-of-range number where an integer belongs
/// (`"epoch": 1.5`) as "The given data was not valid JSON", with no field. When the bytes do
/// parse as JSON, this finds the number: each non-integral or out-of-range number (at most 64)
/// is replaced by 0 in turn, and the first whose replacement gets the decoder past that
/// refusal is named (`the field 'epoch' is 1.5, not an integer`).
/// - Throws: `DecodingProblem` holding the line.
/// - Parameter describe: the words for every other refusal (a reader's own hints).
public func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data, decoder: JSONDecoder = JSONDecoder(),
                                     describe: (any Error) -> String = { describeDecoding($0) }) throws(DecodingProblem) -> T {
    do { return try decoder.decode(T.self, from: data) } catch {
        throw DecodingProblem(line: nonIntegerNumber(T.self, in: data, decoder: decoder, refusal: error) ?? describe(error))
    }
}

/// How many numbers `decodeJSON` tries replacing: each try decodes the whole document again,
/// so large documents (a manifest may hold 64 MiB) get fewer.
private func candidateLimit(bytes: Int) -> Int { bytes <= 1 << 20 ? 64 : bytes <= 16 << 20 ? 8 : 2 }

/// A JSON refusal in one line: the field and what it should hold.
public struct DecodingProblem: Error, CustomStringConvertible, Sendable {
    public let line: String
    public var description: String { line }
}

/// Whether a decoding error is Foundation's field-less "not valid JSON" (a type's own
/// top-level refusal, with its own words, is not).
private func fieldless(_ error: any Error) -> Bool {
    if case let .dataCorrupted(context)? = error as? DecodingError {
        return context.codingPath.isEmpty && context.debugDescription.lowercased().contains("not valid json")
    }
    return false
}

private func nonIntegerNumber<T: Decodable>(_ type: T.Type, in data: Data, decoder: JSONDecoder, refusal: any Error) -> String? {
    guard fieldless(refusal), let tree = try? JSONDecoder().decode(JSONValue.self, from: data) else { return nil }
    // The bytes are JSON: Foundation refused a number where an integer belongs.
    let unnamed = "a number where an integer belongs is fractional or out of range (the JSON itself parses)"
    let limit = candidateLimit(bytes: data.count)
    var candidates: [(path: [String], value: Double)] = []
    func collect(_ v: JSONValue, _ path: [String]) {
        guard candidates.count < limit else { return }
        switch v {
        case .number(let x) where x.rounded() != x || abs(x) >= 0x1p63: candidates.append((path, x))
        case .array(let items): for (i, item) in items.enumerated() { collect(item, path + ["[\(i)]"]) }
        case .object(let fields): for key in fields.keys.sorted() { if let item = fields[key] { collect(item, path + [key]) } }
        default: break
        }
    }
    collect(tree, [])
    func refused(_ value: JSONValue) -> Bool {
        guard let bytes = try? JSONEncoder().encode(value) else { return true }
        do { _ = try decoder.decode(T.self, from: bytes); return false } catch { return fieldless(error) }
    }
    // Re-encoding must keep the refusal, or a replacement cannot be told apart from it.
    guard refused(tree) else { return unnamed }
    for c in candidates where !refused(tree.replacing(at: c.path[...], with: .number(0))) {
        let name = c.path.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        let shown = abs(c.value) < 1e15 ? "\(c.value)" : String(format: "%g", c.value)
        return "the field '\(name)' is \(shown), not an integer" + (c.value.rounded() == c.value ? " in range" : "")
    }
    return unnamed
}

private extension JSONValue {
    func replacing(at path: ArraySlice<String>, with value: JSONValue) -> JSONValue {
        guard let head = path.first else { return value }
        switch self {
        case .object(var fields):
            fields[head] = fields[head]?.replacing(at: path.dropFirst(), with: value)
            return .object(fields)
        case .array(var items):
            if let i = Int(head.dropFirst().dropLast()), items.indices.contains(i) {
                items[i] = items[i].replacing(at: path.dropFirst(), with: value)
            }
            return .array(items)
        default: return self
        }
    }
}
