/// JSON Merge Patch (RFC 7396), used to lay `NAME.json.d/*.json` drop-ins over `NAME.json`:
/// objects merge key by key, `null` deletes a key, anything else replaces. Every value keeps the
/// location of the file that supplied it.
public enum MergePatch {
    public static func apply(_ patch: JSONNode, to target: JSONNode?) -> JSONNode {
        guard case .object(let patchMembers) = patch.value else { return patch }
        var members: [JSONNode.Member]
        var location = patch.location
        if let target, case .object(let targetMembers) = target.value {
            members = targetMembers
            location = target.location
        } else {
            members = []
        }
        for member in patchMembers {
            let existing = members.firstIndex { $0.key == member.key }
            if case .null = member.node.value {
                if let existing { members.remove(at: existing) }
                continue
            }
            let merged = apply(member.node, to: existing.map { members[$0].node })
            let updated = JSONNode.Member(key: member.key, node: merged, keyLocation: member.keyLocation)
            if let existing { members[existing] = updated } else { members.append(updated) }
        }
        return JSONNode(.object(members), at: location)
    }
}
