/// Quoting for the POSIX shell lines of the scripts Basin writes, and for `#SBATCH` lines,
/// which sbatch tokenises itself (double quotes with backslash escapes; no expansion).
public enum Shell {
    /// Characters that need no quoting in either grammar.
    static func isPlain(_ word: String) -> Bool {
        !word.isEmpty && word.unicodeScalars.allSatisfy { s in
            (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") || (s >= "0" && s <= "9") || "@%+=:,./_-".unicodeScalars.contains(s)
        }
    }

    /// `word` as exactly one shell word: unchanged when plain, else in single quotes, each `'`
    /// written `'\''` (inside single quotes nothing is special, so no other escape is needed —
    /// `$`, backquotes, backslashes, spaces and newlines stay literal).
    public static func quote(_ word: String) -> String {
        if isPlain(word) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Words joined into one command line, each quoted.
    public static func join(_ words: [String]) -> String { words.map(quote).joined(separator: " ") }

    /// `argument` as one token of an `#SBATCH` line: plain, or in double quotes with `\` and `"`
    /// escaped (sbatch's own parser; tested against sbatch 22.05).
    /// - Throws: `.unsupportedArgument` for a line break, which would end the directive.
    public static func directive(_ argument: String) throws(ClusterError) -> String {
        if argument.contains(where: \.isNewline) {
            throw .unsupportedArgument(argument: argument, reason: "a line break cannot be written into an #SBATCH line")
        }
        if isPlain(argument) { return "#SBATCH " + argument }
        let escaped = argument.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "#SBATCH \"" + escaped + "\""
    }
}
