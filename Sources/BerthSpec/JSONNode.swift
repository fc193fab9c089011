/// A JSON value that remembers where it came from, so every later error can name the file, line and
/// column. After drop-ins are merged, each value keeps the location in the file that supplied it.
public struct JSONNode: Sendable {
    public indirect enum Value: Sendable {
        case null
        case bool(Bool)
        case integer(Int64)
        case double(Double)
        case string(String)
        case array([JSONNode])
        case object([Member])
    }

    public struct Member: Sendable {
        public var key: String
        public var node: JSONNode
        public var keyLocation: SourceLocation
    }

    public var value: Value
    public var location: SourceLocation

    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }

    /// The name of this value's type as error messages say it ("found a string").
    public var typeName: String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    public var members: [Member]? {
        if case .object(let m) = value { return m }
        return nil
    }

    public subscript(key: String) -> JSONNode? {
        members?.first { $0.key == key }?.node
    }
}
