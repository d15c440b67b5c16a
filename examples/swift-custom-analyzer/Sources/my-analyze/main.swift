import AnalyzeCLI
import Analyzers

// The same entry point as Basin's own `analyze`, with one more analyzer registered.
AnalyzeCLI.main(analyzers: BuiltInAnalyzers.all + [ParameterCount.self, ParameterCountOverEpochs.self])
