import Foundation
import Testing

@testable import BerthReconciler

/// inotify on real directories (a temporary one): editors' temp-file-and-rename, bursts
/// coalesced into one wake-up, override directories made later, and no wake-up when nothing
/// happens.
@Suite struct SpecWatcherTests {
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "berth-watch-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// As an editor saves: a temp file, then a rename over the spec.
    static func save(_ text: String, to path: String) throws {
        try text.write(toFile: path + ".tmp~", atomically: false, encoding: .utf8)
        guard rename(path + ".tmp~", path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    @Test func aRenamedSpecWakesTheWatcherOnce() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let watcher = try SpecWatcher(directories: [dir])
        #expect(!watcher.wait(timeout: .milliseconds(30)), "a wake-up with nothing changed")
        let path = dir + "/web.json"
        Thread.detachNewThread {
            usleep(50_000)
            try? SpecWatcherTests.save("{}", to: path)
        }
        let start = ContinuousClock.now
        #expect(watcher.wait(timeout: .seconds(5)))
        #expect(ContinuousClock.now - start >= .milliseconds(40), "woke before the file was saved")
        #expect(!watcher.wait(timeout: .milliseconds(30)), "the same change woke it twice")
    }

    @Test func aBurstIsOneWakeUp() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let watcher = try SpecWatcher(directories: [dir])
        for n in 0..<50 { try Self.save("{\"n\": \(n)}", to: dir + "/c\(n).json") }
        try FileManager.default.removeItem(atPath: dir + "/c7.json")
        #expect(watcher.wait(timeout: .seconds(1)))
        #expect(!watcher.wait(timeout: .milliseconds(30)))
    }

    @Test func overrideDirectoriesMadeLaterAreWatched() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let watcher = try SpecWatcher(directories: [dir])
        try FileManager.default.createDirectory(atPath: dir + "/web.json.d", withIntermediateDirectories: false)
        #expect(watcher.wait(timeout: .seconds(1)))
        try Self.save("{}", to: dir + "/web.json.d/10-port.json")
        #expect(watcher.wait(timeout: .seconds(1)), "a drop-in inside a new override directory was missed")
    }
}
