import Foundation

/// One pass over JSON text that finds what `JSONSerialization` silently accepts: a key
/// repeated within one object (the parser keeps one of the values, so two readers may
/// disagree about the file) and nesting deeper than `maximumDepth`. Strings are skipped
/// with their escapes; keys are compared after unescaping.
enum JSONKeyScan {
    static let maximumDepth = 64

    /// A description of the first problem, or nil. Malformed JSON is left to the parser.
    static func problem(in bytes: [UInt8]) -> String? {
        // One frame per open container: the keys seen (objects only) and whether a key comes next.
        var frames: [(keys: Set<String>?, expectKey: Bool)] = []
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard frames.count < maximumDepth else { return "nested deeper than \(maximumDepth) levels" }
                frames.append(c == UInt8(ascii: "{") ? (Set(), true) : (nil, false))
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = frames.popLast()
                i += 1
            case UInt8(ascii: ","):
                if let last = frames.last, last.keys != nil { frames[frames.count - 1].expectKey = true }
                i += 1
            case UInt8(ascii: "\""):
                let start = i
                var escaped = false
                i += 1
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\") { escaped = true; i += 1 }
                    i += 1
                }
                guard i < bytes.count else { return nil }
                i += 1
                guard let top = frames.indices.last, frames[top].keys != nil, frames[top].expectKey else { continue }
                let token = Array(bytes[start..<i])
                let key = escaped ? ((try? JSONSerialization.jsonObject(with: Data(token), options: .fragmentsAllowed)) as? String)
                    : String(decoding: token.dropFirst().dropLast(), as: UTF8.self)
                guard let key else { return nil }
                if frames[top].keys?.contains(key) == true { return "key '\(key)' appears more than once" }
                // In place: a copy of the set per key made a header of n keys cost n².
                frames[top].keys?.insert(key)
                frames[top].expectKey = false
            default:
                i += 1
            }
        }
        return nil
    }
}
