/// The analyzers that ship with Basin. The CLI's subcommands come from this list (plus
/// any a custom build adds); nothing else special-cases a built-in.
public enum BuiltInAnalyzers {
    public static let all: [AnalyzerType] = [
        NormsAnalyzer.self,
        SVCCAAnalyzer.self,
        TransferAnalyzer.self,
        HessianAnalyzer.self,
    ]
}
