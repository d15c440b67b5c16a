import CheckpointFormat
import Foundation
import Tensors

/// What a shard records about itself in `OUTDIR/shards/shard-k-of-N.json`: enough for the merge
/// to prove that all N shares belong to one analysis (same analyzer, command line, seed, Basin
/// version and plan) and that no file was damaged.
public struct ShardHeader: Codable, Sendable, Equatable {
    public static let formatName = "basin-shard"
    public static let currentFormatVersion = 1

    public var format: String
    public var formatVersion: Int
    public var analyzer: String
    public var schemaVersion: Int
    public var basinVersion: String
    /// The analyzer's command-line arguments after its name, without `--shard`, `--quiet`, `--json`.
    public var arguments: [String]
    /// Where relative paths in `arguments` are resolved (the shard's working directory).
    public var workingDirectory: String
    public var seed: UInt64
    /// SHA-256 of analyzer, schema, arguments, working directory and seed: shards of one analysis share it.
    public var settingsSHA256: String
    public var shard: Int
    public var shards: Int
    /// The plan's size and the SHA-256 of its costs: the inputs every shard saw.
    public var itemCount: Int
    public var costsSHA256: String
    /// The items this shard computed (ascending) and the SHA-256 of their values' JSON.
    public var items: [Int]
    public var valuesSHA256: String
    public var seconds: Double
    public var host: String

    /// The settings fingerprint of a command line.
    static func settingsDigest(analyzer: String, schemaVersion: Int, arguments: [String], workingDirectory: String, seed: UInt64) -> String {
        let canonical = ([analyzer, "\(schemaVersion)", workingDirectory, "\(seed)"] + arguments).joined(separator: "\u{0}")
        return sha256Hex(Array(canonical.utf8))
    }

    static func costsDigest(_ costs: [Double]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(costs.count * 8)
        for c in costs { withUnsafeBytes(of: c.bitPattern.littleEndian) { bytes += $0 } }
        return sha256Hex(bytes)
    }

    /// The arguments a shard records: its command line without what only concerns this process's
    /// share or its terminal (`--shard k/N`, `--quiet`, `--json`).
    public static func recordedArguments(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var skipNext = false
        var afterTerminator = false
        for a in arguments {
            if skipNext { skipNext = false; continue }
            if afterTerminator { out.append(a); continue }
            if a == "--" { afterTerminator = true; out.append(a); continue }
            if a == "--shard" { skipNext = true; continue }
            if a.hasPrefix("--shard=") || a == "--quiet" || a == "--json" { continue }
            out.append(a)
        }
        return out
    }
}

/// A partial result as stored: the header and the values of its items.
struct ShardPartial<Value: Codable>: Codable {
    var header: ShardHeader
    var values: [Value]
}

/// Reading and writing partial results.
enum ShardFile {
    /// A partial result larger than this is not one Basin wrote (a 1001 × 1001 plane is ≈ 0.2 GB).
    static let maximumBytes = 4 << 30

    static func encodeValues<V: Encodable>(_ values: [V]) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try e.encode(values))
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    static func write<V: Codable>(_ partial: ShardPartial<V>, to path: String) throws {
        let json = try AnalysisRunner.encode(partial)
        try AtomicFile.write(Array(json.utf8), to: path)
    }

    /// The file's bytes, refused when missing, unreadable or implausibly large.
    static func bytes(_ path: String) throws -> Data {
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue
        guard let size else {
            throw AnalysisError.missing(path: path, what: "the shard's partial result is missing", hint: "run the shard again")
        }
        guard size <= maximumBytes else {
            throw AnalysisError.unusable(path: path, detail: "\(size) bytes, more than a shard's partial result holds (at most \(maximumBytes)); not a file Basin wrote")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AnalysisError.unusable(path: path, detail: "cannot read the shard's partial result")
        }
        return data
    }

    static func header(_ path: String) throws -> ShardHeader {
        struct Only: Decodable { var header: ShardHeader }
        let data = try bytes(path)
        let header: ShardHeader
        do { header = try decodeJSON(Only.self, from: data, decoder: decoder()).header } catch {
            throw AnalysisError.unusable(path: path, detail: "not a readable shard result (\(error.line)); run the shard again")
        }
        guard header.format == ShardHeader.formatName, header.formatVersion == ShardHeader.currentFormatVersion else {
            throw AnalysisError.unusable(path: path, detail: "format '\(header.format)' version \(header.formatVersion), expected '\(ShardHeader.formatName)' version \(ShardHeader.currentFormatVersion)")
        }
        return header
    }

    /// The values of a partial result, checked against their checksum and the header's item count.
    static func values<V: Codable>(_ path: String, as type: V.Type) throws -> [V] {
        let data = try bytes(path)
        let partial: ShardPartial<V>
        do { partial = try decodeJSON(ShardPartial<V>.self, from: data, decoder: decoder()) } catch {
            throw AnalysisError.unusable(path: path, detail: "the shard's values cannot be read (\(error.line)); run the shard again")
        }
        guard partial.values.count == partial.header.items.count else {
            throw AnalysisError.unusable(path: path, detail: "\(partial.values.count) values for \(partial.header.items.count) items; run the shard again")
        }
        guard sha256Hex(try encodeValues(partial.values)) == partial.header.valuesSHA256 else {
            throw AnalysisError.unusable(path: path, detail: "the values do not match their SHA-256 (the file was changed or damaged); run the shard again")
        }
        return partial.values
    }
}
