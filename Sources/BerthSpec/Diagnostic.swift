/// A place in a spec file. Columns count Unicode scalars from 1, as editors show them.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found in a spec: where it is (file, line, column and JSON path) and what was expected.
public struct Diagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable {
        case error
        case warning
    }

    public var severity: Severity
    public var location: SourceLocation
    public var path: JSONPath
    public var message: String

    public init(
        _ severity: Severity = .error, at location: SourceLocation, path: JSONPath, _ message: String
    ) {
        self.severity = severity
        self.location = location
        self.path = path
        self.message = message
    }

    /// `FILE:LINE:COL: PATH: message` (warnings say so after the path).
    public var description: String {
        let prefix = severity == .warning ? "warning: " : ""
        return "\(location): \(path): \(prefix)\(message)"
    }

    /// Sorts by file, then position, so output reads top to bottom.
    public static func ordered(_ a: Diagnostic, _ b: Diagnostic) -> Bool {
        (a.location.file, a.location.line, a.location.column, a.message)
            < (b.location.file, b.location.line, b.location.column, b.message)
    }
}

extension Array where Element == Diagnostic {
    public var hasErrors: Bool { contains { $0.severity == .error } }
}
