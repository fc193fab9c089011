import BerthStore

/// The OCI distribution client (filled in by the registry work).
public enum Registry {}
