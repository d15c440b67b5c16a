import ArgumentParser
public enum AnalyzeCLI { public static func main() {} }
