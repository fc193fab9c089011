import BerthSpec

/// Image names as the store keeps them, normalized as Docker does: `busybox` is
/// `docker.io/library/busybox:latest`, `example.com:5000/x` is `example.com:5000/x:latest`.
public enum ImageName {
    /// The full name, or nil when `text` is no valid reference.
    public static func full(_ text: String) -> String? {
        guard let reference = try? ImageReference(parsing: text) else { return nil }
        return full(reference)
    }

    /// The full name of a parsed reference: `name@digest` when it has a digest, else `name:tag`.
    public static func full(_ reference: ImageReference) -> String {
        let normalized = reference.normalized
        if let digest = normalized.digest { return normalized.normalizedName + "@" + digest }
        return normalized.normalizedName + ":" + (normalized.tag ?? "latest")
    }

    /// As `docker images` shows it: docker.io/library/ left out.
    public static func short(_ name: String) -> String {
        for prefix in ["docker.io/library/", "docker.io/"] where name.hasPrefix(prefix) {
            return String(name.dropFirst(prefix.count))
        }
        return name
    }
}
