#if canImport(Glibc)
    import Glibc
#endif

/// A named volume's first fill with what the image has at the mount target, as Docker does it,
/// made safe against a kill at any point. The copy goes into ROOT/volumes/NAME/.fill-XXXX; once
/// complete (and synced) it is renamed .fill-XXXX.ready, the commit point; then its entries are
/// renamed into `_data` one by one. `_data` itself is never replaced: a running container may
/// have it mounted already (an empty volume), and must see the fill. Whoever takes the
/// volume's lock next finishes a .ready copy or deletes a partial one, so a partial copy never
/// makes a volume look filled. All of it runs under the volume's lock.
enum VolumeFill {
    /// Fills the volume held by `volume` from `source` in `layers`.
    static func fill(_ volume: VolumeLock, from source: MergedLayers.Directory, in layers: MergedLayers)
        throws(RuntimeError)
    {
        let name = Array((VolumeLayout.fillPrefix + Runtime.newID().prefix(16)).utf8)
        let ready = name + Array(VolumeLayout.readySuffix.utf8)
        guard name.withCName({ mkdirat(volume.directory.raw, $0, 0o700) }) == 0,
            let destination = OpenFile.directory(volume.directory.raw, name)
        else { throw RuntimeError(125, "cannot create a directory for the copy: \(errorText())") }
        do throws(RuntimeError) {
            var copy = TreeCopy(layers: layers, destination: destination)
            try copy.copy(source)
            // The copy on disk before it counts as complete, so that a crash of the machine
            // cannot leave a committed copy with empty files.
            guard LinuxCalls.syncfs(destination.raw) == 0 else {
                throw RuntimeError(125, "cannot sync the copy: \(errorText())")
            }
            guard volume.directory.rename(name, to: ready) else {
                throw RuntimeError(125, "cannot commit the copy: \(errorText())")
            }
        } catch {
            try? DirectoryTree.remove(volume.directory.raw, name)
            throw error
        }
        try moveIn(volume, ready)
    }

    /// Finishes what a killed fill left behind: a complete copy is moved in, a partial one deleted.
    static func recover(_ volume: VolumeLock) throws(RuntimeError) {
        let prefix = Array(VolumeLayout.fillPrefix.utf8)
        let suffix = Array(VolumeLayout.readySuffix.utf8)
        for name in try DirectoryTree.names(volume.directory.raw) where name.starts(with: prefix) {
            if name.count > suffix.count && Array(name.suffix(suffix.count)) == suffix {
                try moveIn(volume, name)
            } else {
                try DirectoryTree.remove(volume.directory.raw, name)
            }
        }
    }

    /// Renames each entry of the complete copy `ready` into `_data`, gives `_data` the owner,
    /// mode and times the image's directory has (Docker does too), and removes `ready`.
    private static func moveIn(_ volume: VolumeLock, _ ready: [UInt8]) throws(RuntimeError) {
        guard let copy = OpenFile.directory(volume.directory.raw, ready),
            let data = OpenFile.directory(volume.directory.raw, VolumeLayout.dataName)
        else { throw RuntimeError(125, "cannot open the volume's copy: \(errorText())") }
        for name in try DirectoryTree.names(copy.raw) {
            // A name a running container wrote in the meantime is its own and stays.
            if try !VolumeStore.renameNoReplace(copy.raw, name, data.raw, name) {
                try DirectoryTree.remove(copy.raw, name)
            }
        }
        var st = stat()
        guard fstat(copy.raw, &st) == 0 else { throw RuntimeError(125, "cannot read the copy: \(errorText())") }
        try FileAttributes.copy(
            st, from: copy.raw, .dot, to: data.raw, .dot, shownAs: VolumeLayout.dataName)
        guard ready.withCName({ unlinkat(volume.directory.raw, $0, AT_REMOVEDIR) }) == 0 else {
            throw RuntimeError(125, "cannot remove the volume's copy: \(errorText())")
        }
    }
}
