/// Sizes and durations as users write them in specs.
public enum Quantity {
    /// Bytes from "256M", "1.5g", "512kb", "1GiB" or "1024" (binary units, as Docker's RAMInBytes).
    public static func bytes(_ text: String) -> Int64? {
        var s = Substring(text.lowercased())
        if s.hasSuffix("b") { s.removeLast() }
        // "i" only after a unit ("Gi", "GiB"): "256i" is not 256 bytes.
        let binary = s.hasSuffix("i")
        if binary { s.removeLast() }
        var multiplier: Double = 1
        if let last = s.last, let power = "kmgtp".firstIndex(of: last) {
            multiplier = pow1024("kmgtp".distance(from: "kmgtp".startIndex, to: power) + 1)
            s.removeLast()
        } else if binary {
            return nil
        }
        if s.hasSuffix(" ") { s.removeLast() }
        guard !s.isEmpty, s.first!.isASCII, s.first!.isNumber,
            s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            let value = Double(s), value.isFinite
        else { return nil }
        let bytes = value * multiplier
        guard bytes < 9.2e18 else { return nil }
        return Int64(bytes)
    }

    private static func pow1024(_ n: Int) -> Double {
        (0..<n).reduce(1.0) { acc, _ in acc * 1024 }
    }

    /// A duration in Go's syntax, as Docker and compose write them: "30s", "1m30s", "500ms", "2h";
    /// a bare "0" is zero. Negative durations are refused.
    public static func duration(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        let units: [(String, Double)] = [
            ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1),
            ("m", 60), ("h", 3600),
        ]
        var rest = Substring(text)
        var seconds: Double = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number != ".", let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            guard let unit = units.first(where: { $0.0 == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            seconds += value * unit.1
        }
        guard seconds.isFinite, seconds < 1e12 else { return nil }
        return duration(seconds: seconds)
    }

    /// `seconds` (at least 0, below 10^12) as a Duration. Whole seconds and the fraction are
    /// converted apart: 10^12 s is more nanoseconds than an Int64 holds.
    static func duration(seconds: Double) -> Duration {
        let whole = seconds.rounded(.towardZero)
        return .seconds(Int64(whole)) + .nanoseconds(Int64(((seconds - whole) * 1e9).rounded()))
    }
}

/// Splits a command line the way a POSIX shell splits words, without expansions: whitespace
/// separates, single quotes are literal, double quotes allow \" \\ \$ \`, a backslash escapes
/// the next character. Compose does the same for string-form `command` and `entrypoint`.
public enum ShellWords {
    public struct UnbalancedQuote: Error {
        public var quote: Character
    }

    public static func split(_ text: String) throws(UnbalancedQuote) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var iterator = text.makeIterator()
        while let c = iterator.next() {
            switch c {
            case " ", "\t", "\n", "\r":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "'":
                inWord = true
                var closed = false
                while let d = iterator.next() {
                    if d == "'" {
                        closed = true
                        break
                    }
                    current.append(d)
                }
                if !closed { throw UnbalancedQuote(quote: "'") }
            case "\"":
                inWord = true
                var closed = false
                while let d = iterator.next() {
                    if d == "\"" {
                        closed = true
                        break
                    }
                    if d == "\\" {
                        guard let e = iterator.next() else { break }
                        if !"\"\\$`".contains(e) { current.append("\\") }
                        current.append(e)
                    } else {
                        current.append(d)
                    }
                }
                if !closed { throw UnbalancedQuote(quote: "\"") }
            case "\\":
                inWord = true
                if let d = iterator.next() { current.append(d) }
            default:
                inWord = true
                current.append(c)
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
