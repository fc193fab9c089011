/// A build's failure, located where it can be: the file and line of the instruction, and the
/// instruction's keyword ("Containerfile:4: COPY: no source files were specified").
public struct BuildError: Error, CustomStringConvertible, Sendable {
    public var file: String?
    public var line: Int?
    public var instruction: String?
    public var message: String
    /// The exit code berth gives for it (a failed RUN passes its command's status on).
    public var exitCode: Int32

    public init(
        _ message: String, file: String? = nil, line: Int? = nil, instruction: String? = nil, exitCode: Int32 = 1
    ) {
        self.message = message
        self.file = file
        self.line = line
        self.instruction = instruction
        self.exitCode = exitCode
    }

    public var description: String {
        var prefix = ""
        if let file { prefix += file + (line.map { ":\($0)" } ?? "") + ": " }
        if let instruction { prefix += instruction + ": " }
        return prefix + message
    }
}
