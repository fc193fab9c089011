/// The rules of each spec field. Every rule reports through SpecDecoder, with the field's path.
extension SpecDecoder {
    typealias Fields = [String: JSONNode]

    /// MAX_ARG_STRLEN: the kernel refuses a longer argument or environment string at exec.
    static let maxArgument = 131_072

    /// Port mappings one spec may have; a range is one mapping.
    static let maxPorts = 1024

    // MARK: image, build, pull

    mutating func decodeImage(_ fields: Fields, into spec: inout ContainerSpec) {
        if let node = fields["image"], let text = string(node, JSONPath.root.appending("image"), maxLength: 512) {
            do {
                spec.image = try ImageReference(parsing: text)
            } catch {
                fail(
                    node, JSONPath.root.appending("image"), "invalid image reference \(JSONPath.quoted(text)): \(error)"
                )
            }
        }
        if let node = fields["build"] { spec.build = decodeBuild(node, JSONPath.root.appending("build")) }
        if let node = fields["pull"] {
            spec.pull = choice(node, JSONPath.root.appending("pull"), PullPolicy.self) ?? .missing
        }
    }

    mutating func decodeBuild(_ node: JSONNode, _ path: JSONPath) -> BuildSpec? {
        // The short form is the context alone, as in compose.
        if case .string = node.value {
            guard let context = string(node, path) else { return nil }
            guard !context.isEmpty else {
                fail(node, path, "the build context is empty; write \".\" for the spec's own folder")
                return nil
            }
            return BuildSpec(context: hostPath(context, relativeTo: node))
        }
        guard case .object = node.value else {
            expected("an object like {\"context\": \".\"} or the context folder as a string", node, path)
            return nil
        }
        guard
            let fields = object(
                node, path, keys: ["context", "file", "args"],
                aliases: ["dockerfile": "file", "containerfile": "file", "build_args": "args", "buildArgs": "args"])
        else { return nil }
        guard let contextNode = fields["context"] else {
            fail(node, path, "missing \"context\": the folder the image is built from")
            return nil
        }
        guard let context = string(contextNode, path.appending("context")) else { return nil }
        guard !context.isEmpty else {
            fail(
                contextNode, path.appending("context"),
                "the build context is empty; write \".\" for the spec's own folder")
            return nil
        }
        var build = BuildSpec(context: hostPath(context, relativeTo: contextNode))
        if let fileNode = fields["file"], let file = string(fileNode, path.appending("file")) {
            if file.isEmpty || file.split(separator: "/").contains("..") || file.hasPrefix("/") {
                fail(
                    fileNode, path.appending("file"),
                    "the Containerfile must be a relative path inside the context, without '..'")
            } else {
                build.file = file
            }
        }
        if let argsNode = fields["args"] {
            build.args = stringMap(argsNode, path.appending("args"), maxLength: Self.maxArgument) ?? [:]
        }
        return build
    }

    // MARK: the process

    mutating func decodeProcess(_ fields: Fields, into spec: inout ContainerSpec) {
        let root = JSONPath.root
        if let node = fields["entrypoint"] {
            spec.entrypoint = commandLine(node, root.appending("entrypoint"), allowEmpty: true)
        }
        if let node = fields["command"] {
            spec.command = commandLine(node, root.appending("command"), allowEmpty: false)
        }
        if let node = fields["env"] {
            spec.env =
                stringMap(node, root.appending("env"), maxLength: Self.maxArgument) { name in
                    name.contains("=") ? "environment variable names cannot contain '='" : nil
                } ?? [:]
        }
        if let node = fields["envFile"] {
            let path = root.appending("envFile")
            let names: [String]?
            switch node.value {
            case .string: names = string(node, path).map { [$0] }
            case .array: names = stringArray(node, path)
            default:
                expected("a file path or an array of file paths", node, path)
                names = nil
            }
            if let names, let empty = names.firstIndex(of: "") {
                // At the element that is empty, or at the string itself.
                if case .array(let items) = node.value, empty < items.count {
                    fail(items[empty], path.appending(empty), "an env file path cannot be empty")
                } else {
                    fail(node, path, "an env file path cannot be empty")
                }
            } else if let names {
                spec.envFile = names.map { hostPath($0, relativeTo: node) }
            }
        }
        if let node = fields["workdir"] {
            spec.workdir = containerPath(node, root.appending("workdir"), what: "workdir")
        }
        if let node = fields["user"] { spec.user = user(node, root.appending("user")) }
        if let node = fields["groupAdd"], let groups = array(node, root.appending("groupAdd")) {
            for (i, group) in groups.enumerated() {
                if let g = userOrGroup(group, root.appending("groupAdd").appending(i), what: "group") {
                    spec.groupAdd.append(g)
                }
            }
        }
        if let node = fields["hostname"], let name = string(node, root.appending("hostname")) {
            if Self.isValidHostname(name) {
                spec.hostname = name
            } else {
                fail(
                    node, root.appending("hostname"),
                    "invalid hostname \(JSONPath.quoted(name)): at most 63 characters, labels of letters, digits and '-' separated by '.', not starting or ending with '-'"
                )
            }
        }
        if let node = fields["init"] { spec.useInit = bool(node, root.appending("init")) ?? false }
        if let node = fields["tty"] { spec.tty = bool(node, root.appending("tty")) ?? false }
        if let node = fields["stopSignal"] { spec.stopSignal = signal(node, root.appending("stopSignal")) }
        if let node = fields["stopTimeout"] {
            if let d = duration(node, root.appending("stopTimeout")) {
                if d > .seconds(86_400) {
                    fail(node, root.appending("stopTimeout"), "a stop timeout of more than a day is not supported")
                } else {
                    spec.stopTimeout = d
                }
            }
        }
        if let node = fields["labels"] {
            spec.labels =
                stringMap(node, root.appending("labels")) { key in
                    key.hasPrefix("berth.") && ContainerSpec.berthLabels[key] == nil
                        ? "label keys starting with \"berth.\" are reserved for berth itself" : nil
                } ?? [:]
            for (key, allowed) in ContainerSpec.berthLabels {
                guard let value = spec.labels[key], !allowed.contains(value),
                    let member = node.members?.first(where: { $0.key == key })
                else { continue }
                let choices = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
                fail(member.node, root.appending("labels").appending(key), "must be \(choices)")
                spec.labels[key] = nil
            }
        }
    }

    /// An argv: an array of strings, or a string split into words as a shell would (no expansion).
    mutating func commandLine(_ node: JSONNode, _ path: JSONPath, allowEmpty: Bool) -> [String]? {
        let words: [String]
        switch node.value {
        case .string:
            guard let text = string(node, path, maxLength: Self.maxArgument) else { return nil }
            do {
                words = try ShellWords.split(text)
            } catch {
                fail(node, path, "unbalanced \(error.quote) quote in the command line")
                return nil
            }
        case .array:
            guard let list = stringArray(node, path, maxLength: Self.maxArgument) else { return nil }
            words = list
        default:
            expected("an array of strings or a command line string", node, path)
            return nil
        }
        if words.isEmpty && !allowEmpty {
            fail(node, path, "the command is empty; leave the key out to keep the image's command")
            return nil
        }
        return words
    }

    /// `user`, `uid`, `user:group` or `uid:gid`, resolved later against the container's own files.
    mutating func user(_ node: JSONNode, _ path: JSONPath) -> String? {
        switch node.value {
        case .integer, .double: return userOrGroup(node, path, what: "user")
        default: break
        }
        guard case .string = node.value else {
            expected("a user name or a numeric id", node, path)
            return nil
        }
        guard let s = string(node, path, maxLength: 256) else { return nil }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ Self.isValidUserName($0) }) else {
            fail(
                node, path,
                "invalid user \(JSONPath.quoted(s)): expected \"NAME\", \"UID\", \"NAME:GROUP\" or \"UID:GID\"")
            return nil
        }
        return s
    }

    mutating func userOrGroup(_ node: JSONNode, _ path: JSONPath, what: String) -> String? {
        switch node.value {
        case .integer, .double: return integer(node, path, in: 0...4_294_967_294).map { String($0) }
        default: break
        }
        guard case .string = node.value else {
            expected("a \(what) name or a numeric id", node, path)
            return nil
        }
        guard let s = string(node, path, maxLength: 256) else { return nil }
        guard Self.isValidUserName(Substring(s)) else {
            fail(node, path, "invalid \(what) \(JSONPath.quoted(s)): expected a name or a numeric id")
            return nil
        }
        return s
    }

    static func isValidUserName(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.count <= 256
            && !s.contains { $0.isWhitespace || $0 == ":" || $0 == "/" || $0.asciiValue.map { $0 < 0x20 } == true }
    }

    static func isValidHostname(_ s: String) -> Bool {
        guard (1...63).contains(s.utf8.count) else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    mutating func signal(_ node: JSONNode, _ path: JSONPath) -> Signal? {
        let text: String
        switch node.value {
        case .integer, .double:
            guard let n = integer(node, path, in: Int64.min...Int64.max) else { return nil }
            text = String(n)
        case .string:
            guard let s = string(node, path, maxLength: 32) else { return nil }
            text = s
        default:
            expected("a signal name such as \"SIGTERM\" or a number", node, path)
            return nil
        }
        guard let signal = Signal(parsing: text) else {
            fail(
                node, path,
                "unknown signal \(JSONPath.quoted(text)): expected a name such as \"SIGTERM\", \"SIGINT\", \"SIGRTMIN+3\" or a number from 1 to 64"
            )
            return nil
        }
        if signal.number == 9 || signal.number == 19 {
            fail(
                node, path,
                "\(signal) cannot be caught, so it cannot be a stop signal (the container would get no chance to stop cleanly)"
            )
            return nil
        }
        return signal
    }

    // MARK: networking

    mutating func decodeNetworking(_ fields: Fields, into spec: inout ContainerSpec, origins: inout SpecOrigins) {
        let root = JSONPath.root
        if let node = fields["network"] {
            spec.network = choice(node, root.appending("network"), NetworkMode.self) ?? .bridge
        }
        if let node = fields["ports"], var list = array(node, root.appending("ports")) {
            // Each mapping is checked against every other, here and across specs: bound the work.
            if list.count > Self.maxPorts {
                fail(
                    node, root.appending("ports"),
                    "\(list.count) port mappings are too many: at most \(Self.maxPorts) (a range such as \"8000-8100:8000-8100\" counts as one)"
                )
                list = []
            }
            for (i, element) in list.enumerated() {
                let path = root.appending("ports").appending(i)
                guard let map = portMapping(element, path) else { continue }
                if let j = spec.ports.firstIndex(where: { $0.overlaps(map) }) {
                    let other = origins.ports[j]
                    fail(
                        element, path,
                        "host port \(map.hostPort)/\(map.proto.rawValue) is already published by \(other.path) (line \(other.location.line))"
                    )
                    continue
                }
                spec.ports.append(map)
                origins.ports.append(Origin(location: element.location, path: path))
            }
            if !spec.ports.isEmpty && spec.network != .bridge {
                fail(
                    node, root.appending("ports"),
                    "ports are published only with \"network\": \"bridge\"; with \"\(spec.network.rawValue)\" the container uses the host's ports directly or has none"
                )
            }
        }
        if let node = fields["sysctls"] {
            let network = spec.network
            spec.sysctls =
                stringMap(node, root.appending("sysctls")) { key in
                    Self.sysctlProblem(key, network: network)
                } ?? [:]
        }
    }

    /// Only sysctls that are namespaced (so a container's change stays in the container), as Docker.
    static func sysctlProblem(_ key: String, network: NetworkMode) -> String? {
        let ipc: Set = [
            "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
            "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
        ]
        if ipc.contains(key) || key.hasPrefix("fs.mqueue.") { return nil }
        if key.hasPrefix("net.") {
            return network == .host
                ? "net.* sysctls would change the host's own network settings with \"network\": \"host\"" : nil
        }
        if key == "kernel.hostname" || key == "kernel.domainname" {
            return "set the hostname with \"hostname\", not a sysctl"
        }
        return
            "\(JSONPath.quoted(key)) is not a namespaced sysctl: only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and net.* can be set per container"
    }

    /// `{"host": 8080, "container": 80}` or the compose short form `"[ADDR:]HOST[-END]:CONTAINER[-END][/udp]"`.
    mutating func portMapping(_ node: JSONNode, _ path: JSONPath) -> PortMapping? {
        switch node.value {
        case .string:
            guard let text = string(node, path, maxLength: 128) else { return nil }
            switch PortMapping.parse(text) {
            case .success(let map): return map
            case .failure(let problem):
                fail(node, path, "invalid port mapping \(JSONPath.quoted(text)): \(problem.description)")
                return nil
            }
        case .object:
            guard
                let fields = object(
                    node, path, keys: ["host", "container", "protocol", "address", "count"],
                    aliases: [
                        "published": "host", "target": "container", "host_ip": "address", "hostIP": "address",
                        "ip": "address",
                    ])
            else { return nil }
            var ok = true
            func required(_ key: String) -> JSONNode? {
                if let n = fields[key] { return n }
                fail(node, path, "missing \"\(key)\": the \(key) port")
                ok = false
                return nil
            }
            let hostNode = required("host")
            let containerNode = required("container")
            let host = hostNode.flatMap { integer($0, path.appending("host"), in: 1...65535) }
            let container = containerNode.flatMap { integer($0, path.appending("container"), in: 1...65535) }
            var map = PortMapping(hostPort: UInt16(host ?? 1), containerPort: UInt16(container ?? 1))
            if host == nil || container == nil { ok = false }
            if let n = fields["protocol"] {
                if let p = choice(n, path.appending("protocol"), TransportProtocol.self) {
                    map.proto = p
                } else {
                    ok = false
                }
            }
            if let n = fields["address"], let text = string(n, path.appending("address"), maxLength: 64) {
                if let address = IPAddress(text) {
                    map.address = address
                } else {
                    fail(n, path.appending("address"), "invalid IP address \(JSONPath.quoted(text))")
                    ok = false
                }
            }
            if let n = fields["count"] {
                if let count = integer(n, path.appending("count"), in: 1...65535), ok {
                    map.count = UInt16(count)
                    if Int(map.hostPort) + Int(count) - 1 > 65535 || Int(map.containerPort) + Int(count) - 1 > 65535 {
                        fail(n, path.appending("count"), "the range runs past port 65535")
                        ok = false
                    }
                } else {
                    ok = false
                }
            }
            return ok ? map : nil
        default:
            expected("an object like {\"host\": 8080, \"container\": 80} or a string like \"8080:80\"", node, path)
            return nil
        }
    }

    // MARK: storage

    mutating func decodeStorage(_ fields: Fields, into spec: inout ContainerSpec) {
        let root = JSONPath.root
        var targets: [String: JSONPath] = [:]
        func claim(_ target: String, _ node: JSONNode, _ path: JSONPath) -> Bool {
            if let other = targets[target] {
                fail(node, path, "\(JSONPath.quoted(target)) is already mounted by \(other)")
                return false
            }
            targets[target] = path
            return true
        }
        if let node = fields["volumes"], let list = array(node, root.appending("volumes")) {
            for (i, element) in list.enumerated() {
                let path = root.appending("volumes").appending(i)
                if let volume = volumeMount(element, path), claim(volume.target, element, path) {
                    spec.volumes.append(volume)
                }
            }
        }
        if let node = fields["tmpfs"], let list = array(node, root.appending("tmpfs")) {
            for (i, element) in list.enumerated() {
                let path = root.appending("tmpfs").appending(i)
                if let mount = tmpfsMount(element, path), claim(mount.target, element, path) {
                    spec.tmpfs.append(mount)
                }
            }
        }
    }

    static let volumeNameRule =
        "a volume name is 1 to 128 characters of letters, digits, '_', '.' and '-', starting with a letter or digit"

    static func isValidVolumeName(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard (1...128).contains(b.count), b[0].isASCIIAlnum else { return false }
        return b.allSatisfy {
            $0.isASCIIAlnum || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    /// `{"source": "/srv/data", "target": "/data"}`, `{"volume": "data", "target": "/data"}`, or
    /// the short form `"SOURCE:TARGET[:ro]"` where SOURCE is an absolute host path or a volume name.
    mutating func volumeMount(_ node: JSONNode, _ path: JSONPath) -> VolumeMount? {
        switch node.value {
        case .string:
            guard let text = string(node, path) else { return nil }
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count) else {
                fail(
                    node, path,
                    "invalid volume \(JSONPath.quoted(text)): expected \"SOURCE:TARGET\" or \"SOURCE:TARGET:ro\"")
                return nil
            }
            var readonly = false
            if parts.count == 3 {
                switch parts[2] {
                case "ro": readonly = true
                case "rw": readonly = false
                default:
                    fail(node, path, "invalid volume option \(JSONPath.quoted(parts[2])): expected \"ro\" or \"rw\"")
                    return nil
                }
            }
            guard let source = volumeSource(parts[0], node, path),
                let target = checkedAbsolutePath(parts[1], node, path, what: "the target")
            else { return nil }
            return checkedTarget(VolumeMount(source: source, target: target, readonly: readonly), node, path)
        case .object:
            guard
                let fields = object(
                    node, path, keys: ["source", "volume", "target", "readonly"],
                    aliases: [
                        "read_only": "readonly", "readOnly": "readonly", "destination": "target", "dst": "target",
                        "src": "source",
                    ])
            else { return nil }
            let sourceNode = fields["source"]
            let volumeNode = fields["volume"]
            var source: VolumeMount.Source?
            switch (sourceNode, volumeNode) {
            case (nil, nil):
                fail(node, path, "missing \"source\" (an absolute host path) or \"volume\" (a named volume)")
            case (.some, .some):
                fail(volumeNode!, path.appending("volume"), "give either \"source\" or \"volume\", not both")
            case (.some(let n), nil):
                if let s = string(n, path.appending("source")) {
                    if s.hasPrefix("/") {
                        source = volumeSource(s, n, path.appending("source"))
                    } else {
                        fail(
                            n, path.appending("source"),
                            "host path \(JSONPath.quoted(s)) must be absolute; for a named volume use \"volume\"")
                    }
                }
            case (nil, .some(let n)):
                if let s = string(n, path.appending("volume")) {
                    if Self.isValidVolumeName(s) {
                        source = .volume(s)
                    } else {
                        fail(
                            n, path.appending("volume"),
                            "invalid volume name \(JSONPath.quoted(s)): \(Self.volumeNameRule)")
                    }
                }
            }
            guard let targetNode = fields["target"] else {
                fail(node, path, "missing \"target\": where the volume appears in the container")
                return nil
            }
            let target = containerPath(targetNode, path.appending("target"), what: "the target")
            let readonly = fields["readonly"].map { bool($0, path.appending("readonly")) ?? false } ?? false
            guard let source, let target else { return nil }
            return checkedTarget(
                VolumeMount(source: source, target: target, readonly: readonly), targetNode, path.appending("target"))
        default:
            expected(
                "an object like {\"source\": \"/srv/data\", \"target\": \"/data\"} or a string like \"/srv/data:/data\"",
                node, path)
            return nil
        }
    }

    mutating func volumeSource(_ s: String, _ node: JSONNode, _ path: JSONPath) -> VolumeMount.Source? {
        if s.hasPrefix("/") {
            return checkedAbsolutePath(s, node, path, what: "the host path").map { .bind($0) }
        }
        if s.hasPrefix(".") || s.contains("/") {
            fail(node, path, "host path \(JSONPath.quoted(s)) must be absolute")
            return nil
        }
        guard Self.isValidVolumeName(s) else {
            fail(node, path, "invalid volume name \(JSONPath.quoted(s)): \(Self.volumeNameRule)")
            return nil
        }
        return .volume(s)
    }

    mutating func checkedTarget(_ volume: VolumeMount, _ node: JSONNode, _ path: JSONPath) -> VolumeMount? {
        if volume.target == "/" {
            fail(node, path, "a volume cannot be mounted over the container's root")
            return nil
        }
        return volume
    }

    /// `"/run"`, `"/run:size=64m,mode=1777"` (Docker's --tmpfs form) or `{"target", "size", "mode"}`.
    mutating func tmpfsMount(_ node: JSONNode, _ path: JSONPath) -> TmpfsMount? {
        switch node.value {
        case .string:
            guard let text = string(node, path) else { return nil }
            let (targetText, optionsText) =
                text.firstIndex(of: ":").map { (String(text[..<$0]), String(text[text.index(after: $0)...])) } ?? (
                    text, ""
                )
            guard let target = checkedAbsolutePath(targetText, node, path, what: "the tmpfs target") else { return nil }
            var mount = TmpfsMount(target: target)
            for option in optionsText.split(separator: ",") {
                let kv = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                switch (kv[0], kv.count) {
                case ("size", 2):
                    guard let size = Quantity.bytes(kv[1]), size > 0 else {
                        fail(node, path, "invalid tmpfs size \(JSONPath.quoted(kv[1]))")
                        return nil
                    }
                    mount.size = size
                case ("mode", 2):
                    guard Self.isOctal(kv[1]), let mode = UInt32(kv[1], radix: 8), mode <= 0o7777 else {
                        fail(node, path, "invalid tmpfs mode \(JSONPath.quoted(kv[1])): expected octal such as 1777")
                        return nil
                    }
                    mount.mode = mode
                default:
                    fail(
                        node, path,
                        "unknown tmpfs option \(JSONPath.quoted(String(option))): expected size=SIZE or mode=OCTAL")
                    return nil
                }
            }
            return checkedTmpfs(mount, node, path)
        case .object:
            guard let fields = object(node, path, keys: ["target", "size", "mode"]) else { return nil }
            guard let targetNode = fields["target"] else {
                fail(node, path, "missing \"target\": where the tmpfs is mounted")
                return nil
            }
            guard let target = containerPath(targetNode, path.appending("target"), what: "the tmpfs target") else {
                return nil
            }
            var mount = TmpfsMount(target: target)
            if let n = fields["size"] { mount.size = byteSize(n, path.appending("size")) }
            if let n = fields["mode"], case .string = n.value,
                let text = string(n, path.appending("mode"), maxLength: 8)
            {
                if Self.isOctal(text), let mode = UInt32(text, radix: 8), mode <= 0o7777 {
                    mount.mode = mode
                } else {
                    fail(
                        n, path.appending("mode"),
                        "invalid mode \(JSONPath.quoted(text)): expected an octal string such as \"1777\"")
                }
            } else if let n = fields["mode"], n.typeName != "a string" {
                expected("an octal string such as \"1777\"", n, path.appending("mode"))
            }
            return checkedTmpfs(mount, node, path)
        default:
            expected("a string like \"/run:size=64m\" or an object with \"target\"", node, path)
            return nil
        }
    }

    static func isOctal(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 5 && s.allSatisfy { ("0"..."7").contains($0) }
    }

    mutating func checkedTmpfs(_ mount: TmpfsMount, _ node: JSONNode, _ path: JSONPath) -> TmpfsMount? {
        if mount.target == "/" {
            fail(node, path, "a tmpfs cannot be mounted over the container's root")
            return nil
        }
        return mount
    }
}

extension UInt8 {
    var isASCIIAlnum: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }
}
