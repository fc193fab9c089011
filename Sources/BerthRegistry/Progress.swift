import BerthStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Draws a pull's or push's progress on a terminal: one line per blob (its short digest, what is
/// happening, a bar and bytes) and an overall line (bytes of all blobs, and the rate), redrawn
/// in place at most ten times a second. On anything but a terminal it stays quiet. Its handler
/// may be called from several tasks at once.
///
///     let renderer = ProgressRenderer()
///     try await client.pull(reference, progress: renderer.handler)
///     renderer.finish()
public final class ProgressRenderer: Sendable {
    public enum Direction: Sendable { case download, upload }

    private struct State {
        var order: [Digest] = []
        var blobs: [Digest: TransferProgress] = [:]
        var linesDrawn = 0
        var lastDraw: ContinuousClock.Instant?
        var started = ContinuousClock.now
        var finished = false
    }

    private let fd: Int32
    /// Whether it draws at all: `fd` is a terminal (or the caller said so).
    public let interactive: Bool
    private let direction: Direction
    private let state = Mutex(State())

    public init(fd: Int32 = STDERR_FILENO, interactive: Bool? = nil, direction: Direction = .download) {
        self.fd = fd
        self.interactive = interactive ?? (isatty(fd) == 1)
        self.direction = direction
    }

    /// For `pull(…, progress:)` and `push(…, progress:)`.
    public var handler: ProgressHandler { { [self] in self.update($0) } }

    public func update(_ progress: TransferProgress) {
        guard interactive else { return }
        state.withLock { state in
            guard !state.finished else { return }
            if state.blobs[progress.digest] == nil { state.order.append(progress.digest) }
            let phaseChanged = state.blobs[progress.digest]?.phase != progress.phase
            state.blobs[progress.digest] = progress
            let now = ContinuousClock.now
            if phaseChanged || state.lastDraw.map({ now - $0 >= .milliseconds(100) }) ?? true {
                draw(&state, now: now)
            }
        }
    }

    /// The last drawing, left on the screen.
    public func finish() {
        guard interactive else { return }
        state.withLock { state in
            guard !state.finished else { return }
            draw(&state, now: .now)
            state.finished = true
        }
    }

    private func draw(_ state: inout State, now: ContinuousClock.Instant) {
        state.lastDraw = now
        var size = winsize()
        let columns = ioctl(fd, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
        let rows = size.ws_row > 2 ? Int(size.ws_row) : 24
        let elapsed = now - state.started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var blobs = state.order.compactMap { state.blobs[$0] }
        var lines = Self.render(blobs, direction: direction, width: columns - 1, elapsed: seconds)
        // More blobs than the screen holds: only the unfinished ones (all count in the total
        // line), and of those what fits.
        if lines.count > rows - 1 {
            let total = lines.removeLast()
            blobs = blobs.filter { [.waiting, .transferring].contains($0.phase) || $0.phase.isRetrying }
            lines = Array(Self.render(blobs, direction: direction, width: columns - 1, elapsed: seconds).dropLast())
            lines = Array(lines.suffix(rows - 2)) + [total]
        }
        var out = ""
        if state.linesDrawn > 0 { out += "\u{1B}[\(state.linesDrawn)A" }
        for line in lines { out += "\r\u{1B}[2K" + line + "\n" }
        out += "\u{1B}[J"
        state.linesDrawn = lines.count
        var bytes = Array(out.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            offset += n
        }
        bytes.removeAll()
    }

    /// The lines for these blobs (each at most `width` characters), the overall line last.
    public static func render(_ blobs: [TransferProgress], direction: Direction, width: Int, elapsed: Double)
        -> [String]
    {
        let width = max(width, 20)
        var lines: [String] = []
        var done: Int64 = 0
        var total: Int64 = 0
        var moved: Int64 = 0
        for blob in blobs {
            let id = String(blob.digest.hex.prefix(12))
            let status: String
            var showBar = false
            switch blob.phase {
            case .waiting: status = "Waiting"
            case .transferring:
                status = direction == .download ? "Downloading" : "Pushing"
                showBar = true
                moved += blob.completed
            case .retrying(let attempt):
                status = "Retrying (\(attempt))"
                showBar = true
            case .alreadyPresent: status = direction == .download ? "Already exists" : "Layer already exists"
            case .mounted: status = "Mounted from another repository"
            case .done:
                status = direction == .download ? "Pull complete" : "Pushed"
                moved += blob.total
            }
            done += min(blob.completed, blob.total)
            total += blob.total
            var line = "\(id): \(status)"
            if showBar {
                let bar = bar(blob.completed, blob.total, width: min(30, max(10, width - line.count - 30)))
                line += " " + bar + " " + bytes(blob.completed) + "/" + bytes(blob.total)
            }
            lines.append(String(line.prefix(width)))
        }
        var overall = "total: " + bar(done, total, width: min(30, max(10, width - 40))) + " "
        overall += bytes(done) + "/" + bytes(total)
        if elapsed > 0.5, moved > 0 { overall += "  " + bytes(Int64(Double(moved) / elapsed)) + "/s" }
        lines.append(String(overall.prefix(width)))
        return lines
    }

    /// `[=====>     ]`
    static func bar(_ done: Int64, _ total: Int64, width: Int) -> String {
        let inner = max(width - 2, 1)
        let filled = total > 0 ? Int(Double(min(done, total)) / Double(total) * Double(inner)) : 0
        if filled >= inner { return "[" + String(repeating: "=", count: inner) + "]" }
        return "[" + String(repeating: "=", count: filled) + ">" + String(repeating: " ", count: inner - filled - 1)
            + "]"
    }

    /// Docker's units: 1.2kB, 34.5MB, 1.02GB (powers of 1000).
    public static func bytes(_ n: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(n)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 { return "\(n)B" }
        let digits = value < 10 ? 2 : (value < 100 ? 1 : 0)
        var text = String(Int((value * pow10(digits)).rounded()))
        if digits > 0 {
            while text.count <= digits { text = "0" + text }
            text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
        }
        return text + units[unit]
    }

    private static func pow10(_ n: Int) -> Double { n == 0 ? 1 : (n == 1 ? 10 : 100) }
}

extension TransferProgress.Phase {
    var isRetrying: Bool {
        if case .retrying = self { return true }
        return false
    }
}
