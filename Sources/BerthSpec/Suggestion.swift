/// "Did you mean" for unknown keys and enum values: a case- and separator-insensitive match first
/// (readOnlyRootfs, cap_add), then the nearest name by edit distance.
enum Suggestion {
    static func nearest(to word: String, in candidates: [String]) -> String? {
        let folded = fold(word)
        if let exact = candidates.first(where: { fold($0) == folded }) { return exact }
        let limit = max(2, word.count / 3)
        // The distance is at least the difference in length: candidates far from the word's length
        // are skipped before the O(n·m) distance, which a megabyte-long key would make take minutes.
        let length = folded.count
        let scored = candidates.map { ($0, fold($0)) }.filter { abs($0.1.count - length) <= limit }
            .map { ($0.0, distance(folded, $0.1)) }.filter { $0.1 <= limit }
        return scored.min { $0.1 < $1.1 }?.0
    }

    private static func fold(_ s: String) -> String {
        String(s.lowercased().filter { $0 != "_" && $0 != "-" })
    }

    /// Levenshtein distance, O(n·m) on short keys.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
