import Foundation

/// Every file of a run (hidden ones included), by relative path: what byte-identical reruns
/// and resumes are compared on.
func runFiles(_ run: String) -> [String: Data] {
    var out: [String: Data] = [:]
    let enumerator = FileManager.default.enumerator(atPath: run)
    while let relative = enumerator?.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: run + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
            out[relative] = FileManager.default.contents(atPath: run + "/" + relative)
        }
    }
    return out
}
