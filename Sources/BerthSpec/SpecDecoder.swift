/// Where a cross-checked value came from, so a conflict can name both files.
public struct Origin: Sendable, Hashable {
    public var location: SourceLocation
    public var path: JSONPath
}

/// The locations of the values that checks across specs need (names, ports, dependencies).
public struct SpecOrigins: Sendable {
    public var name: Origin
    public var ports: [Origin] = []
    public var dependsOn: [Origin] = []
}

/// Turns a merged JSON tree into a `ContainerSpec`, collecting every problem rather than
/// stopping at the first. Each field's rules live in SpecDecoder+Fields.swift.
struct SpecDecoder {
    /// Relative paths in a spec (build context, env files, seccomp profiles) are resolved against
    /// the spec folder of the file that wrote them.
    var diagnostics: [Diagnostic] = []
    /// Keys suggested for unknown keys ("did you mean"), so a misspelt required key is reported
    /// once, as the typo, and not again as missing.
    var suggestedKeys: Set<String> = []

    static let topLevelKeys = [
        "$schema", "name", "image", "build", "pull", "entrypoint", "command", "env", "envFile",
        "workdir", "user", "groupAdd", "hostname", "init", "tty", "ports", "volumes", "tmpfs",
        "network", "resources", "sysctls", "restart", "healthcheck", "dependsOn", "security",
        "stopSignal", "stopTimeout", "labels",
    ]

    /// Names Docker and compose users reach for, mapped to where berth keeps them.
    static let aliases: [String: String] = [
        "environment": "env", "env_file": "envFile", "working_dir": "workdir",
        "workingDir": "workdir", "cap_add": "security.capAdd", "cap_drop": "security.capDrop",
        "capAdd": "security.capAdd", "capDrop": "security.capDrop", "depends_on": "dependsOn",
        "stop_signal": "stopSignal", "stop_grace_period": "stopTimeout",
        "read_only": "security.readonlyRootfs", "readonlyRootfs": "security.readonlyRootfs",
        "readOnly": "security.readonlyRootfs", "security_opt": "security",
        "mem_limit": "resources.memory", "memory": "resources.memory",
        "container_name": "name", "network_mode": "network", "shm_size": "resources.shmSize",
        "shmSize": "resources.shmSize", "group_add": "groupAdd", "pids_limit": "resources.pids",
        "cpus": "resources.cpus", "ulimits": "resources.ulimits", "seccomp": "security.seccomp",
        "noNewPrivileges": "security.noNewPrivileges", "expose": "ports", "publish": "ports",
        "restart_policy": "restart", "health_check": "healthcheck", "cmd": "command",
    ]

    /// Keys from Docker and compose that have no one-word equivalent here.
    static let hints: [String: String] = [
        "privileged":
            "berth has no privileged mode; grant what the container needs with \"security\": {\"capAdd\": [...]}",
        "type": "a volume is a bind mount when it has \"source\" and a named volume when it has \"volume\"",
    ]

    // MARK: the document

    mutating func decode(_ root: JSONNode, defaultName: String) -> (ContainerSpec, SpecOrigins)? {
        // Counted before the top-level keys are checked, so an unknown key also makes the spec invalid.
        let errorsBefore = diagnostics.filter { $0.severity == .error }.count
        guard
            let fields = object(
                root, .root, keys: Self.topLevelKeys, aliases: Self.aliases, extensions: true)
        else { return nil }
        let path = JSONPath.root
        if let node = fields["$schema"] { _ = string(node, path.appending("$schema")) }

        var nameOrigin = Origin(location: root.location, path: path)
        var name = defaultName
        if let node = fields["name"] {
            nameOrigin = Origin(location: node.location, path: path.appending("name"))
            if let value = string(node, path.appending("name")) {
                if ContainerSpec.isValidName(value) {
                    name = value
                } else {
                    fail(node, path.appending("name"), Self.invalidNameMessage(value))
                }
            }
        } else if !ContainerSpec.isValidName(defaultName) {
            fail(
                root, path,
                "the file name gives the container name \(JSONPath.quoted(defaultName)), which is not valid: \(Self.nameRule); rename the file or set \"name\""
            )
        }

        var spec = ContainerSpec(name: name)
        var origins = SpecOrigins(name: nameOrigin)
        decodeImage(fields, into: &spec)
        decodeProcess(fields, into: &spec)
        decodeNetworking(fields, into: &spec, origins: &origins)
        decodeStorage(fields, into: &spec)
        decodeLifecycle(fields, into: &spec, origins: &origins)
        decodeLimits(fields, into: &spec)
        if fields["image"] == nil && fields["build"] == nil && suggestedKeys.isDisjoint(with: ["image", "build"]) {
            fail(root, path, "a spec needs \"image\" (an image to run) or \"build\" (how to build one)")
        }
        let errorsAfter = diagnostics.filter { $0.severity == .error }.count
        return errorsAfter == errorsBefore ? (spec, origins) : nil
    }

    static let nameRule =
        "1 to 63 characters of a-z, 0-9, '_', '.' and '-', starting with a letter or digit"

    static func invalidNameMessage(_ value: String) -> String {
        "invalid container name \(JSONPath.quoted(value)): \(nameRule)"
    }

    // MARK: reporting

    mutating func fail(_ node: JSONNode, _ path: JSONPath, _ message: String) {
        diagnostics.append(Diagnostic(at: node.location, path: path, message))
    }

    mutating func fail(at location: SourceLocation, _ path: JSONPath, _ message: String) {
        diagnostics.append(Diagnostic(at: location, path: path, message))
    }

    mutating func expected(_ what: String, _ node: JSONNode, _ path: JSONPath) {
        fail(node, path, "expected \(what), found \(node.typeName)")
    }

    // MARK: typed accessors; each reports its own problem and returns nil

    /// An object's members by key; unknown keys are reported with a suggestion.
    mutating func object(
        _ node: JSONNode, _ path: JSONPath, keys: [String], aliases: [String: String] = [:],
        extensions: Bool = false
    ) -> [String: JSONNode]? {
        guard let members = node.members else {
            expected("an object", node, path)
            return nil
        }
        var fields: [String: JSONNode] = [:]
        for member in members {
            if keys.contains(member.key) {
                fields[member.key] = member.node
                continue
            }
            // `x-` keys are the user's own extensions, as in compose files.
            if extensions && member.key.hasPrefix("x-") { continue }
            var message = "unknown key \(JSONPath.quoted(member.key))"
            // The hints belong to the objects where Docker users write those keys.
            if let hint = Self.hints[member.key], (member.key == "type") == keys.contains("volume") {
                fail(at: member.keyLocation, path.appending(member.key), "\(message): \(hint)")
                continue
            }
            // A near miss of a key, or of an alias ("enviroment" is one letter from "environment").
            let known = keys.filter { $0 != "$schema" }
            if let near = aliases[member.key] ?? Suggestion.nearest(to: member.key, in: known)
                ?? Suggestion.nearest(to: member.key, in: Array(aliases.keys).sorted()).flatMap({ aliases[$0] })
            {
                message += "; did you mean \"\(near)\"?"
                suggestedKeys.insert(near)
            } else {
                message +=
                    "; expected one of " + keys.filter { $0 != "$schema" }.map { "\"\($0)\"" }.joined(separator: ", ")
            }
            fail(at: member.keyLocation, path.appending(member.key), message)
        }
        return fields
    }

    /// A string without NUL characters, at most `maxLength` bytes.
    mutating func string(_ node: JSONNode, _ path: JSONPath, maxLength: Int = 4096) -> String? {
        guard case .string(let s) = node.value else {
            expected("a string", node, path)
            return nil
        }
        if s.utf8.contains(0) {
            fail(node, path, "must not contain a NUL character")
            return nil
        }
        if s.utf8.count > maxLength {
            fail(node, path, "is \(s.utf8.count) bytes long; at most \(maxLength) are allowed")
            return nil
        }
        return s
    }

    /// A string, or a number or boolean written without quotes (env values, build args, sysctls).
    mutating func scalarString(_ node: JSONNode, _ path: JSONPath, maxLength: Int = 4096) -> String? {
        switch node.value {
        case .integer(let i): return String(i)
        case .double(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b): return String(b)
        case .string: return string(node, path, maxLength: maxLength)
        default:
            expected("a string, number or boolean", node, path)
            return nil
        }
    }

    mutating func bool(_ node: JSONNode, _ path: JSONPath) -> Bool? {
        guard case .bool(let b) = node.value else {
            expected("true or false", node, path)
            return nil
        }
        return b
    }

    mutating func integer(_ node: JSONNode, _ path: JSONPath, in range: ClosedRange<Int64>) -> Int64? {
        func outOfRange(_ value: String) -> Int64? {
            let bound =
                range.upperBound == .max
                ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
            fail(node, path, "\(value) is out of range: must be \(bound)")
            return nil
        }
        let value: Int64
        switch node.value {
        case .integer(let i): value = i
        case .double(let d) where d.rounded() == d:
            // 1e3 is a whole number; past Int64 it is out of any range berth has.
            guard let whole = Int64(exactly: d) else { return outOfRange("\(d)") }
            value = whole
        case .double:
            fail(node, path, "expected a whole number, found a fraction")
            return nil
        default:
            expected("a whole number", node, path)
            return nil
        }
        guard range.contains(value) else { return outOfRange("\(value)") }
        return value
    }

    mutating func number(_ node: JSONNode, _ path: JSONPath) -> Double? {
        switch node.value {
        case .integer(let i): return Double(i)
        case .double(let d): return d
        default:
            expected("a number", node, path)
            return nil
        }
    }

    mutating func array(_ node: JSONNode, _ path: JSONPath) -> [JSONNode]? {
        guard case .array(let elements) = node.value else {
            expected("an array", node, path)
            return nil
        }
        return elements
    }

    mutating func stringArray(_ node: JSONNode, _ path: JSONPath, maxLength: Int = 4096) -> [String]? {
        guard let elements = array(node, path) else { return nil }
        var out: [String] = []
        var ok = true
        for (i, element) in elements.enumerated() {
            if let s = string(element, path.appending(i), maxLength: maxLength) { out.append(s) } else { ok = false }
        }
        return ok ? out : nil
    }

    /// One of a fixed set of words, with a suggestion when it is near one.
    mutating func choice<E: RawRepresentable & CaseIterable>(
        _ node: JSONNode, _ path: JSONPath, _ type: E.Type
    ) -> E? where E.RawValue == String {
        let options = E.allCases.map(\.rawValue)
        guard case .string = node.value else {
            expected("one of " + options.map { "\"\($0)\"" }.joined(separator: ", "), node, path)
            return nil
        }
        guard let s = string(node, path) else { return nil }
        if let value = E(rawValue: s) { return value }
        var message =
            "expected one of " + options.map { "\"\($0)\"" }.joined(separator: ", ") + ", found \(JSONPath.quoted(s))"
        if let near = Suggestion.nearest(to: s, in: options) { message += "; did you mean \"\(near)\"?" }
        fail(node, path, message)
        return nil
    }

    /// An object whose values are strings (or unquoted scalars), keyed by non-empty names.
    mutating func stringMap(
        _ node: JSONNode, _ path: JSONPath, maxLength: Int = 4096,
        validateKey: (String) -> String? = { _ in nil }
    ) -> [String: String]? {
        guard let members = node.members else {
            expected("an object", node, path)
            return nil
        }
        var out: [String: String] = [:]
        var ok = true
        for member in members {
            let memberPath = path.appending(member.key)
            if member.key.isEmpty || member.key.utf8.contains(0) {
                fail(at: member.keyLocation, memberPath, "names must be non-empty and contain no NUL character")
                ok = false
                continue
            }
            if let problem = validateKey(member.key) {
                fail(at: member.keyLocation, memberPath, problem)
                ok = false
                continue
            }
            if let value = scalarString(member.node, memberPath, maxLength: maxLength) {
                out[member.key] = value
            } else {
                ok = false
            }
        }
        return ok ? out : nil
    }

    /// A duration: a number of seconds or a string like "30s", "1m30s", "500ms".
    mutating func duration(_ node: JSONNode, _ path: JSONPath) -> Duration? {
        switch node.value {
        case .integer, .double:
            guard let seconds = number(node, path) else { return nil }
            guard seconds >= 0 else {
                fail(node, path, "a duration must be zero or more seconds")
                return nil
            }
            guard seconds < 1e12 else {
                fail(node, path, "a duration of \(seconds) seconds is too long")
                return nil
            }
            return Quantity.duration(seconds: seconds)
        case .string:
            guard let s = string(node, path, maxLength: 64) else { return nil }
            guard let d = Quantity.duration(s) else {
                fail(
                    node, path,
                    "invalid duration \(JSONPath.quoted(s)): expected a number of seconds or a string like \"30s\", \"1m30s\" or \"500ms\""
                )
                return nil
            }
            return d
        default:
            expected("a duration (a number of seconds, or a string like \"30s\")", node, path)
            return nil
        }
    }

    /// A size in bytes: a whole number, or a string like "256M", "1.5G", "512k".
    mutating func byteSize(_ node: JSONNode, _ path: JSONPath, minimum: Int64 = 1) -> Int64? {
        let bytes: Int64
        switch node.value {
        case .integer(let i): bytes = i
        case .double(let d) where d.rounded() == d && abs(d) < 9e18: bytes = Int64(d)
        case .double(let d) where d.rounded() == d:
            fail(node, path, d < 0 ? "\(d) bytes is too small: at least \(minimum) bytes" : "\(d) bytes is too large")
            return nil
        case .double:
            // A number, which is accepted, but not a whole one: say that, not "found a number".
            fail(node, path, "expected a whole number of bytes, found a fraction")
            return nil
        case .string:
            guard let s = string(node, path, maxLength: 64) else { return nil }
            guard let b = Quantity.bytes(s) else {
                fail(
                    node, path,
                    "invalid size \(JSONPath.quoted(s)): expected bytes, or a number with a unit such as \"256M\", \"1G\" or \"512k\""
                )
                return nil
            }
            bytes = b
        default:
            expected("a size (bytes, or a string like \"256M\")", node, path)
            return nil
        }
        guard bytes >= minimum else {
            fail(node, path, "\(bytes) bytes is too small: at least \(minimum) bytes")
            return nil
        }
        return bytes
    }

    /// An absolute path inside the container: no `..`, normalized (`//`, `/./` and a trailing `/`).
    mutating func containerPath(_ node: JSONNode, _ path: JSONPath, what: String = "path") -> String? {
        guard let s = string(node, path) else { return nil }
        return checkedAbsolutePath(s, node, path, what: what)
    }

    mutating func checkedAbsolutePath(_ s: String, _ node: JSONNode, _ path: JSONPath, what: String) -> String? {
        guard s.hasPrefix("/") else {
            fail(node, path, "\(what) \(JSONPath.quoted(s)) must be an absolute path (start with '/')")
            return nil
        }
        let parts = s.split(separator: "/").filter { $0 != "." }
        if parts.contains("..") {
            fail(node, path, "\(what) \(JSONPath.quoted(s)) must not contain '..' components")
            return nil
        }
        return "/" + parts.joined(separator: "/")
    }

    /// A host path; a relative one is resolved against the folder of the spec file that wrote it.
    func hostPath(_ s: String, relativeTo node: JSONNode) -> String {
        if s.hasPrefix("/") { return normalize(s) }
        return normalize(SpecFiles.specFolder(of: node.location.file) + "/" + s)
    }

    /// Lexical normalization: no file system access, so a spec's meaning never depends on the
    /// state of the machine that validates it.
    func normalize(_ path: String) -> String {
        var out: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." {
                if !out.isEmpty { out.removeLast() }
            } else {
                out.append(part)
            }
        }
        return "/" + out.joined(separator: "/")
    }
}
