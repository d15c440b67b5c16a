import AnalyzeCLI
AnalyzeCLI.main()
