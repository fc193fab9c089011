import Foundation

/// Ends berth with Docker's convention: a one-line reason on stderr and the given status
/// (125 when berth itself fails).
func die(_ code: Int32, _ message: String) -> Never {
    FileHandle.standardError.write(Data("berth: \(message)\n".utf8))
    exit(code)
}

/// JSON as `docker inspect` prints it: indented, keys sorted, slashes as they are.
func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(
        withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("berth: \(message)\n".utf8))
}

/// "5 seconds", "3 minutes", as `docker ps` says how long ago.
func humanDuration(_ seconds: Double) -> String {
    let s = Int(max(0, seconds))
    func unit(_ n: Int, _ word: String) -> String { n == 1 ? "1 \(word)" : "\(n) \(word)s" }
    if s < 60 { return s < 1 ? "Less than a second" : unit(s, "second") }
    if s < 3600 { return unit(s / 60, "minute") }
    if s < 86400 * 2 { return unit(s / 3600, "hour") }
    return unit(s / 86400, "day")
}

/// Columns padded to their widest cell, three spaces apart.
func table(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    let widths = (0..<first.count).map { c in rows.map { $0[c].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { c, cell in
            c == row.count - 1 ? cell : cell.padding(toLength: widths[c] + 3, withPad: " ", startingAt: 0)
        }.joined()
    }.joined(separator: "\n")
}
