import ArgumentParser
/// `Analyzers`: the Analyzer protocol, the registry, one folder per analyzer.
public enum AnalyzersModule {}
