import Foundation
import Testing

@testable import BerthSpec

/// Keeps docs/container-spec.schema.json from drifting away from the decoder: the schema must
/// name exactly the keys and enum values `SpecDecoder` accepts, object by object. The schema is
/// read with BerthSpec's own parser, so it is also held to the strict JSON rules specs follow.
@Suite struct SchemaTests {
    /// The package root: three levels up from this file (Tests/BerthSpecTests/SchemaTests.swift).
    static let packageRoot: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    static let schemaPath = packageRoot + "/docs/container-spec.schema.json"

    static func loadSchema() throws -> JSONNode {
        let data = try #require(FileManager.default.contents(atPath: schemaPath), "cannot read \(schemaPath)")
        return try JSONParser.parse([UInt8](data), file: schemaPath).get()
    }

    /// The key lists SpecDecoder passes to `object(_:_:keys:)` for each nested object, copied here
    /// because they are literals at the call sites: a schema that drifts from them fails, and a
    /// key added to the decoder must be added here and to the schema.
    static let nestedKeys: [(definition: String, keys: [String])] = [
        ("buildObject", ["context", "file", "args"]),
        ("resources", ["memory", "cpus", "pids", "shmSize", "ulimits"]),
        ("security", ["readonlyRootfs", "capAdd", "capDrop", "seccomp", "noNewPrivileges"]),
        ("restartObject", ["policy", "maxRetries"]),
        (
            "healthcheck",
            ["test", "interval", "timeout", "retries", "startPeriod", "startInterval", "disable", "onFailure"]
        ),
        ("portObject", ["host", "container", "protocol", "address", "count"]),
        ("volumeObject", ["source", "volume", "target", "readonly"]),
        ("tmpfsObject", ["target", "size", "mode"]),
        ("dependencyObject", ["name", "condition"]),
        ("ulimitObject", ["soft", "hard"]),
    ]

    /// Which top-level field each nested object is reached from.
    static let reachedFrom: [String: String] = [
        "buildObject": "build", "resources": "resources", "security": "security", "restartObject": "restart",
        "healthcheck": "healthcheck", "portObject": "ports", "volumeObject": "volumes", "tmpfsObject": "tmpfs",
        "dependencyObject": "dependsOn", "ulimitObject": "resources",
    ]

    static func propertyNames(_ node: JSONNode?) -> Set<String> {
        Set(node?["properties"]?.members?.map(\.key) ?? [])
    }

    static func isFalse(_ node: JSONNode?) -> Bool {
        if case .bool(false)? = node?.value { return true }
        return false
    }

    static func strings(_ node: JSONNode?) -> [String] {
        guard case .array(let elements)? = node?.value else { return [] }
        return elements.compactMap {
            if case .string(let s) = $0.value { return s }
            return nil
        }
    }

    /// Every `#/$defs/NAME` reachable from `node`, following references into `$defs`.
    static func references(from node: JSONNode, in root: JSONNode) -> Set<String> {
        var found: Set<String> = []
        var pending = [node]
        while let next = pending.popLast() {
            switch next.value {
            case .object(let members):
                for member in members {
                    if member.key == "$ref", case .string(let target) = member.node.value {
                        let name = String(target.dropFirst("#/$defs/".count))
                        if target.hasPrefix("#/$defs/"), !found.contains(name), let definition = root["$defs"]?[name] {
                            found.insert(name)
                            pending.append(definition)
                        }
                    } else {
                        pending.append(member.node)
                    }
                }
            case .array(let elements): pending += elements
            default: break
            }
        }
        return found
    }

    @Test func topLevelPropertiesAreTheDecodersKeys() throws {
        let schema = try Self.loadSchema()
        #expect(Self.propertyNames(schema) == Set(SpecDecoder.topLevelKeys))
        #expect(Self.isFalse(schema["additionalProperties"]), "unknown keys must be refused")
        // The decoder lets `x-` keys through at the top level only.
        #expect(schema["patternProperties"]?["^x-"] != nil)
        // At least one of image and build.
        let alternatives = schema["anyOf"].map { node -> [[String]] in
            guard case .array(let branches) = node.value else { return [] }
            return branches.map { Self.strings($0["required"]) }
        }
        #expect(alternatives == [["image"], ["build"]])
    }

    @Test(arguments: nestedKeys.map(\.definition))
    func nestedObjectPropertiesAreTheDecodersKeys(_ definition: String) throws {
        let schema = try Self.loadSchema()
        let node = try #require(schema["$defs"]?[definition], "no $defs/\(definition) in the schema")
        let expected = try #require(Self.nestedKeys.first { $0.definition == definition }).keys
        #expect(Self.propertyNames(node) == Set(expected), "$defs/\(definition)")
        #expect(Self.isFalse(node["additionalProperties"]), "$defs/\(definition) must refuse unknown keys")
        // And the definition is the one the field actually uses.
        let field = try #require(Self.reachedFrom[definition])
        let property = try #require(schema["properties"]?[field])
        #expect(
            Self.references(from: property, in: schema).contains(definition), "\(field) does not reach \(definition)")
    }

    /// Every `$ref` names a definition that exists, and every definition is used.
    @Test func referencesResolve() throws {
        let schema = try Self.loadSchema()
        let defined = Set(schema["$defs"]?.members?.map(\.key) ?? [])
        var targets: [String] = []
        var pending = [schema]
        while let next = pending.popLast() {
            switch next.value {
            case .object(let members):
                for member in members {
                    if member.key == "$ref", case .string(let target) = member.node.value {
                        targets.append(target)
                    } else {
                        pending.append(member.node)
                    }
                }
            case .array(let elements): pending += elements
            default: break
            }
        }
        for target in targets {
            #expect(
                target.hasPrefix("#/$defs/") && defined.contains(String(target.dropFirst("#/$defs/".count))),
                "unresolved $ref \(target)")
        }
        let used = Set(targets.map { String($0.dropFirst("#/$defs/".count)) })
        #expect(defined.subtracting(used).isEmpty, "unused definitions: \(defined.subtracting(used).sorted())")
    }

    @Test func ulimitNamesAreTheDecoders() throws {
        let schema = try Self.loadSchema()
        let ulimits = schema["$defs"]?["resources"]?["properties"]?["ulimits"]
        #expect(Self.propertyNames(ulimits) == Set(SpecDecoder.ulimitNames))
    }

    @Test func enumsAreTheModelsCases() throws {
        let schema = try Self.loadSchema()
        let defs = schema["$defs"]
        func enumValues(_ node: JSONNode?) -> [String] { Self.strings(node?["enum"]) }
        #expect(enumValues(schema["properties"]?["pull"]) == PullPolicy.allCases.map(\.rawValue))
        #expect(enumValues(schema["properties"]?["network"]) == NetworkMode.allCases.map(\.rawValue))
        #expect(
            enumValues(defs?["restartObject"]?["properties"]?["policy"])
                == RestartPolicy.Policy.allCases.map(\.rawValue))
        #expect(
            enumValues(defs?["healthcheck"]?["properties"]?["onFailure"])
                == HealthCheck.FailureAction.allCases.map(\.rawValue))
        #expect(
            enumValues(defs?["dependencyObject"]?["properties"]?["condition"])
                == Dependency.Condition.allCases.map(\.rawValue))
        #expect(
            enumValues(defs?["portObject"]?["properties"]?["protocol"])
                == TransportProtocol.allCases.map(\.rawValue))
        // Capabilities are matched by a pattern; its examples list every name the decoder knows.
        #expect(Self.strings(defs?["capability"]?["examples"]) == ["ALL"] + Capability.all)
    }
}
