import Foundation
import Tensors

/// Reads a checkpoint or activation archive: the manifest at once (checked against its
/// SHA-256 in format version 2), tensors on request, each verified against the manifest
/// (checksum, dtype, shape) as it is read.
///
/// Every read, whatever it asks for, goes through `walk`: one pass over all entries that
/// refuses duplicated, unlisted and missing entries and entry sizes the manifest does not
/// allow. `verify()` (what `analyze inspect` runs) is the same walk reading every entry,
/// so inspect cannot pass an archive a reader refuses. docs/FORMAT.md §1.6.
public final class CheckpointReader: @unchecked Sendable {
    public let path: String
    public let manifest: CheckpointManifest
    /// The manifest's SHA-256 (lowercase hex) as checked against `manifest.json.sha256`,
    /// or nil for a format version 1 archive, which has no manifest checksum.
    public let manifestSHA256: String?
    /// The manifest exactly as read: every later pass checks the file still holds it.
    private let manifestBytes: [UInt8]
    /// Each tensor's position in `manifest.tensors` by name (names are unique: the manifest's
    /// decoder refuses duplicates), so finding records is not a scan per name.
    private let recordIndex: [String: Int]

    /// Opens `path` and reads its manifest (the first entry) and, in format version 2, the
    /// manifest checksum (the second), without touching tensor data.
    /// - Throws: `CheckpointError` — `.manifestChecksumMismatch` when a byte of the
    ///   manifest changed, `.missingManifestChecksum` for a version 2 archive without one,
    ///   `.invalidManifest` for a malformed manifest (bad names, overflowing shapes …).
    public init(path: String) throws(CheckpointError) {
        self.path = path
        let opened = try CheckpointReader.open(path)
        manifest = opened.manifest
        manifestSHA256 = opened.checksum
        manifestBytes = opened.bytes
        recordIndex = Dictionary(opened.manifest.tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    private struct Opened {
        var reader: ArchiveReader
        var bytes: [UInt8]
        var manifest: CheckpointManifest
        var checksum: String?
        /// The entry after the manifest (and its checksum), already advanced to, or nil at the end.
        var next: String?
    }

    /// Reads the manifest and its checksum. A `manifest.json.sha256` second entry is
    /// verified whatever version the manifest claims: a flipped byte that turns version 2
    /// into 1 still fails on the checksum.
    private static func open(_ path: String) throws(CheckpointError) -> Opened {
        let reader = try ArchiveReader(path: path)
        guard try reader.nextEntry() == "manifest.json" else { throw .missingManifest(path: path) }
        let bytes = try reader.readData(limit: CheckpointManifest.maxBytes)
        var next = try reader.nextEntry()
        var checksum: String?
        if next == CheckpointManifest.checksumEntry {
            let expected = try CheckpointManifest.parseChecksumEntry(
                try reader.readData(limit: CheckpointManifest.maxChecksumEntryBytes), path: path)
            let actual = sha256Hex(bytes)
            guard actual == expected else { throw .manifestChecksumMismatch(path: path, expected: expected, actual: actual) }
            checksum = actual
            next = try reader.nextEntry()
        }
        let manifest = try CheckpointManifest.decode(bytes, path: path)
        if manifest.formatVersion >= 2 && checksum == nil { throw .missingManifestChecksum(path: path) }
        return Opened(reader: reader, bytes: bytes, manifest: manifest, checksum: checksum, next: next)
    }

    /// Tensor names in manifest order.
    public var names: [String] { manifest.tensors.map(\.name) }

    /// The manifest row for a tensor, or nil.
    public func record(named name: String) -> TensorRecord? { recordIndex[name].map { manifest.tensors[$0] } }

    /// The checks every read runs, in one pass over the whole archive.
    ///
    /// Each entry after the manifest must be listed in it, appear once, and declare a size
    /// the manifest allows (`TensorRecord.entrySizes`); every listed entry must be present.
    /// Entries in `wanted` are read (never more than their bound) and checked: SHA-256,
    /// then the `.npy` header's dtype and shape against the manifest. The others are
    /// skipped — a seek in an uncompressed tar — so their data is not hashed.
    /// - Parameters:
    ///   - wanted: entry names to read and verify.
    ///   - problem: called with each finding after which the walk can go on (duplicated,
    ///     unlisted or missing entries; checksum, dtype, shape or .npy errors).
    ///     Readers throw it; `verify()` collects it.
    ///   - found: called with each verified array.
    /// - Throws: what `problem` throws, and failures that end the walk (an entry size the
    ///   manifest does not allow, truncation, unreadable data, the file changing under the reader).
    func walk(reading wanted: Set<String>,
              problem: (CheckpointError) throws(CheckpointError) -> Void,
              found: (TensorRecord, NDArray) throws(CheckpointError) -> Void) throws(CheckpointError) {
        let opened = try CheckpointReader.open(path)
        guard opened.bytes == manifestBytes else {
            throw .archiveFailure(path: path, entry: "manifest.json", detail: "the file changed while it was being read")
        }
        let reader = opened.reader
        var byEntry: [String: TensorRecord] = [:]
        for r in manifest.tensors { byEntry[r.entry] = r }
        var seen = Set<String>()
        var next = opened.next
        // An entry the manifest does not place (a duplicate, an unlisted one) may claim any
        // size; skipping it in a compressed archive decompresses that much. Nothing larger
        // than the largest entry the manifest allows is skipped: the walk ends there.
        var largest = CheckpointManifest.maxChecksumEntryBytes
        for r in manifest.tensors { largest = max(largest, try r.entrySizes(in: path).upperBound) }
        func skipUnplaced(_ entry: String) throws(CheckpointError) {
            guard reader.currentSize <= largest else {
                throw .entrySize(path: path, entry: entry, declared: reader.currentSize, expected: 0...largest)
            }
            try reader.skipData()
        }
        // In a plain tar the wanted entries are read by `readPlain` (straight into their final
        // buffers, hashed as they arrive, several entries at once); findings are kept in
        // archive order and reported at each flush, so callers see exactly the sequence a
        // one-entry-at-a-time walk gives.
        let file = reader.isPlainTar ? try FileReader(path: path) : nil
        var steps: [PlainStep] = []
        var pendingBytes = 0
        func report(_ error: CheckpointError) throws(CheckpointError) {
            if file != nil { steps.append(.problem(error)) } else { try problem(error) }
        }
        func flush() throws(CheckpointError) {
            guard let file, !steps.isEmpty else { return }
            let jobs = steps.compactMap { step -> (TensorRecord, Int, Int)? in
                if case let .read(r, offset, size) = step { return (r, offset, size) }
                return nil
            }
            // Largest first, two at a time (`readPlainPair`), the pairs spread over the cores.
            let order = jobs.indices.sorted { jobs[$0].2 != jobs[$1].2 ? jobs[$0].2 > jobs[$1].2 : $0 < $1 }
            let pairs = stride(from: 0, to: order.count, by: 2).map { Array(order[$0..<min($0 + 2, order.count)]) }
            let paired = ParallelIO.map(pairs.count) { k -> Result<[Result<NDArray, CheckpointError>], CheckpointError> in
                let (i, j) = (pairs[k][0], pairs[k].last ?? pairs[k][0])
                guard i != j else { return .success([Result { () throws(CheckpointError) in try readPlain(file, jobs[i].0, offset: jobs[i].1, size: jobs[i].2) }]) }
                let (x, y) = readPlainPair(file, (jobs[i].0, jobs[i].1, jobs[i].2), (jobs[j].0, jobs[j].1, jobs[j].2))
                return .success([x, y])
            }
            var results = [Result<NDArray, CheckpointError>](repeating: .failure(.writeFailed(path: path, detail: "internal: an entry was not read")),
                                                              count: jobs.count)
            for (pair, outcome) in zip(pairs, paired) {
                if case .success(let rs) = outcome { for (i, r) in zip(pair, rs) { results[i] = r } }
            }
            let taken = steps
            steps.removeAll()
            pendingBytes = 0
            var k = 0
            for step in taken {
                switch step {
                case .problem(let error): try problem(error)
                case .read(let r, _, _):
                    switch results[k] {
                    case .success(let array): try found(r, array)
                    case .failure(let error): try problem(error)
                    }
                    k += 1
                }
            }
        }
        do throws(CheckpointError) {
            while let entry = next {
                if entry == "manifest.json" || (entry == CheckpointManifest.checksumEntry && opened.checksum != nil)
                    || !seen.insert(entry).inserted {
                    try report(.duplicateEntry(path: path, entry: entry))
                    try skipUnplaced(entry)
                } else if let r = byEntry[entry] {
                    let sizes = try r.entrySizes(in: path)
                    if !sizes.contains(reader.currentSize) {
                        // Thrown, not collected: where this header ends the next one begins, so
                        // nothing after it can be trusted (skipping it may run past the file).
                        throw CheckpointError.entrySize(path: path, entry: entry, declared: reader.currentSize, expected: sizes)
                    } else if wanted.contains(entry), file != nil {
                        steps.append(.read(r, offset: reader.dataOffset, size: reader.currentSize))
                        pendingBytes += reader.currentSize
                        try reader.skipData()
                        if pendingBytes >= CheckpointReader.readWindow { try flush() }
                    } else if wanted.contains(entry) {
                        let bytes = try reader.readData(limit: sizes.upperBound)
                        let array: NDArray
                        do { array = try decodeEntry(bytes, record: r) } catch {
                            try problem(error)
                            next = try reader.nextEntry()
                            continue
                        }
                        try found(r, array)
                    } else {
                        try reader.skipData()
                    }
                } else {
                    try report(.unlistedEntry(path: path, entry: entry))
                    try skipUnplaced(entry)
                }
                next = try reader.nextEntry()
            }
        } catch {
            // What was found before the failure is reported first, as a sequential walk would.
            try flush()
            throw error
        }
        try flush()
        for r in manifest.tensors where !seen.contains(r.entry) {
            try problem(.missingEntry(path: path, entry: r.entry))
        }
    }

    /// A finding of the walk over a plain tar, reported in archive order.
    private enum PlainStep {
        case problem(CheckpointError)
        case read(TensorRecord, offset: Int, size: Int)
    }

    /// Entry bytes read ahead (on all cores) before their findings are reported: bounds what
    /// `verify()`, which keeps no array, holds at once.
    static let readWindow = 256 << 20

    /// Reads the named tensors (all when `names` is nil) in one pass over the archive,
    /// skipping the others' data but checking the whole archive's structure (`walk`).
    /// - Parameter requireFinite: fail on the first NaN/∞ in a floating-point tensor.
    /// - Throws: `CheckpointError` naming the file and entry for a missing, duplicated or
    ///   unlisted entry, a checksum, size, dtype or shape mismatch, truncation or malformed .npy.
    public func arrays(named names: [String]? = nil, requireFinite: Bool = false) throws(CheckpointError) -> [String: NDArray] {
        var wanted = Set<String>()
        for name in names ?? self.names {
            guard let r = record(named: name) else { throw .missingEntry(path: path, entry: name + ".npy") }
            wanted.insert(r.entry)
        }
        var out: [String: NDArray] = [:]
        let path = self.path
        try walk(reading: wanted, problem: { (error: CheckpointError) throws(CheckpointError) in throw error },
                 found: { (r: TensorRecord, array: NDArray) throws(CheckpointError) in
            if requireFinite, let i = array.firstNonFiniteIndex() { throw .nonFinite(path: path, entry: r.entry, index: i) }
            out[r.name] = array
        })
        return out
    }

    /// One tensor as float32 (converted explicitly if stored otherwise).
    public func tensor(named name: String, requireFinite: Bool = false) throws(CheckpointError) -> Tensor<Float> {
        guard let a = try arrays(named: [name], requireFinite: requireFinite)[name] else {
            throw .missingEntry(path: path, entry: name + ".npy")
        }
        return a.floatTensor()
    }

    /// Checks one entry's bytes against its manifest row and decodes them.
    func decodeEntry(_ bytes: [UInt8], record r: TensorRecord) throws(CheckpointError) -> NDArray {
        let digest = sha256Hex(bytes)
        guard digest == r.sha256.lowercased() else {
            throw .checksumMismatch(path: path, entry: r.entry, expected: r.sha256, actual: digest)
        }
        let array: NDArray
        do { array = try NPY.decode(bytes) } catch { throw .invalidNPY(path: path, entry: r.entry, error: error) }
        guard array.dtype == r.dtype else {
            throw .dtypeMismatch(path: path, entry: r.entry, expected: r.dtype.rawValue, found: array.dtype.rawValue)
        }
        guard array.shape == r.shape else { throw .shapeMismatch(path: path, entry: r.entry, expected: r.shape, found: array.shape) }
        return array
    }

    /// The outcome of checking one entry.
    public struct EntryStatus: Sendable, Equatable, Codable {
        public var entry: String
        public var ok: Bool
        /// Empty when ok; otherwise the error message (the first problem found with the entry).
        public var problem: String
        /// NaN/∞ elements in a floating-point tensor (reported, not an error).
        public var nonFinite: Int
    }

    /// Reads and checks every entry: the readers' own `walk`, collecting problems instead
    /// of stopping at the first, so `inspect` lists all of them. One status per manifest
    /// row (in manifest order), then one per entry that should not be there (unlisted or
    /// duplicated structural entries). Failures that end the walk (truncation) still throw.
    public func verify() throws(CheckpointError) -> [EntryStatus] {
        var problems: [String: CheckpointError] = [:]
        var others: [CheckpointError] = []
        var nonFinite: [String: Int] = [:]
        let listed = Set(manifest.tensors.map(\.entry))
        try walk(reading: listed, problem: { (error: CheckpointError) throws(CheckpointError) in
            if let entry = error.entry, listed.contains(entry) {
                if problems[entry] == nil { problems[entry] = error }
            } else {
                others.append(error)
            }
        }, found: { (r: TensorRecord, array: NDArray) throws(CheckpointError) in
            nonFinite[r.entry] = array.dtype.isFloatingPoint ? array.nonFiniteCount() : 0
        })
        return manifest.tensors.map { r in
            EntryStatus(entry: r.entry, ok: problems[r.entry] == nil, problem: problems[r.entry]?.description ?? "",
                        nonFinite: nonFinite[r.entry] ?? 0)
        } + others.map { EntryStatus(entry: $0.entry ?? "", ok: false, problem: $0.description, nonFinite: 0) }
    }
}
