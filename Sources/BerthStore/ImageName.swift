import BerthSpec

/// Image names as the store keeps them, normalized as Docker does: `busybox` is
/// `docker.io/library/busybox:latest`, `example.com:5000/x` is `example.com:5000/x:latest`.
public enum ImageName {
    /// The full name, or nil when `text` is no valid reference.
    public static func full(_ text: String) -> String? {
        guard let reference = try? ImageReference(parsing: text) else { return nil }
        let domain = reference.domain ?? "docker.io"
        let path = domain == "docker.io" && !reference.path.contains("/") ? "library/" + reference.path : reference.path
        if let digest = reference.digest { return "\(domain)/\(path)@\(digest)" }
        return "\(domain)/\(path):\(reference.tag ?? "latest")"
    }

    /// As `docker images` shows it: docker.io/library/ left out.
    public static func short(_ name: String) -> String {
        for prefix in ["docker.io/library/", "docker.io/"] where name.hasPrefix(prefix) {
            return String(name.dropFirst(prefix.count))
        }
        return name
    }
}
