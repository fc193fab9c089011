#if canImport(Glibc)
    import Glibc
#endif

/// A spec that parsed and validated, with the files it came from.
public struct LoadedSpec: Sendable {
    public var file: SpecFile
    public var spec: ContainerSpec
    public var origins: SpecOrigins
    /// The spec file with its drop-ins merged in: what berthd records as the spec it applied.
    public var document: JSONNode
}

/// Everything found in the spec directories: the valid specs and every problem, located.
public struct SpecSet: Sendable {
    public var specs: [LoadedSpec] = []
    public var diagnostics: [Diagnostic] = []
    /// Every spec file seen, valid or not.
    public var files: [SpecFile] = []
    public var masked: [String: String] = [:]

    public init() {}

    /// Names that specs declare, or would declare if they were valid (file names), so that a
    /// dependency on a spec with an error is not also reported as a dependency on nothing.
    public var declaredNames: Set<String> { Set(specs.map(\.spec.name)).union(invalidNames) }

    /// The names (file names) of spec files that gave no valid spec.
    public var invalidNames: Set<String> {
        let valid = Set(specs.map(\.file.path))
        return Set(files.filter { !valid.contains($0.path) }.map(\.stem))
    }
}

public enum SpecLoader {
    /// Loads every spec in the search path and runs the checks across specs.
    public static func load(directories: [String]) -> SpecSet {
        let discovery = SpecFiles.discover(in: directories)
        var set = load(files: discovery.files)
        set.masked = discovery.masked
        set.diagnostics += discovery.diagnostics
        set.diagnostics.sort(by: Diagnostic.ordered)
        return set
    }

    public static func load(files: [SpecFile]) -> SpecSet {
        var set = SpecSet()
        // A file named twice (`berth validate d d/web.json`) is one spec, not two that collide; a
        // link under another name is another spec.
        var seen: Set<String> = []
        set.files = files.filter { seen.insert("\($0.stem) \(identity(of: $0.path))").inserted }
        for file in set.files {
            switch load(file) {
            case .success(let spec): set.specs.append(spec)
            case .failure(let problems): set.diagnostics += problems.diagnostics
            }
        }
        set.diagnostics += SpecChecks.acrossSpecs(set.specs, declaredNames: set.declaredNames)
        set.diagnostics.sort(by: Diagnostic.ordered)
        return set
    }

    public struct Problems: Error, Sendable {
        public var diagnostics: [Diagnostic]
    }

    /// One spec: parse `NAME.json` and its drop-ins, merge them, validate the result.
    public static func load(_ file: SpecFile) -> Result<LoadedSpec, Problems> {
        var diagnostics: [Diagnostic] = []
        func parse(_ path: String) -> JSONNode? {
            switch readFile(path) {
            case .failure(let d):
                diagnostics.append(d)
                return nil
            case .success(let bytes):
                switch JSONParser.parse(bytes, file: path) {
                case .success(let node): return node
                case .failure(let d):
                    diagnostics.append(d)
                    return nil
                }
            }
        }
        let base = parse(file.path)
        if let base, base.members == nil {
            diagnostics.append(
                Diagnostic(
                    at: base.location, path: .root, "expected the spec to be a JSON object, found \(base.typeName)"))
        }
        var merged = base
        for path in file.dropIns {
            guard let patch = parse(path) else { continue }
            guard patch.members != nil else {
                diagnostics.append(
                    Diagnostic(
                        at: patch.location, path: .root,
                        "expected a drop-in to be a JSON object (a merge patch), found \(patch.typeName)"))
                continue
            }
            if let current = merged { merged = MergePatch.apply(patch, to: current) }
        }
        guard let merged, !diagnostics.hasErrors else { return .failure(Problems(diagnostics: diagnostics)) }
        var decoder = SpecDecoder()
        let decoded = decoder.decode(merged, defaultName: file.stem)
        diagnostics += decoder.diagnostics
        guard let (spec, origins) = decoded, !diagnostics.hasErrors else {
            return .failure(Problems(diagnostics: diagnostics))
        }
        return .success(LoadedSpec(file: file, spec: spec, origins: origins, document: merged))
    }

    /// The file's device and inode, so two paths to one file are recognized; else the path.
    static func identity(of path: String) -> String {
        var info = stat()
        return stat(path, &info) == 0 ? "\(info.st_dev):\(info.st_ino)" : path
    }

    /// Reads a whole file, refusing anything that is not a regular file or is too large to be a spec.
    static func readFile(_ path: String) -> Result<[UInt8], Diagnostic> {
        func fail(_ message: String) -> Result<[UInt8], Diagnostic> {
            .failure(Diagnostic(at: SourceLocation(file: path, line: 1, column: 1), path: .root, message))
        }
        // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; fstat then refuses it.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return fail("cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return fail("cannot stat: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return fail("is not a regular file") }
        guard info.st_size <= JSONParser.maxFileSize else {
            return fail(
                "the file is \(info.st_size) bytes; a spec file may have at most \(JSONParser.maxFileSize) bytes")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return fail("cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > JSONParser.maxFileSize {
                return fail("the file is larger than \(JSONParser.maxFileSize) bytes, the most a spec file may have")
            }
        }
        return .success(bytes)
    }
}

extension SpecLoader {
    /// A spec from bytes that are not a spec file (`berth run`'s flags, as JSON): the same parser
    /// and rules as for files, with `origin` naming the source in messages.
    public static func decode(_ bytes: [UInt8], origin: String, defaultName: String) -> Result<ContainerSpec, Problems>
    {
        switch JSONParser.parse(bytes, file: origin) {
        case .failure(let diagnostic): return .failure(Problems(diagnostics: [diagnostic]))
        case .success(let root):
            var decoder = SpecDecoder()
            let decoded = decoder.decode(root, defaultName: defaultName)
            guard let (spec, _) = decoded, !decoder.diagnostics.hasErrors else {
                return .failure(Problems(diagnostics: decoder.diagnostics))
            }
            return .success(spec)
        }
    }
}
