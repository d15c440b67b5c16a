/// The analyzers that ship with Basin. The CLI's subcommands come from this list (plus
/// any a custom build adds); nothing else special-cases a built-in.
public enum BuiltInAnalyzers {
    public static let all: [AnalyzerType] = [
        NormsAnalyzer.self,
        BarrierAnalyzer.self,
        ConnectAnalyzer.self,
        PlaneAnalyzer.self,
        SurfaceAnalyzer.self,
        AlignAnalyzer.self,
        WalkAnalyzer.self,
        SVCCAAnalyzer.self,
        HessianAnalyzer.self,
        TransferAnalyzer.self,
        SpectraAnalyzer.self,
    ]
}
