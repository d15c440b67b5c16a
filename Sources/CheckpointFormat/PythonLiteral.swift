/// The subset of Python literal syntax that `.npy` headers use: dicts, tuples, lists,
/// strings, integers, `True`/`False`/`None`.
///
/// The parser is iterative (an explicit stack, never recursion) with a nesting limit: a
/// header is attacker-controlled text of up to `NPY.maximumHeaderLength` bytes, and two
/// million `(` must give an error, not overflow the call stack. A real header nests two
/// levels (a dict holding the shape tuple); structured dtypes a few more.
enum PythonLiteral: Equatable {
    case string(String), bool(Bool), int(Int), none
    case tuple([PythonLiteral]), list([PythonLiteral])
    /// Keys in source order; a repeated key is refused while parsing.
    case dict([(key: String, value: PythonLiteral)])

    /// Deepest nesting of containers accepted.
    static let maximumDepth = 32

    static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case (.none, .none): return true
        case let (.tuple(x), .tuple(y)), let (.list(x), .list(y)): return x == y
        case let (.dict(x), .dict(y)): return x.map(\.key) == y.map(\.key) && x.map(\.value) == y.map(\.value)
        default: return false
        }
    }

    /// Parses `text`, which must hold exactly one literal (surrounding whitespace allowed).
    static func parse(_ text: String) throws(NPYError) -> PythonLiteral {
        var p = Parser(chars: Array(text.unicodeScalars))
        return try p.parse()
    }

    /// Parses a dict literal into a lookup table.
    static func parseDict(_ text: String) throws(NPYError) -> [String: PythonLiteral] {
        guard case let .dict(pairs) = try parse(text) else { throw .malformedHeader("header is not a dict literal") }
        return Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    private struct Frame {
        enum Kind { case dict, list, tuple }
        var kind: Kind
        var items: [PythonLiteral] = []
        var keys: [String] = []
        /// A dict's key whose value has not been read yet.
        var pendingKey: String?
        /// True right after the opening bracket or a comma: a closing bracket may follow.
        var mayClose = true

        var closer: Unicode.Scalar { kind == .dict ? "}" : kind == .list ? "]" : ")" }

        var value: PythonLiteral {
            switch kind {
            case .dict: return .dict(zip(keys, items).map { (key: $0, value: $1) })
            case .list: return .list(items)
            case .tuple: return .tuple(items)
            }
        }
    }

    private struct Parser {
        var chars: [Unicode.Scalar]
        var i = 0

        /// Python's own whitespace between tokens (space, tab, form feed, and line breaks inside
        /// the braces) — not Unicode's: NumPy refuses a header with a no-break space (0xA0) in it.
        mutating func skipWhitespace() {
            while i < chars.count, [" ", "\t", "\n", "\r", "\u{0C}"].contains(chars[i]) { i += 1 }
        }

        func fail(_ what: String) -> NPYError { .malformedHeader("\(what) at offset \(i)") }

        mutating func parse() throws(NPYError) -> PythonLiteral {
            var stack: [Frame] = []
            while true {
                // Expect a value, or the closing bracket of the innermost container.
                skipWhitespace()
                guard i < chars.count else { throw fail("unexpected end of header") }
                let c = chars[i]
                var value: PythonLiteral
                if let top = stack.last, c == top.closer, top.mayClose, top.pendingKey == nil {
                    i += 1
                    value = stack.removeLast().value
                } else if c == "{" || c == "(" || c == "[" {
                    guard stack.count < PythonLiteral.maximumDepth else { throw .nestingTooDeep(limit: PythonLiteral.maximumDepth) }
                    i += 1
                    stack.append(Frame(kind: c == "{" ? .dict : c == "[" ? .list : .tuple))
                    continue
                } else {
                    value = try scalar()
                }
                // Attach the complete value to its container; close containers as their brackets come.
                while true {
                    guard var top = stack.popLast() else {
                        skipWhitespace()
                        guard i == chars.count else { throw fail("unexpected text after the literal") }
                        return value
                    }
                    if top.kind == .dict && top.pendingKey == nil {
                        guard case let .string(key) = value else { throw fail("dict key is not a string") }
                        guard !top.keys.contains(key) else { throw fail("key '\(key)' repeated") }
                        skipWhitespace()
                        guard i < chars.count, chars[i] == ":" else { throw fail("expected ':'") }
                        i += 1
                        top.pendingKey = key
                        top.mayClose = false
                        stack.append(top)
                        break
                    }
                    if let key = top.pendingKey { top.keys.append(key); top.pendingKey = nil }
                    top.items.append(value)
                    skipWhitespace()
                    if i < chars.count, chars[i] == "," {
                        i += 1
                        top.mayClose = true
                        stack.append(top)
                        break
                    }
                    guard i < chars.count, chars[i] == top.closer else { throw fail("expected ',' or '\(top.closer)'") }
                    i += 1
                    value = top.value
                }
            }
        }

        /// A string, integer, `True`, `False` or `None`.
        mutating func scalar() throws(NPYError) -> PythonLiteral {
            let c = chars[i]
            if c == "'" || c == "\"" {
                i += 1
                var s = ""
                while i < chars.count, chars[i] != c { s.unicodeScalars.append(chars[i]); i += 1 }
                guard i < chars.count else { throw fail("unterminated string") }
                i += 1
                return .string(s)
            }
            let start = i
            var word = ""
            while i < chars.count, chars[i].properties.isAlphabetic || ("0"..."9").contains(chars[i]) || chars[i] == "-" || chars[i] == "+" {
                word.unicodeScalars.append(chars[i]); i += 1
            }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default: break
            }
            // Python 2 wrote long integers with an `L` suffix (`(3L, 4L)`).
            let digits = word.hasSuffix("L") ? String(word.dropLast()) : word
            if let v = Int(digits) { return .int(v) }
            i = start
            if !digits.isEmpty, digits.dropFirst(digits.first == "-" || digits.first == "+" ? 1 : 0).allSatisfy({ ("0"..."9").contains($0) }) {
                throw fail("integer \(digits) does not fit in 64 bits")
            }
            throw fail(word.isEmpty ? "unexpected character '\(c)'" : "unexpected token '\(word)'")
        }
    }
}
