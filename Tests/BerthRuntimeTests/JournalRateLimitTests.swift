import BerthRuntime
import BerthSpec
import BerthSystemd
import BerthTestSupport
import Foundation
import Testing

/// journald's default rate limit, which the sandbox switches off, put back for one test: a
/// container that writes more lines than journald lets a unit log loses the rest, and journald
/// says so in the journal ("Suppressed N messages from berth-NAME.scope"), as docs/logging.md
/// tells users. The test holds JournalGate exclusive: no test that counts journal lines runs
/// while journald drops lines or restarts.
@Suite struct JournalRateLimitTests {
    static let journald = "systemd-journald.service"
    static let dropInDirectory = "/run/systemd/journald.conf.d"
    /// journald applies drop-ins in file-name order, whatever their directory: this one comes
    /// after the sandbox's own berth-sandbox.conf (rate limit off).
    static let dropInName = "zz-berth-test-default-rate-limit.conf"
    static var dropInPath: String { dropInDirectory + "/" + dropInName }
    /// journald's defaults, spelled out.
    static let dropIn = "[Journal]\nRateLimitIntervalSec=30s\nRateLimitBurst=10000\n"
    /// More than a unit's burst: journald scales the 10,000 with the free space of the journal,
    /// by at most 3.75 while that space stays under journald's default cap of 4 GiB.
    static let written = 50_000
    /// SD_MESSAGE_JOURNAL_DROPPED, the MESSAGE_ID of journald's "Suppressed N messages from UNIT".
    static let droppedMessageID = "a596d6fe7bfa4994828e72309e95d61e"

    @Test(.integration) func aBurstOverTheDefaultLimitIsCutAndTheSuppressionIsInTheJournal() throws {
        try Integration.check()
        try JournalGate.exclusive {
            let rootfs = try RuntimeIntegrationTests.makeRootfs()
            let bus = try SystemdBus()
            let unlimitedPid = try Self.journaldPid(bus)
            let limitedPid = try Self.withDefaultRateLimit(bus) {
                let limitedPid = try Self.journaldPid(bus)
                #expect(limitedPid != unlimitedPid, "journald was not restarted")

                // The lines as fast as they come, then, once journald's 30 s interval is over,
                // one more: journald reports what it dropped when the unit next logs.
                let name = RuntimeIntegrationTests.unique("ratelimit")
                let lines = try Self.run(
                    name, "seq 1 \(Self.written); sleep 31; echo end", rootfs: rootfs, until: "end")
                let numbers = lines.filter { $0 != "end" }
                #expect(lines.last == "end")
                // journald keeps the start of the burst (the unit's burst, scaled) and drops the rest.
                #expect(numbers.count >= 10_000 && numbers.count < Self.written)
                let isStart = numbers.enumerated().allSatisfy { $0.element == String($0.offset + 1) }
                #expect(isStart, "the lines kept are not 1...\(numbers.count)")

                let unit = "berth-\(name).scope"
                let notices = try Self.suppressionNotices(unit: unit)
                let counts = notices.map { Self.suppressedCount($0, unit: unit) }
                #expect(!notices.isEmpty, "no \"Suppressed N messages from \(unit)\" from journald")
                #expect(counts.allSatisfy { $0 != nil }, "\(notices.map { $0.string("MESSAGE") ?? "" })")
                #expect(notices.allSatisfy { $0.string("N_DROPPED") != nil })
                // About the container's supervisor, so `journalctl -u berth-NAME.scope` shows it too.
                #expect(notices.allSatisfy { $0.string("OBJECT_SYSTEMD_UNIT") == unit })
                let suppressed = counts.compactMap { $0 }.reduce(0, +)
                let nDropped = notices.compactMap { $0.string("N_DROPPED").flatMap { Int($0) } }.reduce(0, +)
                // Every line is either in the journal or counted as suppressed.
                #expect(suppressed == Self.written + 1 - lines.count)
                #expect(nDropped == suppressed)
                print(
                    "journald's default rate limit: \(Self.written + 1) lines written, \(lines.count) arrived, "
                        + "\(suppressed) suppressed (\(notices.map { $0.string("MESSAGE") ?? "" }))")
                return limitedPid
            }

            // withDefaultRateLimit restored the sandbox's journald: the drop-in is gone, it was
            // restarted, and a burst as large as the one above arrives whole.
            #expect(!FileManager.default.fileExists(atPath: Self.dropInPath))
            #expect(try Self.journaldPid(bus) != limitedPid, "journald was not restarted")
            let name = RuntimeIntegrationTests.unique("unlimited")
            let lines = try Self.run(name, "seq 1 \(Self.written); echo end", rootfs: rootfs, until: "end")
            #expect(lines.count == Self.written + 1)
            let isWhole = lines == (1...Self.written).map { String($0) } + ["end"]
            #expect(isWhole, "the lines are not 1...\(Self.written) and end, in order")
            #expect(try Self.suppressionNotices(unit: "berth-\(name).scope", timeout: .zero).isEmpty)
            print("rate limit off again: \(lines.count) of \(Self.written + 1) lines arrived")
        }
    }

    @Test func readersShareTheLockAndAWriterExcludesThem() {
        let lock = ReadWriteLock()
        lock.lockShared()
        #expect(lock.tryLockShared())
        #expect(!lock.tryLockExclusive())
        lock.unlock()
        lock.unlock()
        #expect(lock.tryLockExclusive())
        #expect(!lock.tryLockShared())
        lock.unlock()
        #expect(lock.exclusive { 1 } == 1 && lock.shared { 2 } == 2)
    }

    /// Writes the drop-in, restarts journald, runs `body`, then always removes the drop-in and
    /// restarts journald again, so the tests after this one see the sandbox's journald.
    static func withDefaultRateLimit<T>(_ bus: SystemdBus, _ body: () throws -> T) throws -> T {
        // The drop-in must come last among journald's, or an earlier one's settings would win.
        let others = [
            "/etc/systemd/journald.conf.d", "/run/systemd/journald.conf.d", "/usr/local/lib/systemd/journald.conf.d",
            "/usr/lib/systemd/journald.conf.d",
        ].flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] }
        #expect(others.contains("berth-sandbox.conf"), "the sandbox's drop-in is missing: \(others)")
        try #require(others.allSatisfy { !$0.hasSuffix(".conf") || $0 < dropInName }, "\(others)")

        try FileManager.default.createDirectory(atPath: dropInDirectory, withIntermediateDirectories: true)
        try dropIn.write(toFile: dropInPath, atomically: true, encoding: .utf8)
        let outcome = Result {
            try bus.restartUnit(name: journald)
            return try body()
        }
        let removed = Result { try FileManager.default.removeItem(atPath: dropInPath) }
        try bus.restartUnit(name: journald)
        try removed.get()
        return try outcome.get()
    }

    static func journaldPid(_ bus: SystemdBus) throws -> Int64 {
        try #require(
            try bus.getProperty(unit: journald, interface: SystemdBus.Interface.service, name: "MainPID")?
                .int64Value)
    }

    /// Runs `sh -c script` in a container and returns its lines from the journal, read until the
    /// line `last` has arrived (or 30 s passed).
    static func run(_ name: String, _ script: String, rootfs: String, until last: String) throws -> [String] {
        var runtime = Runtime(root: RuntimeIntegrationTests.root, supervisor: RuntimeIntegrationTests.supervisor)
        let started = try runtime.run(
            spec: RuntimeIntegrationTests.spec(name, ["sh", "-c", script]), rootfs: .directory(rootfs))
        #expect(try RuntimeIntegrationTests.wait(started).exitCode == 0)
        let journal = try Journal()
        try journal.addMatch("CONTAINER_NAME", name)
        try journal.seekHead()
        var lines: [String] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while lines.last != last && ContinuousClock.now < deadline {
            while let entry = try journal.next() { lines.append(entry.string("MESSAGE") ?? "") }
            if lines.last != last { try journal.wait(timeout: .milliseconds(200)) }
        }
        return lines
    }

    /// journald's own "Suppressed N messages from UNIT" entries about `unit`, read until there is
    /// one or `timeout` passed.
    static func suppressionNotices(unit: String, timeout: Duration = .seconds(10)) throws -> [Journal.Entry] {
        let journal = try Journal()
        try journal.addMatch("MESSAGE_ID", droppedMessageID)
        try journal.addMatch("_SYSTEMD_UNIT", journald)
        try journal.seekHead()
        var notices: [Journal.Entry] = []
        let deadline = ContinuousClock.now + timeout
        while true {
            while let entry = try journal.next() {
                if entry.string("MESSAGE")?.hasSuffix(" from \(unit)") == true { notices.append(entry) }
            }
            if !notices.isEmpty || ContinuousClock.now >= deadline { return notices }
            try journal.wait(timeout: .milliseconds(200))
        }
    }

    /// N of "Suppressed N messages from UNIT", the wording of systemd 252's journald.
    static func suppressedCount(_ notice: Journal.Entry, unit: String) -> Int? {
        guard let message = notice.string("MESSAGE") else { return nil }
        let prefix = "Suppressed "
        let suffix = " messages from \(unit)"
        guard message.hasPrefix(prefix), message.hasSuffix(suffix) else { return nil }
        return Int(message.dropFirst(prefix.count).dropLast(suffix.count))
    }
}
