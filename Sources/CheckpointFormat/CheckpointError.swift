/// Everything that can be wrong with a file Basin reads or writes. Each case names the
/// file, the entry inside it where there is one, and what was expected, so the one line
/// `analyze` prints is enough to act on.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    case notAnArchive(path: String, detail: String)
    case truncated(path: String, entry: String?, detail: String)
    case archiveFailure(path: String, entry: String?, detail: String)
    case missingManifest(path: String)
    case invalidManifest(path: String, detail: String)
    case unsupportedFormat(path: String, found: String, expected: String)
    case unsupportedVersion(path: String, found: Int, supported: Int)
    case missingEntry(path: String, entry: String)
    case unlistedEntry(path: String, entry: String)
    case checksumMismatch(path: String, entry: String, expected: String, actual: String)
    case shapeMismatch(path: String, entry: String, expected: [Int], found: [Int])
    case dtypeMismatch(path: String, entry: String, expected: String, found: String)
    case invalidNPY(path: String, entry: String?, error: NPYError)
    case invalidSafetensors(path: String, detail: String)
    case nonFinite(path: String, entry: String, index: Int)
    case missingCheckpoint(run: String, requested: String, available: [String])
    case notARunDirectory(path: String, detail: String)
    case writeFailed(path: String, detail: String)
    case incompatible(pathA: String, pathB: String, detail: String)
    case invalidInput(path: String, detail: String)
    // Archive integrity (format version 2; issue 12). New cases go at the end.
    /// An entry name that occurs twice in an archive: readers cannot tell which copy is meant.
    case duplicateEntry(path: String, entry: String)
    /// An entry whose tar header declares a size outside what the manifest allows for it.
    case entrySize(path: String, entry: String, declared: Int, expected: ClosedRange<Int>)
    /// `manifest.json` does not hash to the SHA-256 stored in `manifest.json.sha256`.
    case manifestChecksumMismatch(path: String, expected: String, actual: String)
    /// A format version 2 archive without its `manifest.json.sha256` second entry.
    case missingManifestChecksum(path: String)
    /// A zip entry whose data does not match its CRC-32 (as NumPy says, "Bad CRC-32").
    case crcMismatch(path: String, entry: String, detail: String)

    /// The archive entry a problem is about, when there is one (used to group `verify()`'s findings).
    public var entry: String? {
        switch self {
        case let .truncated(_, entry, _), let .archiveFailure(_, entry, _), let .invalidNPY(_, entry, _): return entry
        case let .missingEntry(_, entry), let .unlistedEntry(_, entry), let .checksumMismatch(_, entry, _, _),
             let .shapeMismatch(_, entry, _, _), let .dtypeMismatch(_, entry, _, _), let .nonFinite(_, entry, _),
             let .duplicateEntry(_, entry), let .entrySize(_, entry, _, _), let .crcMismatch(_, entry, _):
            return entry
        case .invalidManifest, .unsupportedFormat, .unsupportedVersion, .manifestChecksumMismatch: return "manifest.json"
        case .missingManifestChecksum: return "manifest.json.sha256"
        default: return nil
        }
    }

    public var description: String {
        func at(_ path: String, _ entry: String?) -> String { entry.map { "\(path): entry '\($0)'" } ?? path }
        switch self {
        case let .fileNotFound(path): return "\(path): no such file"
        case let .notAnArchive(path, detail): return "\(path): not a Basin archive (\(detail))"
        case let .truncated(path, entry, detail): return "\(at(path, entry)): file is truncated (\(detail))"
        case let .archiveFailure(path, entry, detail): return "\(at(path, entry)): \(detail)"
        case let .missingManifest(path):
            return "\(path): manifest.json missing (it must be the archive's first entry)"
        case let .invalidManifest(path, detail): return "\(path): entry 'manifest.json': \(detail)"
        case let .unsupportedFormat(path, found, expected):
            return "\(path): entry 'manifest.json': format '\(found)', expected '\(expected)'"
        case let .unsupportedVersion(path, found, supported):
            return "\(path): entry 'manifest.json': format version \(found) is newer than this Basin reads (up to \(supported)); upgrade Basin"
        case let .missingEntry(path, entry): return "\(path): entry '\(entry)' is listed in the manifest but missing from the archive"
        case let .unlistedEntry(path, entry): return "\(path): entry '\(entry)' is not listed in the manifest"
        case let .checksumMismatch(path, entry, expected, actual):
            return "\(path): entry '\(entry)': checksum mismatch (manifest sha256 \(expected.prefix(16))…, data \(actual.prefix(16))…): the file is corrupt"
        case let .shapeMismatch(path, entry, expected, found):
            return "\(path): entry '\(entry)': shape \(found), expected \(expected)"
        case let .dtypeMismatch(path, entry, expected, found):
            return "\(path): entry '\(entry)': dtype \(found), expected \(expected)"
        case let .invalidNPY(path, entry, error): return "\(at(path, entry)): \(error)"
        case let .invalidSafetensors(path, detail): return "\(path): invalid safetensors file: \(detail)"
        case let .nonFinite(path, entry, index):
            return "\(path): entry '\(entry)': element \(index) is NaN or infinite"
        case let .missingCheckpoint(run, requested, available):
            let list = available.isEmpty ? "none" : available.joined(separator: ", ")
            return "\(run): no checkpoint for \(requested); available: \(list)"
        case let .notARunDirectory(path, detail): return "\(path): not a run directory (\(detail))"
        case let .writeFailed(path, detail): return "\(path): cannot write (\(detail)); nothing was changed"
        case let .incompatible(a, b, detail): return "\(a) and \(b) do not match: \(detail)"
        case let .invalidInput(path, detail): return "\(path): \(detail)"
        case let .duplicateEntry(path, entry):
            return "\(path): entry '\(entry)' occurs more than once in the archive: the file is corrupt"
        case let .entrySize(path, entry, declared, expected):
            let which = declared > expected.upperBound ? "larger" : "smaller"
            let bound = declared > expected.upperBound ? "at most \(expected.upperBound)" : "at least \(expected.lowerBound)"
            return "\(path): entry '\(entry)': entry \(which) than the manifest says (its header declares \(declared) bytes, expected \(bound))"
        case let .manifestChecksumMismatch(path, expected, actual):
            return "\(path): entry 'manifest.json': checksum mismatch (manifest.json.sha256 says \(expected.prefix(16))…, manifest is \(actual.prefix(16))…): the manifest is corrupt"
        case let .missingManifestChecksum(path):
            return "\(path): entry 'manifest.json.sha256' missing: a format version 2 archive carries the manifest's SHA-256 as its second entry"
        case let .crcMismatch(path, entry, detail):
            return "\(path): entry '\(entry)': CRC-32 mismatch (\(detail)): the file is corrupt"
        }
    }
}
