import BerthSpec

/// Named volumes: ROOT/volumes/NAME/_data, created on first use.
public enum Volumes {
    /// The named volumes a spec mounts, in order, without repeats.
    public static func names(in spec: ContainerSpec) -> [String] {
        var seen: Set<String> = []
        return spec.volumes.compactMap {
            guard case .volume(let name) = $0.source, seen.insert(name).inserted else { return nil }
            return name
        }
    }

    /// Creates each named volume the spec mounts that does not exist yet.
    static func prepare(root: String, spec: ContainerSpec, lowerDirs: [String]) throws(RuntimeError) {
        for name in names(in: spec) {
            try Files.makeDirectories([ContainerLayout(root: root, id: "").volumePath(name)])
        }
    }
}
