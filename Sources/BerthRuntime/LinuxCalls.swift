#if canImport(Glibc)
    import Glibc
#endif

/// C library calls that Swift's Glibc module does not import: glibc declares them only under
/// _GNU_SOURCE (renameat2, syncfs, copy_file_range) or in headers the module leaves out
/// (<sys/xattr.h>). They are looked up once in the C library already loaded, and typed here.
enum LinuxCalls {
    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    typealias SyncFS = @convention(c) (Int32) -> Int32
    typealias CopyFileRange =
        @convention(c) (
            Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32
        ) -> Int
    typealias ListXattr = @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<CChar>?, Int) -> Int
    typealias GetXattr =
        @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int)
        -> Int
    typealias SetXattr =
        @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32)
        -> Int32

    /// renameat2's flag: fail with EEXIST instead of replacing the destination.
    static let renameNoReplace: UInt32 = 1

    static let renameat2 = symbol("renameat2", RenameAt2.self)
    static let syncfs = symbol("syncfs", SyncFS.self)
    static let copyFileRange = symbol("copy_file_range", CopyFileRange.self)
    /// The l* variants: they act on a symbolic link itself, never on what it points to.
    static let llistxattr = symbol("llistxattr", ListXattr.self)
    static let lgetxattr = symbol("lgetxattr", GetXattr.self)
    static let lsetxattr = symbol("lsetxattr", SetXattr.self)

    private static func symbol<T>(_ name: String, _ type: T.Type) -> T {
        // A nil handle is RTLD_DEFAULT: the symbols of the process, glibc's among them.
        guard let address = dlsym(nil, name) else { fatalError("the C library has no \(name)") }
        return unsafeBitCast(address, to: type)
    }
}
