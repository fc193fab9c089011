import CJSONC

/// Parses a spec file: the strict scanner first (positions, and everything json-c gets wrong),
/// then json-c builds the tree, and each value is given its position from the scanner's map.
public enum JSONParser {
    /// Spec files are small; refusing huge ones keeps a stray multi-gigabyte file from exhausting memory.
    public static let maxFileSize = 8 << 20

    public static func parse(_ bytes: [UInt8], file: String) -> Result<JSONNode, Diagnostic> {
        func fail(_ line: Int, _ column: Int, _ path: JSONPath, _ message: String) -> Result<JSONNode, Diagnostic> {
            .failure(Diagnostic(at: SourceLocation(file: file, line: line, column: column), path: path, message))
        }
        if bytes.count > maxFileSize {
            return fail(
                1, 1, .root, "the file is \(bytes.count) bytes; a spec file may have at most \(maxFileSize) bytes")
        }
        // A UTF-8 byte order mark is tolerated (some editors write one); json-c never sees it.
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let start = bytes.starts(with: bom) ? 3 : 0

        var scanner = StrictJSONScanner(bytes, startingAt: start)
        do {
            try scanner.scanDocument()
        } catch {
            return fail(error.line, error.column, error.path, error.message)
        }

        guard let tokener = json_tokener_new_ex(Int32(StrictJSONScanner.maxDepth + 2)) else {
            return fail(1, 1, .root, "out of memory creating the JSON parser")
        }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        var root = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                json_tokener_parse_ex(tokener, $0 + start, Int32(buffer.count - start))
            }
        }
        var status = json_tokener_get_error(tokener)
        if status == json_tokener_continue {
            // A document that ends in a number or a literal (`12`, `null`, no newline after it): json-c
            // waits for more input, since the token could go on. A NUL byte tells it the input has ended.
            root = json_tokener_parse_ex(tokener, "", 1)
            status = json_tokener_get_error(tokener)
        }
        defer { if let root { json_object_put(root) } }
        guard status == json_tokener_success else {
            // The scanner accepted what json-c refused: a disagreement between the two, reported as such.
            let reason = json_tokener_error_desc(status).map { String(cString: $0) } ?? "unknown error"
            return fail(1, 1, .root, "json-c rejected a document the strict scanner accepted: \(reason)")
        }
        var builder = TreeBuilder(file: file, positions: scanner.positions)
        guard let tree = builder.node(root, path: .root) else {
            return fail(
                1, 1, builder.missingPath ?? .root,
                "internal error: json-c and the strict scanner disagree about this value")
        }
        return .success(tree)
    }
}

/// Turns json-c's tree into `JSONNode`s, looking up each value's position by its path.
private struct TreeBuilder {
    let file: String
    let positions: [JSONPath: StrictJSONScanner.Position]
    var missingPath: JSONPath?

    func location(_ p: (line: Int, column: Int)) -> SourceLocation {
        SourceLocation(file: file, line: p.line, column: p.column)
    }

    mutating func node(_ object: OpaquePointer?, path: JSONPath) -> JSONNode? {
        guard let position = positions[path] else {
            missingPath = path
            return nil
        }
        let here = location(position.value)
        // json-c represents JSON null as a NULL pointer.
        guard let object else { return JSONNode(.null, at: here) }
        switch json_object_get_type(object) {
        case json_type_null:
            return JSONNode(.null, at: here)
        case json_type_boolean:
            return JSONNode(.bool(json_object_get_boolean(object) != 0), at: here)
        case json_type_int:
            return JSONNode(.integer(json_object_get_int64(object)), at: here)
        case json_type_double:
            return JSONNode(.double(json_object_get_double(object)), at: here)
        case json_type_string:
            // With its length: an escaped \u0000 inside a value must survive (and be rejected later
            // with a clear message), not silently end the string.
            let length = Int(json_object_get_string_len(object))
            let bytes = json_object_get_string(object).map {
                UnsafeRawBufferPointer(start: $0, count: length)
            }
            return JSONNode(
                .string(String(decoding: bytes ?? UnsafeRawBufferPointer(start: nil, count: 0), as: UTF8.self)),
                at: here)
        case json_type_array:
            var elements: [JSONNode] = []
            let count = json_object_array_length(object)
            elements.reserveCapacity(count)
            for index in 0..<count {
                guard let element = node(json_object_array_get_idx(object, index), path: path.appending(index))
                else { return nil }
                elements.append(element)
            }
            return JSONNode(.array(elements), at: here)
        case json_type_object:
            var members: [JSONNode.Member] = []
            var iterator = json_object_iter_begin(object)
            var end = json_object_iter_end(object)
            while json_object_iter_equal(&iterator, &end) == 0 {
                let key = String(cString: json_object_iter_peek_name(&iterator))
                let memberPath = path.appending(key)
                guard let value = node(json_object_iter_peek_value(&iterator), path: memberPath),
                    let keyPosition = positions[memberPath]?.key
                else {
                    missingPath = memberPath
                    return nil
                }
                members.append(JSONNode.Member(key: key, node: value, keyLocation: location(keyPosition)))
                json_object_iter_next(&iterator)
            }
            return JSONNode(.object(members), at: here)
        default:
            missingPath = path
            return nil
        }
    }
}
