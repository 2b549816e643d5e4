/// A token shape such as `[A-Z0-9]{16}` or `X[A-Z0-9]{15}` or `[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}`.
///
/// A deliberately small, regex-like language for tenant policies: literals, classes `[...]`
/// with ranges, `\d` (digit), `\w` (ASCII letter or digit), and the quantifiers `{n}`, `{n,m}`,
/// `?`, `+` (at most 64). Matching is case-insensitive and anchored at both ends. A `-` in the
/// pattern stands for any separator the customer typed (dash, space, dot, underscore …), so
/// `ABCD EFGH` and `abcd-efgh` both match `[A-Z]{4}-[A-Z]{4}`; a pattern without `-` is matched
/// against the token with its separators removed.
public struct ShapePattern: Sendable, Hashable, CustomStringConvertible {
    struct Element: Sendable, Hashable {
        var low: UInt64   // bitset over ASCII 0..<64
        var high: UInt64  // bitset over ASCII 64..<128
        var min: Int
        var max: Int

        func contains(_ byte: UInt8) -> Bool {
            byte < 64 ? (low >> UInt64(byte)) & 1 == 1
                : byte < 128 ? (high >> UInt64(byte - 64)) & 1 == 1 : false
        }
    }

    /// The pattern as written.
    public let source: String
    let elements: [Element]
    /// True when the pattern has separators: it is matched against the dashed form of a token.
    public let hasSeparators: Bool
    /// Shortest and longest input (in characters) the pattern can match.
    public let minLength: Int
    public let maxLength: Int
    /// Shortest match counting letters and digits only (separators excluded).
    let minAlnumLength: Int

    /// An error in a pattern, with the character offset.
    public struct SyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "at character \(offset + 1): \(reason)" }
    }

    public var description: String { source }

    /// Compiles a pattern.
    public init(_ source: String) throws(SyntaxError) {
        self.source = source
        let chars = Array(source.unicodeScalars)
        var elements: [Element] = []
        var i = 0

        func bit(_ set: inout (UInt64, UInt64), _ byte: UInt8) {
            // Case-insensitive: letters are stored upper-case, inputs are upper-cased first.
            var b = byte
            if b >= 97 && b <= 122 { b -= 32 }
            if b < 64 { set.0 |= 1 << UInt64(b) } else { set.1 |= 1 << UInt64(b - 64) }
        }
        func ascii(_ s: Unicode.Scalar, at offset: Int) throws(SyntaxError) -> UInt8 {
            guard s.isASCII, s.value >= 32 else {
                throw SyntaxError(offset: offset, reason: "only printable ASCII is allowed in a shape")
            }
            return UInt8(s.value)
        }

        while i < chars.count {
            var set: (UInt64, UInt64) = (0, 0)
            let c = chars[i]
            switch c {
            case "[":
                i += 1
                var closed = false
                while i < chars.count {
                    if chars[i] == "]" { closed = true; i += 1; break }
                    let from = try ascii(chars[i], at: i)
                    if i + 2 < chars.count, chars[i + 1] == "-", chars[i + 2] != "]" {
                        let to = try ascii(chars[i + 2], at: i + 2)
                        guard from <= to else { throw SyntaxError(offset: i, reason: "range out of order") }
                        for b in from...to { bit(&set, b) }
                        i += 3
                    } else {
                        bit(&set, from)
                        i += 1
                    }
                }
                guard closed else { throw SyntaxError(offset: chars.count, reason: "missing ]") }
                guard set != (0, 0) else { throw SyntaxError(offset: i - 1, reason: "empty class") }
            case "\\":
                guard i + 1 < chars.count else { throw SyntaxError(offset: i, reason: "dangling \\") }
                switch chars[i + 1] {
                case "d": for b in UInt8(48)...57 { bit(&set, b) }
                case "w":
                    for b in UInt8(48)...57 { bit(&set, b) }
                    for b in UInt8(65)...90 { bit(&set, b) }
                default:
                    throw SyntaxError(offset: i + 1, reason: "unknown escape \\\(chars[i + 1]) (use \\d or \\w)")
                }
                i += 2
            case "{", "}", "+", "?", "*", "(", ")", "|", "^", "$", ".":
                throw SyntaxError(offset: i, reason: "unexpected '\(c)' (shapes support literals, [classes], \\d, \\w and {n,m}, ?, +)")
            default:
                bit(&set, try ascii(c, at: i))
                i += 1
            }
            var minCount = 1, maxCount = 1
            if i < chars.count {
                switch chars[i] {
                case "?": minCount = 0; i += 1
                case "+": maxCount = 64; i += 1
                case "{":
                    var j = i + 1
                    var numbers: [Int] = [0]
                    var sawDigit = false
                    while j < chars.count, chars[j] != "}" {
                        if chars[j] == "," { numbers.append(0); sawDigit = false }
                        else if let d = chars[j].properties.numericType != nil ? Int(String(chars[j])) : nil {
                            numbers[numbers.count - 1] = numbers[numbers.count - 1] * 10 + d
                            sawDigit = true
                            guard numbers[numbers.count - 1] <= 64 else {
                                throw SyntaxError(offset: j, reason: "repeat count above 64")
                            }
                        } else { throw SyntaxError(offset: j, reason: "expected a number in {}") }
                        j += 1
                    }
                    guard j < chars.count, sawDigit, numbers.count <= 2 else {
                        throw SyntaxError(offset: i, reason: "malformed {n} or {n,m}")
                    }
                    minCount = numbers[0]
                    maxCount = numbers.count == 2 ? numbers[1] : numbers[0]
                    guard minCount <= maxCount else { throw SyntaxError(offset: i, reason: "{n,m} with n > m") }
                    i = j + 1
                default: break
                }
            }
            elements.append(Element(low: set.0, high: set.1, min: minCount, max: maxCount))
        }
        guard !elements.isEmpty else { throw SyntaxError(offset: 0, reason: "empty pattern") }
        self.elements = elements
        self.hasSeparators = elements.contains { $0.contains(UInt8(ascii: "-")) && $0.min == $0.max && $0.low == 1 << 45 && $0.high == 0 }
        self.minLength = elements.reduce(0) { $0 + $1.min }
        self.minAlnumLength = elements.filter { !($0.low == 1 << 45 && $0.high == 0) }.reduce(0) { $0 + $1.min }
        self.maxLength = elements.reduce(0) { $0 + $1.max }
    }

    /// Whether `input` (upper-case ASCII; separators as `-`) matches the whole pattern.
    public func matches(_ input: [UInt8]) -> Bool {
        guard input.count >= minLength, input.count <= maxLength else { return false }
        return input.withUnsafeBufferPointer { match(element: 0, in: $0, at: 0) }
    }

    private func match(element e: Int, in input: UnsafeBufferPointer<UInt8>, at position: Int) -> Bool {
        if e == elements.count { return position == input.count }
        let el = elements[e]
        var n = 0
        while n < el.max, position + n < input.count, el.contains(input[position + n]) { n += 1 }
        guard n >= el.min else { return false }
        // Greedy with backtracking; inputs are short tokens.
        while n >= el.min {
            if match(element: e + 1, in: input, at: position + n) { return true }
            n -= 1
        }
        return false
    }
}
