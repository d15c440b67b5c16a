import CheckpointFormat
import Foundation
import Tensors

/// Runs one shard of an analysis, and merges the shards into the result an unsharded run writes.
///
/// A shard plans the whole analysis, computes only its items (`ShardAssignment`) and writes them
/// to `OUTDIR/shards/shard-k-of-N.json` atomically; it never touches result.json or the figures,
/// so shards of one analysis run concurrently into one folder, on one machine or many sharing a
/// file system. The merge checks that the N partial results belong together, plans again, puts
/// every item's value in its place and runs the analyzer's `finish` through the same staging and
/// atomic publication as an unsharded run. `shards/` stays beside the results (logs included).
public enum ShardRunner {
    /// The folder of partial results inside an output folder.
    public static func shardsFolder(_ outDir: String) -> String { outDir + "/shards" }

    /// Computes shard `shard` of `analyzer` and writes its partial result; returns its path.
    /// - Parameter arguments: the command line after the analyzer's name, as given (`--shard`
    ///   included: it is dropped from what is recorded).
    public static func runShard<A: ShardableAnalyzer>(_ analyzer: A, shard: ShardSelector, run: RunDirectory?, outputDirectory: String? = nil,
                                                     arguments: [String], threads: Int = 2, seed: UInt64 = 0, force: Bool = false,
                                                     progress: ProgressReporter) throws -> String {
        if run == nil, let need = analyzer.runDirectoryNeed { throw AnalysisError.needsRunDirectory(analyzer: A.name, because: need) }
        let outDir = outputDirectory ?? ((run?.analysesDirectory ?? "analyses") + "/" + analyzer.outputName)
        try AnalysisRunner.checkOutput(outDir, analyzer: A.name, force: force)
        let folder = shardsFolder(outDir)
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw CheckpointError.writeFailed(path: folder, detail: "cannot create the folder of shard results")
        }
        BLAS.setThreadCount(threads)
        let started = Date()
        // plan and compute write nothing; the shards folder is their output directory only so that
        // a misbehaving analyzer cannot touch earlier results.
        var context = AnalysisContext(run: run, outputDirectory: folder, progress: progress, threads: threads, seed: seed)
        context.shardsFolder = folder
        let plan = try analyzer.plan(context)
        let items = ShardAssignment.items(costs: plan.costs, shard: shard)
        let values = try analyzer.compute(items, of: plan, context: context)
        guard values.count == items.count else {
            throw AnalysisError.unusable(path: outDir, detail: "\(A.name) computed \(values.count) values for \(items.count) items (an analyzer bug)")
        }
        let recorded = ShardHeader.recordedArguments(arguments)
        let cwd = FileManager.default.currentDirectoryPath
        let header = ShardHeader(
            format: ShardHeader.formatName, formatVersion: ShardHeader.currentFormatVersion, analyzer: A.name,
            schemaVersion: A.Result.schemaVersion, basinVersion: BasinVersion.string, arguments: recorded, workingDirectory: cwd, seed: seed,
            settingsSHA256: ShardHeader.settingsDigest(analyzer: A.name, schemaVersion: A.Result.schemaVersion, arguments: recorded,
                                                       workingDirectory: cwd, seed: seed),
            shard: shard.index, shards: shard.count, itemCount: plan.count, costsSHA256: ShardHeader.costsDigest(plan.costs),
            items: items, valuesSHA256: sha256Hex(try ShardFile.encodeValues(values)),
            seconds: Date().timeIntervalSince(started), host: ProcessInfo.processInfo.hostName)
        let path = folder + "/" + shard.fileName
        try ShardFile.write(ShardPartial(header: header, values: values), to: path)
        return path
    }

    /// True when `path/shards/` holds a partial result of `analyzer` — or no partial result yet,
    /// only what shards of a starting run leave there (an empty `shards/` another shard running in
    /// parallel just created; `analyze submit`'s record, scripts and logs), and `path` holds
    /// nothing else.
    public static func holdsShards(of analyzer: String, at path: String) -> Bool {
        let folder = shardsFolder(path)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let partials = names.filter { $0.hasPrefix("shard-") && $0.hasSuffix(".json") }
        if partials.contains(where: { (try? ShardFile.header(folder + "/" + $0))?.analyzer == analyzer }) { return true }
        let outside = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }
        guard partials.isEmpty, outside == ["shards"] else { return false }
        let bookkeeping: Set<String> = ["submission.json", "shards.sbatch", "merge.sbatch", "merge.log"]
        return names.allSatisfy { $0.hasPrefix(".") || bookkeeping.contains($0) || ($0.hasPrefix("shard-") && $0.hasSuffix(".log")) }
    }

    /// Merges the shards of `set` (read by `ShardSet.read`) with `analyzer` (rebuilt from
    /// `set.arguments`): the result an unsharded run writes, published to `set.outputDirectory`.
    public static func merge<A: ShardableAnalyzer>(_ analyzer: A, set: ShardSet, run: RunDirectory?, threads: Int = 2,
                                                  progress: ProgressReporter) throws -> AnalysisRunner.Outcome<A.Result> {
        guard set.analyzer == A.name else {
            throw AnalysisError.unusable(path: set.folder, detail: "the shards are of \(set.analyzer), not \(A.name)")
        }
        return try AnalysisRunner.publishing(A.self, run: run, outputDirectory: set.outputDirectory, arguments: set.arguments,
                                             threads: threads, seed: set.seed, force: false, progress: progress) { staged in
            var context = staged
            context.shardsFolder = set.folder
            let plan = try analyzer.plan(context)
            guard plan.count == set.itemCount, ShardHeader.costsDigest(plan.costs) == set.costsSHA256 else {
                throw AnalysisError.unusable(path: set.folder, detail: "the analysis plans \(plan.count) items now but the shards computed \(set.itemCount)"
                                             + (plan.count == set.itemCount ? " of different costs" : "") + ": its inputs changed since the shards ran; run them again")
            }
            var values = [A.ItemValue?](repeating: nil, count: plan.count)
            for k in 1...set.count {
                let path = set.folder + "/" + set.fileName(k)
                let expected = ShardAssignment.items(costs: plan.costs, shard: ShardSelector(index: k, count: set.count) ?? set.selector)
                let header = try ShardFile.header(path)
                guard header.items == expected else {
                    throw AnalysisError.unusable(path: path, detail: "holds items other than shard \(k) of \(set.count) computes; run the shard again")
                }
                for (item, value) in zip(expected, try ShardFile.values(path, as: A.ItemValue.self)) { values[item] = value }
            }
            let complete = values.compactMap { $0 }
            guard complete.count == plan.count else {
                throw AnalysisError.unusable(path: set.folder, detail: "the shards cover \(complete.count) of \(plan.count) items")
            }
            return try analyzer.finish(plan, values: complete, context: context)
        }
    }
}

/// The N partial results of one analysis in an output folder, checked to belong together.
public struct ShardSet: Sendable {
    public var outputDirectory: String
    public var folder: String
    public var analyzer: String
    public var arguments: [String]
    public var workingDirectory: String
    public var seed: UInt64
    public var count: Int
    var itemCount: Int
    var costsSHA256: String
    var selector: ShardSelector

    func fileName(_ k: Int) -> String { "shard-\(k)-of-\(count).json" }

    /// Reads the headers of `outDir/shards/shard-k-of-N.json` and checks that shards 1…N are all
    /// there (naming the missing), intact, of one analyzer, command line, seed and plan, and written
    /// by this Basin version. `shards` picks N when partial results of several N are present.
    public static func read(_ outDir: String, shards: Int? = nil) throws -> ShardSet {
        let folder = ShardRunner.shardsFolder(outDir)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let found: [(k: Int, n: Int, name: String)] = names.compactMap { name in
            guard name.hasPrefix("shard-"), name.hasSuffix(".json") else { return nil }
            let parts = name.dropFirst(6).dropLast(5).components(separatedBy: "-of-")
            guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), ShardSelector(index: k, count: n) != nil else { return nil }
            return (k, n, name)
        }
        guard !found.isEmpty else {
            throw AnalysisError.missing(path: folder, what: "no shard results (shard-K-of-N.json)",
                                        hint: "run the analysis with --shard K/N first, or `analyze submit`")
        }
        let counts = Set(found.map(\.n))
        let n: Int
        if let shards {
            guard counts.contains(shards) else {
                throw AnalysisError.missing(path: folder, what: "no results of \(shards) shards (found shards of \(counts.sorted().map(String.init).joined(separator: ", ")))", hint: "")
            }
            n = shards
        } else {
            guard counts.count == 1, let only = counts.first else {
                throw AnalysisError.unusable(path: folder, detail: "holds results of \(counts.sorted().map(String.init).joined(separator: " and ")) shards; pass --shards N to merge one of them")
            }
            n = only
        }
        let present = Set(found.filter { $0.n == n }.map(\.k))
        let missing = (1...n).filter { !present.contains($0) }
        if let first = missing.first {
            let list = missing.count == 1 ? "shard \(first) of \(n) is missing" : "shards \(missing.prefix(10).map(String.init).joined(separator: ", "))\(missing.count > 10 ? ", …" : "") of \(n) are missing"
            throw AnalysisError.missing(path: folder + "/shard-\(first)-of-\(n).json", what: list, hint: "run them (`analyze submit --resume \(outDir)`) before merging")
        }
        var reference: ShardHeader?
        for k in 1...n {
            let path = folder + "/shard-\(k)-of-\(n).json"
            let h = try ShardFile.header(path)
            guard h.shard == k, h.shards == n else {
                throw AnalysisError.unusable(path: path, detail: "holds shard \(h.shard) of \(h.shards), not \(k) of \(n) (renamed?); run the shard again")
            }
            guard h.basinVersion == BasinVersion.string else {
                throw AnalysisError.unusable(path: path, detail: "written by Basin \(h.basinVersion), this is Basin \(BasinVersion.string); run the shard again with this version")
            }
            guard h.settingsSHA256 == ShardHeader.settingsDigest(analyzer: h.analyzer, schemaVersion: h.schemaVersion, arguments: h.arguments,
                                                                 workingDirectory: h.workingDirectory, seed: h.seed) else {
                throw AnalysisError.unusable(path: path, detail: "its settings do not match their SHA-256 (the file was changed or damaged); run the shard again")
            }
            guard h.items.count <= h.itemCount, h.items.allSatisfy({ $0 >= 0 && $0 < h.itemCount }) else {
                throw AnalysisError.unusable(path: path, detail: "lists items outside 0..<\(h.itemCount); run the shard again")
            }
            if let r = reference {
                let first = folder + "/shard-1-of-\(n).json"
                guard h.analyzer == r.analyzer else {
                    throw AnalysisError.unusable(path: path, detail: "is a shard of \(h.analyzer), but \(first) is of \(r.analyzer)")
                }
                guard h.settingsSHA256 == r.settingsSHA256 else {
                    throw AnalysisError.unusable(path: path, detail: "was run with other settings than \(first): `\(h.arguments.joined(separator: " "))` (seed \(h.seed)) vs `\(r.arguments.joined(separator: " "))` (seed \(r.seed)); run all shards with one command")
                }
                guard h.itemCount == r.itemCount, h.costsSHA256 == r.costsSHA256 else {
                    throw AnalysisError.unusable(path: path, detail: "planned \(h.itemCount) items, \(first) planned \(r.itemCount)\(h.itemCount == r.itemCount ? " of other costs" : ""): the inputs changed between the shards; run them again")
                }
            }
            reference = reference ?? h
        }
        guard let r = reference, let selector = ShardSelector(index: 1, count: n) else {
            throw AnalysisError.missing(path: folder, what: "no shard results", hint: "")
        }
        return ShardSet(outputDirectory: outDir, folder: folder, analyzer: r.analyzer, arguments: r.arguments, workingDirectory: r.workingDirectory,
                        seed: r.seed, count: n, itemCount: r.itemCount, costsSHA256: r.costsSHA256, selector: selector)
    }
}
