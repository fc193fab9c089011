/// Restart, health, start order, resources and security.
extension SpecDecoder {
    mutating func decodeLifecycle(_ fields: Fields, into spec: inout ContainerSpec, origins: inout SpecOrigins) {
        let root = JSONPath.root
        if let node = fields["restart"] {
            spec.restart = restartPolicy(node, root.appending("restart")) ?? RestartPolicy()
        }
        if let node = fields["healthcheck"] { spec.healthcheck = healthCheck(node, root.appending("healthcheck")) }
        if let node = fields["dependsOn"], let list = array(node, root.appending("dependsOn")) {
            var listed: Set<String> = []  // a set, so a huge list is not checked in quadratic time
            for (i, element) in list.enumerated() {
                let path = root.appending("dependsOn").appending(i)
                guard let dependency = dependency(element, path) else { continue }
                if dependency.name == spec.name {
                    fail(element, path, "a container cannot depend on itself")
                } else if !listed.insert(dependency.name).inserted {
                    fail(element, path, "\(JSONPath.quoted(dependency.name)) is listed twice")
                } else {
                    spec.dependsOn.append(dependency)
                    origins.dependsOn.append(Origin(location: element.location, path: path))
                }
            }
        }
    }

    /// `"always"`, `"on-failure:5"` (Docker's form) or `{"policy": "on-failure", "maxRetries": 5}`.
    mutating func restartPolicy(_ node: JSONNode, _ path: JSONPath) -> RestartPolicy? {
        if case .string = node.value {
            guard let text = string(node, path, maxLength: 64) else { return nil }
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let policy = RestartPolicy.Policy(rawValue: parts.first ?? "") else {
                let options = RestartPolicy.Policy.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                var message = "expected one of \(options), found \(JSONPath.quoted(text))"
                if let near = Suggestion.nearest(
                    to: parts.first ?? "", in: RestartPolicy.Policy.allCases.map(\.rawValue))
                {
                    message += "; did you mean \"\(near)\"?"
                }
                fail(node, path, message)
                return nil
            }
            var restart = RestartPolicy(policy: policy)
            if parts.count == 2 {
                guard policy == .onFailure, !parts[1].isEmpty, parts[1].count <= 7,
                    parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]), n <= 1_000_000
                else {
                    fail(node, path, "only \"on-failure:N\" takes a retry count, N a whole number up to 1000000")
                    return nil
                }
                restart.maxRetries = n
            }
            return restart
        }
        guard case .object = node.value else {
            expected("a policy string like \"on-failure:5\" or an object like {\"policy\": \"always\"}", node, path)
            return nil
        }
        guard
            let fields = object(
                node, path, keys: ["policy", "maxRetries"],
                aliases: ["max_retries": "maxRetries", "condition": "policy", "name": "policy"])
        else { return nil }
        var restart = RestartPolicy()
        // An invalid policy is reported once; "maxRetries" is not then also said not to apply.
        var policyKnown = true
        if let n = fields["policy"] {
            let policy = choice(n, path.appending("policy"), RestartPolicy.Policy.self)
            restart.policy = policy ?? .no
            policyKnown = policy != nil
        }
        if let n = fields["maxRetries"], let retries = integer(n, path.appending("maxRetries"), in: 0...1_000_000) {
            if restart.policy == .onFailure {
                restart.maxRetries = Int(retries)
            } else if policyKnown {
                fail(n, path.appending("maxRetries"), "\"maxRetries\" applies only to the \"on-failure\" policy")
            }
        }
        return restart
    }

    mutating func healthCheck(_ node: JSONNode, _ path: JSONPath) -> HealthCheck? {
        guard
            let fields = object(
                node, path,
                keys: [
                    "test", "interval", "timeout", "retries", "startPeriod", "startInterval", "disable", "onFailure",
                ],
                aliases: [
                    "start_period": "startPeriod", "start_interval": "startInterval", "on_failure": "onFailure",
                    "cmd": "test", "command": "test",
                ])
        else { return nil }
        var check = HealthCheck()
        var ok = true
        if let n = fields["disable"] { check.disable = bool(n, path.appending("disable")) ?? false }
        // Without "test", the image's HEALTHCHECK with these timings (as compose does).
        if let n = fields["test"] {
            check.test = healthTest(n, path.appending("test"))
            if check.test == nil { ok = false }
        }
        for (key, minimum) in [
            ("interval", Duration.milliseconds(1)), ("timeout", .milliseconds(1)), ("startPeriod", .zero),
            ("startInterval", .milliseconds(1)),
        ] {
            guard let n = fields[key] else { continue }
            guard let d = duration(n, path.appending(key)) else {
                ok = false
                continue
            }
            if d < minimum {
                fail(n, path.appending(key), "must be at least \(minimum == .zero ? "0s" : "1ms")")
                ok = false
                continue
            }
            switch key {
            case "interval": check.interval = d
            case "timeout": check.timeout = d
            case "startPeriod": check.startPeriod = d
            default: check.startInterval = d
            }
        }
        if let n = fields["retries"] {
            if let r = integer(n, path.appending("retries"), in: 0...1_000_000) {
                check.retries = Int(r)
            } else {
                ok = false
            }
        }
        if let n = fields["onFailure"] {
            if let action = choice(n, path.appending("onFailure"), HealthCheck.FailureAction.self) {
                check.onFailure = action
            } else {
                ok = false
            }
        }
        return ok ? check : nil
    }

    /// `["CMD", "curl", "-f", "http://localhost/"]`, `["CMD-SHELL", "curl -f …"]`, `["NONE"]`,
    /// or a plain string run by the shell.
    mutating func healthTest(_ node: JSONNode, _ path: JSONPath) -> HealthCheck.Test? {
        if case .string = node.value {
            guard let s = string(node, path, maxLength: Self.maxArgument) else { return nil }
            // Blank, `sh -c` would run nothing and always report healthy.
            guard !s.allSatisfy(\.isWhitespace) else {
                fail(node, path, "the health check command is empty")
                return nil
            }
            return .shell(s)
        }
        guard case .array = node.value else {
            expected("a command string or an array like [\"CMD\", \"curl\", \"-f\", \"http://localhost/\"]", node, path)
            return nil
        }
        guard let words = stringArray(node, path, maxLength: Self.maxArgument) else { return nil }
        switch words.first {
        case "CMD" where words.count >= 2 && !words[1].isEmpty: return .exec(Array(words.dropFirst()))
        case "CMD-SHELL" where words.count == 2 && !words[1].allSatisfy(\.isWhitespace): return .shell(words[1])
        case "NONE" where words.count == 1: return HealthCheck.Test.none
        case "CMD": fail(node, path, "[\"CMD\", ...] needs a program to run after \"CMD\"")
        case "CMD-SHELL": fail(node, path, "[\"CMD-SHELL\", ...] takes exactly one non-empty command string")
        case "NONE": fail(node, path, "[\"NONE\"] takes no arguments")
        default:
            fail(node, path, "a health check array starts with \"CMD\", \"CMD-SHELL\" or \"NONE\"")
        }
        return nil
    }

    /// A name, or `{"name": "db", "condition": "healthy"}`.
    mutating func dependency(_ node: JSONNode, _ path: JSONPath) -> Dependency? {
        func checkedName(_ n: JSONNode, _ p: JSONPath) -> String? {
            guard let name = string(n, p, maxLength: 64) else { return nil }
            guard ContainerSpec.isValidName(name) else {
                fail(n, p, Self.invalidNameMessage(name))
                return nil
            }
            return name
        }
        switch node.value {
        case .string:
            return checkedName(node, path).map { Dependency(name: $0) }
        case .object:
            guard let fields = object(node, path, keys: ["name", "condition"]) else { return nil }
            guard let nameNode = fields["name"] else {
                fail(node, path, "missing \"name\": the container this one waits for")
                return nil
            }
            guard let name = checkedName(nameNode, path.appending("name")) else { return nil }
            var dependency = Dependency(name: name)
            if let n = fields["condition"] {
                guard let condition = choice(n, path.appending("condition"), Dependency.Condition.self) else {
                    return nil
                }
                dependency.condition = condition
            }
            return dependency
        default:
            expected("a container name or an object like {\"name\": \"db\", \"condition\": \"healthy\"}", node, path)
            return nil
        }
    }

    // MARK: resources and security

    static let ulimitNames = [
        "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
        "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
    ]

    mutating func decodeLimits(_ fields: Fields, into spec: inout ContainerSpec) {
        let root = JSONPath.root
        if let node = fields["resources"] {
            spec.resources = resources(node, root.appending("resources")) ?? Resources()
        }
        if let node = fields["security"] {
            spec.security = security(node, root.appending("security")) ?? Security()
        }
    }

    mutating func resources(_ node: JSONNode, _ path: JSONPath) -> Resources? {
        guard
            let fields = object(
                node, path, keys: ["memory", "cpus", "pids", "shmSize", "ulimits"],
                aliases: [
                    "mem_limit": "memory", "memoryMax": "memory", "shm_size": "shmSize", "pids_limit": "pids",
                    "pidsLimit": "pids", "cpu": "cpus",
                ])
        else { return nil }
        var r = Resources()
        // Docker refuses less than 6 MiB: below that a container cannot even start its runtime.
        if let n = fields["memory"] { r.memory = byteSize(n, path.appending("memory"), minimum: 6 << 20) }
        if let n = fields["cpus"], let cpus = number(n, path.appending("cpus")) {
            if cpus > 0 && cpus <= 4096 {
                r.cpus = cpus
            } else {
                fail(n, path.appending("cpus"), "\(cpus) is out of range: more than 0 and at most 4096 CPUs")
            }
        }
        if let n = fields["pids"] { r.pids = integer(n, path.appending("pids"), in: 1...4_194_304) }
        if let n = fields["shmSize"] { r.shmSize = byteSize(n, path.appending("shmSize")) }
        if let n = fields["ulimits"] {
            let ulimitsPath = path.appending("ulimits")
            guard let members = n.members else {
                expected("an object such as {\"nofile\": {\"soft\": 1024, \"hard\": 4096}}", n, ulimitsPath)
                return r
            }
            for member in members {
                let p = ulimitsPath.appending(member.key)
                guard Self.ulimitNames.contains(member.key) else {
                    var message = "unknown ulimit \(JSONPath.quoted(member.key))"
                    if let near = Suggestion.nearest(to: member.key, in: Self.ulimitNames) {
                        message += "; did you mean \"\(near)\"?"
                    }
                    fail(at: member.keyLocation, p, message + "; known: " + Self.ulimitNames.joined(separator: ", "))
                    continue
                }
                if let limit = ulimit(member.node, p) { r.ulimits[member.key] = limit }
            }
        }
        return r
    }

    /// A number (soft = hard) or `{"soft": N, "hard": M}`; -1 is unlimited.
    mutating func ulimit(_ node: JSONNode, _ path: JSONPath) -> Ulimit? {
        let range: ClosedRange<Int64> = -1...Int64.max
        switch node.value {
        case .integer, .double:
            return integer(node, path, in: range).map { Ulimit(soft: $0, hard: $0) }
        case .object:
            guard let fields = object(node, path, keys: ["soft", "hard"]) else { return nil }
            guard let softNode = fields["soft"], let hardNode = fields["hard"] else {
                fail(node, path, "a ulimit object needs both \"soft\" and \"hard\"")
                return nil
            }
            guard let soft = integer(softNode, path.appending("soft"), in: range),
                let hard = integer(hardNode, path.appending("hard"), in: range)
            else { return nil }
            if hard != -1 && (soft == -1 || soft > hard) {
                fail(softNode, path.appending("soft"), "the soft limit \(soft) is above the hard limit \(hard)")
                return nil
            }
            return Ulimit(soft: soft, hard: hard)
        default:
            expected("a number or an object {\"soft\": N, \"hard\": M}", node, path)
            return nil
        }
    }

    mutating func security(_ node: JSONNode, _ path: JSONPath) -> Security? {
        guard
            let fields = object(
                node, path, keys: ["readonlyRootfs", "capAdd", "capDrop", "seccomp", "noNewPrivileges"],
                aliases: [
                    "read_only": "readonlyRootfs", "readOnly": "readonlyRootfs", "readOnlyRootfs": "readonlyRootfs",
                    "cap_add": "capAdd", "cap_drop": "capDrop", "no_new_privileges": "noNewPrivileges",
                ])
        else { return nil }
        var s = Security()
        if let n = fields["readonlyRootfs"] { s.readonlyRootfs = bool(n, path.appending("readonlyRootfs")) ?? false }
        if let n = fields["noNewPrivileges"] { s.noNewPrivileges = bool(n, path.appending("noNewPrivileges")) ?? false }
        if let n = fields["capAdd"] { s.capAdd = capabilities(n, path.appending("capAdd")) }
        if let n = fields["capDrop"] { s.capDrop = capabilities(n, path.appending("capDrop")) }
        // Dropping ALL and adding some back is Docker's idiom; naming one capability in both is a mistake.
        if let n = fields["capDrop"], case .array(let elements) = n.value {
            for (i, element) in elements.enumerated() {
                guard case .string(let name) = element.value else { continue }
                let cap = Capability.canonical(name)
                if s.capAdd.contains(cap) {
                    fail(
                        element, path.appending("capDrop").appending(i),
                        "\(cap == "ALL" ? "ALL" : "CAP_" + cap) is both added and dropped")
                }
            }
        }
        if let n = fields["seccomp"], let text = string(n, path.appending("seccomp")) {
            switch text {
            case "default": s.seccomp = .default
            case "unconfined": s.seccomp = .unconfined
            case _ where text.contains("/") || text.hasSuffix(".json"):
                s.seccomp = .profile(hostPath(text, relativeTo: n))
            default:
                // A word that is not a path is a typo of a keyword, not a profile file.
                var message =
                    "expected \"default\", \"unconfined\" or the path of a profile (containing '/' or ending in .json), found \(JSONPath.quoted(text))"
                if let near = Suggestion.nearest(to: text, in: ["default", "unconfined"]) {
                    message += "; did you mean \"\(near)\"?"
                }
                fail(n, path.appending("seccomp"), message)
            }
        }
        return s
    }

    mutating func capabilities(_ node: JSONNode, _ path: JSONPath) -> [String] {
        guard let names = stringArray(node, path, maxLength: 64) else { return [] }
        var out: [String] = []
        for (i, name) in names.enumerated() {
            let canonical = Capability.canonical(name)
            let isAll = name.uppercased() == "ALL"
            guard isAll || (canonical != "ALL" && Capability.number(canonical) != nil) else {
                var message = "unknown capability \(JSONPath.quoted(name))"
                if let near = Suggestion.nearest(to: canonical, in: Capability.all) {
                    message += "; did you mean \"\(near)\"?"
                }
                if case .array(let elements) = node.value { fail(elements[i], path.appending(i), message) }
                continue
            }
            if !out.contains(canonical) { out.append(canonical) }
        }
        return out
    }
}
