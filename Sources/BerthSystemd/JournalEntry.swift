extension Journal {
    /// One field of an entry: its name, and its value exactly as written.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]

        public init(name: String, value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    /// A journal entry read whole: its fields as bytes, when it was written, and where it is.
    public struct Entry: Sendable {
        /// Every field in the journal's order; a name may occur more than once.
        public var fields: [Field]
        /// Microseconds since the epoch.
        public var realtime: UInt64
        public var cursor: String

        public init(fields: [Field], realtime: UInt64, cursor: String) {
            self.fields = fields
            self.realtime = realtime
            self.cursor = cursor
        }

        /// The first value of `field`, as bytes.
        public subscript(field: String) -> [UInt8]? {
            fields.first { $0.name == field }?.value
        }

        /// Every value of `field`, in order.
        public func values(_ field: String) -> [[UInt8]] {
            fields.filter { $0.name == field }.map(\.value)
        }

        /// For display only: invalid UTF-8 is replaced with U+FFFD. Keep the bytes for anything
        /// passed on.
        public func string(_ field: String) -> String? {
            self[field].map { String(decoding: $0, as: UTF8.self) }
        }
    }
}
