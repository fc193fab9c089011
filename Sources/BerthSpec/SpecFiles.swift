#if canImport(Glibc)
    import Glibc
#endif
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One container's files: `NAME.json` and the drop-ins merged over it, in order.
public struct SpecFile: Sendable, Equatable {
    /// The file name without `.json`: the container's name unless the spec sets `name`.
    public var stem: String
    public var path: String
    public var dropIns: [String]

    public init(stem: String, path: String, dropIns: [String] = []) {
        self.stem = stem
        self.path = path
        self.dropIns = dropIns
    }
}

/// Finds spec files in drop-in directories the way systemd finds units: the first directory that
/// has `NAME.json` wins, a symlink to /dev/null masks the name, and `NAME.json.d/*.json` drop-ins
/// from every directory are merged in lexical order of their file names (a same-named drop-in in
/// an earlier directory replaces a later one).
public enum SpecFiles {
    public static let defaultDirectories = [
        "/etc/berth/containers.d", "/run/berth/containers.d", "/usr/lib/berth/containers.d",
    ]

    /// `--spec-dir` values when given; else BERTH_SPEC_PATH (colon-separated; a trailing colon
    /// appends the defaults, as SYSTEMD_UNIT_PATH does); else the defaults.
    public static func searchPath(cliDirectories: [String], environment: [String: String]) -> [String] {
        if !cliDirectories.isEmpty { return cliDirectories }
        if let value = environment["BERTH_SPEC_PATH"], !value.isEmpty {
            let dirs = value.split(separator: ":").map(String.init)
            return value.hasSuffix(":") ? dirs + defaultDirectories : dirs
        }
        return defaultDirectories
    }

    /// Dotfiles, editor leftovers and anything not ending in `.json` are not specs.
    public static func isIgnored(_ fileName: String) -> Bool {
        fileName.hasPrefix(".") || fileName.hasSuffix("~") || fileName.hasSuffix(".swp")
            || fileName.hasPrefix("#")
    }

    /// The folder relative paths in a spec are resolved against: the spec's own directory, also
    /// for values that come from a drop-in in `NAME.json.d/`.
    public static func specFolder(of file: String) -> String {
        var folder = parent(of: file)
        if folder.hasSuffix(".json.d") { folder = parent(of: folder) }
        if folder.isEmpty { folder = "." }
        if !folder.hasPrefix("/") {
            folder = FileManager.default.currentDirectoryPath + "/" + folder
        }
        return folder
    }

    public struct Discovery: Sendable {
        public var files: [SpecFile] = []
        /// Names masked by a symlink to /dev/null, with the masking path.
        public var masked: [String: String] = [:]
        public var diagnostics: [Diagnostic] = []
    }

    public static func discover(in directories: [String]) -> Discovery {
        var result = Discovery()
        var mains: [String: String] = [:]
        var dropIns: [String: [String: String?]] = [:]  // stem -> file name -> path (nil: masked)
        let fm = FileManager.default
        for directory in directories {
            guard let entries = try? fm.contentsOfDirectory(atPath: directory) else { continue }
            for entry in entries.sorted() where !isIgnored(entry) {
                let path = directory.hasSuffix("/") ? directory + entry : directory + "/" + entry
                if entry.hasSuffix(".json") {
                    let stem = String(entry.dropLast(5))
                    guard mains[stem] == nil, result.masked[stem] == nil else { continue }
                    if isMask(path) {
                        result.masked[stem] = path
                    } else if isDirectory(path) {
                        result.diagnostics.append(
                            Diagnostic(
                                .warning, at: SourceLocation(file: path, line: 1, column: 1), path: .root,
                                "is a directory, not a spec file; ignored"))
                    } else {
                        mains[stem] = path
                    }
                } else if entry.hasSuffix(".json.d"), isDirectory(path) {
                    let stem = String(entry.dropLast(7))
                    let files = (try? fm.contentsOfDirectory(atPath: path)) ?? []
                    for file in files.sorted() where file.hasSuffix(".json") && !isIgnored(file) {
                        guard dropIns[stem]?[file] == nil else { continue }
                        let filePath = path + "/" + file
                        dropIns[stem, default: [:]][file] = .some(isMask(filePath) ? nil : filePath)
                    }
                }
            }
        }
        for (stem, path) in mains.sorted(by: { $0.key < $1.key }) {
            let overrides = (dropIns[stem] ?? [:]).sorted { $0.key < $1.key }.compactMap { $0.value }
            result.files.append(SpecFile(stem: stem, path: path, dropIns: overrides))
        }
        for (stem, files) in dropIns where mains[stem] == nil && result.masked[stem] == nil {
            if let first = files.values.compactMap({ $0 }).sorted().first {
                result.diagnostics.append(
                    Diagnostic(
                        .warning, at: SourceLocation(file: first, line: 1, column: 1), path: .root,
                        "a drop-in for \"\(stem)\", but no \(stem).json exists in any spec directory; ignored"))
            }
        }
        return result
    }

    /// A spec file named directly (`berth validate web.json`), with its `web.json.d/` drop-ins.
    public static func single(_ path: String) -> SpecFile {
        let name = String(path.split(separator: "/").last ?? "")
        let stem = name.hasSuffix(".json") ? String(name.dropLast(5)) : name
        let dropInDir = path + ".d"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dropInDir)) ?? []
        let dropIns = files.sorted().filter { $0.hasSuffix(".json") && !isIgnored($0) }
            .map { dropInDir + "/" + $0 }.filter { !isMask($0) }
        return SpecFile(stem: stem, path: path, dropIns: dropIns)
    }

    static func isMask(_ path: String) -> Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == "/dev/null"
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The folder part of a path ("" for a bare file name).
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
