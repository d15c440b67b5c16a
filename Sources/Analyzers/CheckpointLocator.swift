import CheckpointFormat
import Foundation

/// Resolves what users type to name a checkpoint: a file (`a.ckpt`), or a run and a
/// point in it (`runA/:150`, `runA/:it:1200`).
public enum CheckpointLocator {
    /// The activation dump for `spec`: an `.acts` file or `run/:150`.
    public static func resolveActivations(_ spec: String) throws(CheckpointError) -> String {
        try resolve(spec, activations: true)
    }

    /// The checkpoint file for `spec`.
    /// - Throws: `CheckpointError` listing what exists when the point is missing.
    public static func resolve(_ spec: String, activations: Bool = false) throws(CheckpointError) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory), !isDirectory.boolValue {
            return spec
        }
        // `run/:150`: split at the first ':' that follows a '/' or ends a directory name.
        guard let colon = spec.range(of: "/:") ?? spec.range(of: ":") else { throw .fileNotFound(path: spec) }
        let runPath = String(spec[..<colon.lowerBound])
        let pointText = String(spec[colon.upperBound...])
        guard let point = RunPoint(parsing: pointText) else {
            throw .invalidInput(path: spec, detail: "'\(pointText)' is not an epoch (150) or iteration (it:1200)")
        }
        let run = try RunDirectory(path: runPath.isEmpty ? "." : runPath)
        return activations ? try run.activations(point) : try run.checkpoint(point)
    }
}
