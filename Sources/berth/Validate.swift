import ArgumentParser
import BerthSpec
import Foundation

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check container specs and report every problem with its file, line, column and JSON path.",
        discussion: """
            With no PATH, checks the configured spec directories. A PATH may be a spec directory \
            (drop-ins in NAME.json.d/ included) or a single NAME.json. Exits 1 when there is any \
            error, 0 otherwise.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @ParentCommand var berth: Berth
    var global: GlobalOptions { berth.global }

    @Option(help: "Output format: text (FILE:LINE:COL: PATH: message) or json.")
    var format: Format = .text

    @Argument(help: "Spec files or directories (default: the configured spec directories).")
    var paths: [String] = []

    func run() throws {
        let set = load()
        switch format {
        case .text: printText(set)
        case .json: try printJSON(set)
        }
        if set.diagnostics.hasErrors { throw ExitCode(1) }
    }

    private func load() -> SpecSet {
        guard !paths.isEmpty else { return SpecLoader.load(directories: global.specPath) }
        var directories: [String] = []
        var singles: [SpecFile] = []
        var missing: [Diagnostic] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                missing.append(
                    Diagnostic(
                        at: SourceLocation(file: path, line: 1, column: 1), path: .root, "no such file or directory"))
            } else if isDirectory.boolValue {
                directories.append(path)
            } else {
                singles.append(SpecFiles.single(path))
            }
        }
        let discovery = SpecFiles.discover(in: directories)
        var set = SpecLoader.load(files: singles + discovery.files)
        set.masked = discovery.masked
        set.diagnostics = (set.diagnostics + discovery.diagnostics + missing).sorted(by: Diagnostic.ordered)
        return set
    }

    private func printText(_ set: SpecSet) {
        for diagnostic in set.diagnostics { print(diagnostic) }
        let errors = set.diagnostics.filter { $0.severity == .error }.count
        let failing = Set(set.diagnostics.filter { $0.severity == .error }.map(\.location.file))
        if set.files.isEmpty && set.diagnostics.isEmpty {
            let searched = paths.isEmpty ? global.specPath : paths
            print("no container specs found in \(searched.joined(separator: ", "))")
        } else if errors == 0 {
            let names = set.specs.map { spec in
                spec.file.dropIns.isEmpty
                    ? spec.spec.name
                    : "\(spec.spec.name) (+\(spec.file.dropIns.count) drop-in\(spec.file.dropIns.count == 1 ? "" : "s"))"
            }
            print("\(set.specs.count) spec\(set.specs.count == 1 ? "" : "s") valid: \(names.joined(separator: ", "))")
        } else {
            let clean = set.specs.filter { spec in
                !failing.contains(spec.file.path) && !spec.file.dropIns.contains(where: failing.contains)
            }
            print(
                "\(errors) error\(errors == 1 ? "" : "s") in \(failing.count) file\(failing.count == 1 ? "" : "s"); \(clean.count) of \(set.files.count) specs valid"
            )
        }
    }

    private struct Report: Encodable {
        struct Spec: Encodable {
            var name: String
            var file: String
            var dropIns: [String]
        }
        struct Problem: Encodable {
            var file: String
            var line: Int
            var column: Int
            var path: String
            var severity: String
            var message: String
        }
        var valid: Bool
        var specs: [Spec]
        var diagnostics: [Problem]
    }

    private func printJSON(_ set: SpecSet) throws {
        let report = Report(
            valid: !set.diagnostics.hasErrors,
            specs: set.specs.map { .init(name: $0.spec.name, file: $0.file.path, dropIns: $0.file.dropIns) },
            diagnostics: set.diagnostics.map {
                .init(
                    file: $0.location.file, line: $0.location.line, column: $0.location.column,
                    path: $0.path.description, severity: $0.severity.rawValue, message: $0.message)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    }
}
