import CheckpointFormat
import Foundation

/// `analyze import --rename`: how a user's tensor names become Basin's, before binding.
///
/// Two forms: prefix rewrites typed on the command line (`fc1.=layers.0.,fc2.=layers.2.`: a name
/// starting with `fc1.` has that prefix replaced; the first matching rule wins), or a JSON object
/// file mapping whole names (`{"fc1.weight": "layers.0.weight", …}`). Names no rule touches stay
/// as they are, and may still be bound automatically (`StateDictBinding`).
public enum TensorRenaming: Equatable, Sendable {
    case prefixes([RenameRule])
    case exact([String: String])

    /// Parses `OLD=NEW[,OLD=NEW…]`.
    /// - Throws: a message for a rule without `=`, with an empty side, or a prefix given twice.
    public init(rules text: String) throws(RenamingSyntaxError) {
        var rules: [RenameRule] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw RenamingSyntaxError(text: text, detail: "'\(item)' is not OLD=NEW (e.g. fc1.=layers.0.)")
            }
            guard !rules.contains(where: { $0.from == parts[0] }) else {
                throw RenamingSyntaxError(text: text, detail: "the prefix '\(parts[0])' is given twice")
            }
            rules.append(RenameRule(from: parts[0], to: parts[1]))
        }
        self = .prefixes(rules)
    }

    /// Reads a JSON map `{"old name": "new name", …}`.
    /// - Throws: `CheckpointError` naming the file when it is missing or not an object of strings.
    public static func load(mapFile path: String) throws(CheckpointError) -> TensorRenaming {
        guard let data = FileManager.default.contents(atPath: path) else { throw .fileNotFound(path: path) }
        guard let map = try? JSONDecoder().decode([String: String].self, from: data) else {
            throw .invalidInput(path: path, detail: "not a rename map: expected a JSON object of names, e.g. {\"fc1.weight\": \"layers.0.weight\"}")
        }
        return .exact(map)
    }

    /// The new names, in the order given.
    /// - Parameter source: the file named in errors.
    /// - Throws: `CheckpointError.invalidInput` when a rule matches no tensor (a typo would
    ///   otherwise pass silently) or two tensors end up with one name.
    public func apply(to names: [String], source: String) throws(CheckpointError) -> [String] {
        var out: [String]
        switch self {
        case .prefixes(let rules):
            for rule in rules where !names.contains(where: { $0.hasPrefix(rule.from) }) {
                throw .invalidInput(path: source, detail: "--rename '\(rule.from)=\(rule.to)' matches no tensor; the names are \(Self.list(names))")
            }
            out = names.map { name in
                guard let rule = rules.first(where: { name.hasPrefix($0.from) }) else { return name }
                return rule.to + name.dropFirst(rule.from.count)
            }
        case .exact(let map):
            if let missing = map.keys.sorted().first(where: { !names.contains($0) }) {
                throw .invalidInput(path: source, detail: "the rename map names '\(missing)', which is not a tensor of the source; the names are \(Self.list(names))")
            }
            out = names.map { map[$0] ?? $0 }
        }
        var seen: [String: String] = [:]
        for (old, new) in zip(names, out) {
            if let other = seen.updateValue(old, forKey: new) {
                throw .invalidInput(path: source, detail: "renaming gives two tensors the name '\(new)' ('\(other)' and '\(old)')")
            }
        }
        return out
    }

    /// A comma-separated list, cut after `limit` items with the total.
    public static func list(_ names: [String], limit: Int = 12) -> String {
        names.count <= limit ? names.joined(separator: ", ") : names.prefix(limit).joined(separator: ", ") + ", … (\(names.count) in all)"
    }
}

/// One prefix rewrite of `--rename`: names starting with `from` start with `to` instead.
public struct RenameRule: Equatable, Sendable {
    public var from: String, to: String
    public init(from: String, to: String) { self.from = from; self.to = to }
}

/// A `--rename` value that is not `OLD=NEW[,…]` (a usage error).
public struct RenamingSyntaxError: Error, Equatable, CustomStringConvertible {
    public var text: String, detail: String
    public var description: String { "--rename '\(text)': \(detail)" }
}

/// Binds a state dict's tensors to the tensors a `ModelSpec` builds, by name where the names are
/// Basin's and otherwise by shape.
///
/// Tensors are grouped into modules by their name without the last component (`fc1.weight` →
/// module `fc1`, leaf `weight`); leaves are PyTorch's (`weight`, `bias`, `running_mean`, …) on both
/// sides, so only module names can differ. A found module fits an expected one when its leaves are
/// among the expected module's (same shapes) and it has all of the expected parameters (buffers
/// may be absent). Binding: modules whose names are equal and fit are bound first; then, repeatedly,
/// a found module that fits exactly one unbound module, which no other found module fits, is bound
/// to it. What is left is refused: a tensor no module can take (a stray `X.npy`), an expected
/// module nothing fits, or modules only an order could tell apart (equal shapes) — the order of
/// files in a folder or keys in an archive is not evidence enough to bet every number on.
public enum StateDictBinding {
    struct Module {
        var prefix: String
        /// (leaf, shape, full name) in the order found.
        var tensors: [(leaf: String, shape: [Int], name: String)]
        var parameterLeaves: Set<String> = []
        func shape(_ leaf: String) -> [Int]? { tensors.first { $0.leaf == leaf }?.shape }
        /// The weight's shape (or the first tensor's), to show a module compactly.
        var summary: String {
            let t = tensors.first { $0.leaf == "weight" } ?? tensors[0]
            return (prefix.isEmpty ? t.name : prefix) + " " + shapeText(t.shape)
        }
    }

    /// The names to store, in the order of `found`.
    /// - Parameters:
    ///   - found: the source's tensors (after any `--rename`).
    ///   - spec: the model the checkpoint is for; `specLabel` names it in messages (`model.json`).
    ///   - source: the file named in errors; `display` turns a tensor name into what the user
    ///     sees (a folder's `X.npy`).
    /// - Throws: `CheckpointError.invalidInput` on one line: the tensors that cannot be placed,
    ///   the layers nothing fits or the ambiguous ones, then found and expected side by side.
    public static func bind(_ found: [(name: String, shape: [Int])], to spec: ModelSpec, specLabel: String, source: String,
                            display: (String) -> String = { "'\($0)'" }) throws(CheckpointError) -> (names: [String], renamed: [(from: String, to: String)]) {
        let layout: (parameters: [(name: String, shape: [Int])], buffers: [(name: String, shape: [Int])])
        do { layout = try spec.tensorLayout() } catch { throw .invalidInput(path: specLabel, detail: "model spec cannot be built: \(error)") }
        // Parameters first (named_parameters order), then each buffer joins its module.
        var expectedModules = modules(layout.parameters, parameters: true)
        for b in layout.buffers {
            let (prefix, leaf) = split(b.name)
            if let i = expectedModules.firstIndex(where: { $0.prefix == prefix }) { expectedModules[i].tensors.append((leaf, b.shape, b.name)) }
            else { expectedModules.append(Module(prefix: prefix, tensors: [(leaf, b.shape, b.name)])) }
        }
        let foundModules = modules(found, parameters: false)

        func fits(_ f: Module, _ e: Module) -> Bool {
            f.tensors.allSatisfy { t in e.shape(t.leaf).map { sameShape($0, t.shape) } ?? false }
                && e.parameterLeaves.allSatisfy { f.shape($0) != nil }
        }
        var binding: [Int: Int] = [:]          // found module → expected module
        var taken = Set<Int>()
        for (i, f) in foundModules.enumerated() {
            if let j = expectedModules.firstIndex(where: { $0.prefix == f.prefix }), fits(f, expectedModules[j]), !taken.contains(j) {
                binding[i] = j; taken.insert(j)
            }
        }
        var progress = true
        while progress {
            progress = false
            let open = foundModules.indices.filter { binding[$0] == nil }
            let candidates = Dictionary(uniqueKeysWithValues: open.map { i in
                (i, expectedModules.indices.filter { !taken.contains($0) && fits(foundModules[i], expectedModules[$0]) })
            })
            for i in open {
                guard let c = candidates[i], c.count == 1, !taken.contains(c[0]) else { continue }
                let rivals = open.filter { $0 != i && (candidates[$0] ?? []).contains(c[0]) }
                guard rivals.isEmpty else { continue }
                binding[i] = c[0]; taken.insert(c[0]); progress = true
            }
        }
        let unbound = foundModules.indices.filter { binding[$0] == nil }
        let candidates = Dictionary(uniqueKeysWithValues: unbound.map { i in
            (i, expectedModules.indices.filter { !taken.contains($0) && fits(foundModules[i], expectedModules[$0]) })
        })
        let stray = unbound.filter { candidates[$0]?.isEmpty ?? true }
        let ambiguous = unbound.filter { !(candidates[$0]?.isEmpty ?? true) }
        let contested = Set(ambiguous.flatMap { candidates[$0] ?? [] })
        let missing = expectedModules.indices.filter { !taken.contains($0) && !contested.contains($0) && !expectedModules[$0].parameterLeaves.isEmpty }
        if !stray.isEmpty || !ambiguous.isEmpty || !missing.isEmpty {
            // A module found under an expected module's own name that does not fit it: say
            // exactly which tensor is missing, extra or of another shape.
            var problems: [String] = []
            var explained = Set<Int>(), explainedExpected = Set<Int>()
            var mismatches: [String] = []
            for i in stray {
                guard let j = expectedModules.firstIndex(where: { $0.prefix == foundModules[i].prefix }), !taken.contains(j) else { continue }
                let f = foundModules[i], e = expectedModules[j]
                for t in f.tensors {
                    if let s = e.shape(t.leaf) {
                        if !sameShape(s, t.shape) { mismatches.append("\(display(t.name)) has shape \(shapeText(t.shape)), the model's '\(t.name)' is \(shapeText(s))") }
                    } else {
                        mismatches.append("\(display(t.name)) \(shapeText(t.shape)) is not a tensor of the model ('\(e.prefix)' has \(e.tensors.map(\.leaf).joined(separator: ", ")))")
                    }
                }
                for t in e.tensors where e.parameterLeaves.contains(t.leaf) && f.shape(t.leaf) == nil {
                    mismatches.append("'\(t.name)' \(shapeText(t.shape)) is missing")
                }
                explained.insert(i); explainedExpected.insert(j)
            }
            if !mismatches.isEmpty {
                problems.append(mismatches.prefix(8).joined(separator: "; ") + (mismatches.count > 8 ? "; … (\(mismatches.count) tensors in all)" : ""))
            }
            let strays = stray.filter { !explained.contains($0) }
            let absent = missing.filter { !explainedExpected.contains($0) }
            if !strays.isEmpty {
                let items = strays.flatMap { i in foundModules[i].tensors.map { display($0.name) + " " + shapeText($0.shape) } }
                problems.append("no layer of the model takes " + TensorRenaming.list(items, limit: 8) + " (not a parameter of this model: remove it, or fix the names or the spec)")
            }
            if !ambiguous.isEmpty {
                let names = ambiguous.map { foundModules[$0].prefix }
                let targets = contested.sorted().map { expectedModules[$0].prefix }
                problems.append("the shapes do not tell which of \(names.joined(separator: ", ")) is which of \(targets.joined(separator: ", ")) (same shapes); name them with --rename, e.g. '\(names[0]).=\(targets[0]).'")
            }
            if !absent.isEmpty {
                problems.append("nothing fits " + TensorRenaming.list(absent.map { expectedModules[$0].summary }, limit: 8))
            }
            let f = TensorRenaming.list(foundModules.map(\.summary)), e = TensorRenaming.list(expectedModules.map(\.summary))
            throw .invalidInput(path: source, detail: "the tensors do not fit the model spec \(specLabel) (\(spec.kind.rawValue)): "
                                + problems.joined(separator: "; ") + " — found: \(f); expected: \(e)")
        }
        var names = found.map(\.name)
        var renamed: [(from: String, to: String)] = []
        var index: [String: Int] = [:]
        for (k, t) in found.enumerated() { index[t.name] = k }
        for (i, j) in binding.sorted(by: { $0.key < $1.key }) where foundModules[i].prefix != expectedModules[j].prefix {
            for t in foundModules[i].tensors {
                guard let k = index[t.name], let target = expectedModules[j].tensors.first(where: { $0.leaf == t.leaf }) else { continue }
                names[k] = target.name
                renamed.append((t.name, target.name))
            }
        }
        return (names, renamed)
    }

    static func split(_ name: String) -> (prefix: String, leaf: String) {
        guard let dot = name.lastIndex(of: ".") else { return ("", name) }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }

    static func modules(_ tensors: [(name: String, shape: [Int])], parameters: Bool) -> [Module] {
        var out: [Module] = []
        var position: [String: Int] = [:]
        for t in tensors {
            let (prefix, leaf) = split(t.name)
            // Top-level tensors (no dot) are modules of their own, so two strays never merge.
            let key = prefix.isEmpty ? "\u{0}" + t.name : prefix
            if let i = position[key] { out[i].tensors.append((leaf, t.shape, t.name)) } else {
                position[key] = out.count
                out.append(Module(prefix: prefix, tensors: [(leaf, t.shape, t.name)]))
            }
            if parameters, let i = position[key] { out[i].parameterLeaves.insert(leaf) }
        }
        return out
    }

    /// Equal shapes; a scalar buffer (`num_batches_tracked`) may come as `[]` or `[1]`.
    static func sameShape(_ expected: [Int], _ found: [Int]) -> Bool {
        expected == found || (expected.isEmpty && found == [1])
    }
}

func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
