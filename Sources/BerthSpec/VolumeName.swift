extension VolumeMount {
    /// The rule for a named volume's name (Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128
    /// characters): the same check the spec decoder applies, for names that come from elsewhere
    /// (the CLI) before they become paths.
    public static func isValidVolumeName(_ name: String) -> Bool { SpecDecoder.isValidVolumeName(name) }

    /// Why a name was refused, in the decoder's words.
    public static let volumeNameRule = SpecDecoder.volumeNameRule
}
