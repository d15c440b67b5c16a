import ArgumentParser
import Testing

/// The message `analyze` would print for `arguments` as `O`'s options, when they are refused as
/// a usage error (exit code 64); nil when they parse. A refusal with another exit code is
/// recorded as a test failure: bad flags must be usage errors caught before any work.
func usageError<O: ParsableArguments>(_ type: O.Type, _ arguments: [String],
                                       sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    do {
        _ = try O.parse(arguments)
        return nil
    } catch {
        let code = O.exitCode(for: error)
        #expect(code == .validationFailure, "\(arguments): exit code \(code.rawValue), not 64", sourceLocation: sourceLocation)
        return O.message(for: error)
    }
}
