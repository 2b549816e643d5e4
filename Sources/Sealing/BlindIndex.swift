/// A data-subject identifier as given by a customer or a chat log.
public enum SubjectIdentifier: Sendable, Hashable {
    case email(String)
    case phone(String)
    case orderNumber(String)

    /// The kind, as stored beside the blind index.
    public var kind: Kind {
        switch self {
        case .email: return .email
        case .phone: return .phone
        case .orderNumber: return .orderNumber
        }
    }

    public enum Kind: UInt8, Sendable, Hashable, CaseIterable {
        case email = 1, phone = 2, orderNumber = 3
        public var name: String {
            switch self {
            case .email: return "email"
            case .phone: return "phone"
            case .orderNumber: return "order"
            }
        }
    }

    /// Parses the CLI form `email:…`, `phone:…` or `order:…`.
    public init?(argument: String) {
        guard let colon = argument.firstIndex(of: ":") else { return nil }
        let value = String(argument[argument.index(after: colon)...])
        guard !value.isEmpty else { return nil }
        switch argument[..<colon].lowercased() {
        case "email", "e-mail": self = .email(value)
        case "phone", "tel": self = .phone(value)
        case "order", "order_number", "order-number": self = .orderNumber(value)
        default: return nil
        }
    }

    /// The canonical form hashed into the blind index, or nil when the value is not a valid
    /// identifier of its kind: e-mail trimmed and lower-cased; phone in E.164 (Chinese mobiles
    /// without a country code get +86); order number upper-cased without separators.
    public var normalised: String? {
        switch self {
        case .email(let raw):
            let e = raw.trimmingWhitespace().lowercased()
            let parts = e.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !e.contains(" ") else { return nil }
            return e
        case .phone(let raw):
            var s = raw.trimmingWhitespace()
            var international = false
            if s.hasPrefix("+") { international = true; s.removeFirst() }
            else if s.hasPrefix("00") { international = true; s.removeFirst(2) }
            var digits = ""
            for c in s {
                if c.isASCII, c.isNumber { digits.append(c) }
                else if c == " " || c == "-" || c == "(" || c == ")" || c == "." { continue }
                else { return nil }
            }
            if !international {
                // Chinese mobile: 11 digits starting with 1.
                if digits.count == 11, digits.hasPrefix("1") { return "+86" + digits }
                if digits.count == 13, digits.hasPrefix("861") { return "+" + digits }
                return nil
            }
            guard (8...15).contains(digits.count), !digits.hasPrefix("0") else { return nil }
            return "+" + digits
        case .orderNumber(let raw):
            let o = String(raw.unicodeScalars.filter { !($0 == " " || $0 == "-" || $0 == "_") }).uppercased()
            guard !o.isEmpty, o.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) })
            else { return nil }
            return o
        }
    }
}

/// Blind indexes: keyed BLAKE2b (a tenant's blind-index purpose key) over the kind and the
/// normalised identifier, so the store finds a subject's sessions without the identifier in clear.
public struct BlindIndexer: Sendable {
    private let hasher: BLAKE2bKeyedHasher

    /// - Parameter key: the tenant's ``KeyPurpose/blindIndex`` key.
    public init(key: GuardedKey) {
        hasher = BLAKE2bKeyedHasher(guardedKey: key, outputLength: 32)
    }

    /// The 32-byte blind index, or nil when the identifier is not valid for its kind.
    public func index(_ identifier: SubjectIdentifier) -> [UInt8]? {
        guard let n = identifier.normalised else { return nil }
        return hasher.digest([identifier.kind.rawValue] + Array(n.utf8))
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
