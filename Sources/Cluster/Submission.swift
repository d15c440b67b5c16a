import CheckpointFormat
import Foundation

/// `OUTDIR/shards/submission.json`: what `analyze submit` launched, so `--status` and `--resume`
/// can find the shards again from the output folder alone (another shell, a day later).
///
/// Each submission or resubmission is an `Attempt` (which shards, which Slurm jobs or local
/// processes, when); a shard's state is judged by the latest attempt that ran it.
public struct Submission: Codable, Sendable, Equatable {
    public static let fileName = "submission.json"
    public static let formatVersion = 1
    /// Larger records are refused before they are read (a real one is a few kilobytes).
    static let maximumBytes = 4 << 20

    public enum Backend: String, Codable, Sendable { case slurm, local }

    public struct Attempt: Codable, Sendable, Equatable {
        public var date: Date
        /// The shards (1-based) this attempt ran.
        public var shards: [Int]
        /// Slurm: the job array's id; the merge job's id (nil until submitted).
        public var arrayJob: String?
        public var mergeJob: String?
        /// Local: the process id of each started shard ("3": 12345).
        public var processes: [String: Int32]?

        /// `date` is kept to whole seconds, as the record's ISO 8601 dates store it.
        public init(date: Date = Date(), shards: [Int], arrayJob: String? = nil, mergeJob: String? = nil,
                    processes: [String: Int32]? = nil) {
            self.date = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)); self.shards = shards; self.arrayJob = arrayJob; self.mergeJob = mergeJob; self.processes = processes
        }
    }

    public var formatVersion: Int
    public var basinVersion: String
    public var backend: Backend
    /// N.
    public var shards: Int
    /// The analyzer command as given after `--` (`plane run/ --pair 70,150`).
    public var command: [String]
    /// The `analyze` executable the shards run (absolute).
    public var executable: String
    /// Where the command's relative paths are resolved.
    public var workingDirectory: String
    public var outputDirectory: String
    public var slurm: SlurmOptions?
    public var attempts: [Attempt]

    public init(backend: Backend, shards: Int, command: [String], executable: String, workingDirectory: String,
                outputDirectory: String, basinVersion: String, slurm: SlurmOptions? = nil, attempts: [Attempt] = []) {
        self.formatVersion = Self.formatVersion; self.basinVersion = basinVersion
        self.backend = backend; self.shards = shards; self.command = command; self.executable = executable
        self.workingDirectory = workingDirectory; self.outputDirectory = outputDirectory; self.slurm = slurm; self.attempts = attempts
    }

    public var layout: ShardLayout { ShardLayout(outputDirectory: outputDirectory, shards: shards) }

    /// The latest attempt that ran shard k.
    public func latestAttempt(running k: Int) -> Attempt? { attempts.last { $0.shards.contains(k) } }

    /// Reads and checks the record in `outputDirectory/shards/`.
    /// - Throws: `.invalidRecord` naming the file: missing, too large, not JSON of this format,
    ///   or inconsistent (a shard outside 1…N, another output folder).
    public static func read(outputDirectory: String) throws(ClusterError) -> Submission {
        let path = ShardLayout(outputDirectory: outputDirectory, shards: 1).record
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw .invalidRecord(path: path, detail: "no such file: was this folder submitted with `analyze submit`?")
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= maximumBytes else { throw .invalidRecord(path: path, detail: "\(size) bytes, more than a submission record can be") }
        guard let data = FileManager.default.contents(atPath: path) else { throw .invalidRecord(path: path, detail: "cannot read it") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let record: Submission
        do { record = try decodeJSON(Submission.self, from: data, decoder: decoder) } catch {
            throw .invalidRecord(path: path, detail: "not a valid submission record: " + error.line)
        }
        guard record.formatVersion == formatVersion else {
            throw .invalidRecord(path: path, detail: "submission record format version \(record.formatVersion); this Basin reads \(formatVersion)")
        }
        guard (1...ShardCount.maximum).contains(record.shards) else {
            throw .invalidRecord(path: path, detail: "\(record.shards) shards, expected 1…\(ShardCount.maximum)")
        }
        for attempt in record.attempts {
            if let bad = attempt.shards.first(where: { !(1...record.shards).contains($0) }) {
                throw .invalidRecord(path: path, detail: "an attempt names shard \(bad) of \(record.shards)")
            }
        }
        guard absolutePath(record.outputDirectory) == absolutePath(outputDirectory) else {
            throw .invalidRecord(path: path, detail: "it records the output folder \(record.outputDirectory), not this one")
        }
        guard !record.command.isEmpty, record.executable.hasPrefix("/") else {
            throw .invalidRecord(path: path, detail: "no command or no absolute executable")
        }
        return record
    }

    /// Writes the record atomically (readers see the old record or the new one).
    public func write() throws(ClusterError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data: Data
        do { data = try encoder.encode(self) } catch { throw .writeFailed(path: layout.record, detail: "\(error)") }
        do { try AtomicFile.write(Array(data) + [0x0A], to: layout.record) } catch {
            throw .writeFailed(path: layout.record, detail: error.description)
        }
    }
}

/// Bounds on N.
public enum ShardCount {
    /// Slurm's default MaxArraySize is 1001 (task ids 0…1000); clusters raise it, rarely past 100 000.
    public static let maximum = 100_000
}
