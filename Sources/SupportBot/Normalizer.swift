import Foundation

/// The language of a customer message.
public enum Language: String, Sendable, Hashable, Codable {
    case zh, en, mixed

    /// The language the bot replies in: mixed messages get Chinese when Chinese dominates.
    public var replyLanguage: ReplyLanguage {
        switch self {
        case .zh: return .zh
        case .en: return .en
        case .mixed: return .zh
        }
    }
}

/// The two languages replies are written in.
public enum ReplyLanguage: String, Sendable, Hashable, Codable {
    case zh, en
}

/// A redaction placeholder's type, as the bot sees it (`[PHONE:3f9a1c]` → `.phone`), plus order
/// numbers, which the redactor keeps in clear.
public enum PlaceholderKind: String, Sendable, Hashable, CaseIterable, Codable {
    case phone = "PHONE", email = "EMAIL", cardKey = "CARD_KEY", paymentCard = "PAYMENT_CARD"
    case bankAccount = "BANK_ACCOUNT", cvv = "CVV", cardExpiry = "CARD_EXPIRY", pin = "PIN"
    case oneTimeCode = "ONE_TIME_CODE", paymentCode = "PAYMENT_CODE", cnResidentID = "CN_RESIDENT_ID"
    case transactionNumber = "TRANSACTION_NUMBER"
    case orderNumber = "ORDER_NUMBER"
    case other = "OTHER"

    /// A private-use scalar standing for the placeholder in normalised text, so n-gram features
    /// see one symbol instead of the placeholder's letters or random token digits.
    var marker: Unicode.Scalar {
        let index = Self.allCases.firstIndex(of: self)!
        return Unicode.Scalar(0xE000 + UInt32(index))!
    }

    static func fromMarker(_ scalar: Unicode.Scalar) -> PlaceholderKind? {
        guard (0xE000..<0xE000 + UInt32(allCases.count)).contains(scalar.value) else { return nil }
        return allCases[Int(scalar.value - 0xE000)]
    }
}

/// One placeholder found in a message, with its exact text (a token form such as
/// `[EMAIL:3f9a1c]` is what order verification compares).
public struct Placeholder: Sendable, Hashable {
    public var kind: PlaceholderKind
    public var text: String
    /// True for token forms (`[PHONE:3f9a1c]`), false for plain masks (`[PHONE]`).
    public var isToken: Bool
}

/// The shape of a shop's order numbers (dujiaoka: 16 upper-case letters and digits).
public struct OrderNumberFormat: Sendable, Hashable {
    public enum Alphabet: String, Sendable, Hashable {
        case upperAlphanumeric = "upper_alnum", digits, alphanumeric = "alnum"
    }
    public var length: Int
    public var alphabet: Alphabet

    public init(length: Int = 16, alphabet: Alphabet = .upperAlphanumeric) {
        self.length = length
        self.alphabet = alphabet
    }

    public static let dujiaoka = OrderNumberFormat()

    /// Whether a whole run of ASCII letters/digits is an order number. Lower-case input of an
    /// upper-case format is accepted when it has at least two digits (customers retype numbers;
    /// an ordinary 16-letter word has none).
    func matches(_ run: ArraySlice<Unicode.Scalar>) -> String? {
        guard run.count == length else { return nil }
        switch alphabet {
        case .digits:
            return run.allSatisfy(\.isASCIIDigit) ? String(String.UnicodeScalarView(run)) : nil
        case .alphanumeric:
            return run.contains(where: \.isASCIIDigit) ? String(String.UnicodeScalarView(run)) : nil
        case .upperAlphanumeric:
            let text = String(String.UnicodeScalarView(run))
            if run.allSatisfy({ $0.isASCIIUppercase || $0.isASCIIDigit }) { return text }
            if run.filter(\.isASCIIDigit).count >= 2 { return text.uppercased() }
            return nil
        }
    }
}

/// A message after normalisation: NFKC, lower-case, simplified Chinese, synonyms folded to their
/// canonical form, placeholders and order numbers replaced by one marker scalar each.
public struct NormalizedText: Sendable {
    var scalars: [Unicode.Scalar]
    public var placeholders: [Placeholder]
    public var orderNumbers: [String]
    /// Han characters and Latin words outside placeholders, for language detection.
    var hanCount: Int
    var latinWordCount: Int

    /// The normalised text with markers shown as `<kind>`, for debugging and tests.
    public var debugDescription: String {
        scalars.map { scalar in
            PlaceholderKind.fromMarker(scalar).map { "<\($0.rawValue.lowercased())>" } ?? String(scalar)
        }.joined()
    }

    public var language: Language {
        if hanCount == 0 && latinWordCount == 0 { return .zh }
        if latinWordCount == 0 { return .zh }
        if hanCount == 0 { return .en }
        // Two Han characters carry about as much as one English word.
        let hanWeight = Double(hanCount) / 2
        let latinWeight = Double(latinWordCount)
        if hanWeight >= 2 * latinWeight { return .zh }
        if latinWeight >= 3 * hanWeight { return .en }
        return .mixed
    }

    /// Replies go in Chinese when Chinese carries at least as much of the message as English.
    public var replyLanguage: ReplyLanguage {
        switch language {
        case .zh: return .zh
        case .en: return .en
        case .mixed: return Double(hanCount) / 2 >= Double(latinWordCount) * 0.6 ? .zh : .en
        }
    }
}

/// Turns redacted customer text into ``NormalizedText``.
public struct Normalizer: Sendable {
    public let orderNumberFormat: OrderNumberFormat
    private var synonyms = PhraseMatcher<[Unicode.Scalar]>()

    /// - Parameter synonymGroups: each group's first entry is the canonical form (卡密 = 兑换码 = key …).
    public init(orderNumberFormat: OrderNumberFormat = .dujiaoka, synonymGroups: [[String]] = []) {
        self.orderNumberFormat = orderNumberFormat
        for group in synonymGroups {
            guard let canonical = group.first else { continue }
            let canonicalScalars = Self.fold(Array(canonical.unicodeScalars))
            for variant in group {
                let folded = Self.fold(Array(variant.unicodeScalars))
                if folded != canonicalScalars {
                    synonyms.add(String(String.UnicodeScalarView(folded)), canonicalScalars)
                }
            }
        }
    }

    /// Lower-case ASCII and simplified Chinese, scalar by scalar.
    static func fold(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let map = TraditionalChinese.map
        return scalars.map { scalar in
            if scalar.isASCIIUppercase { return Unicode.Scalar(scalar.value + 32)! }
            return map[scalar] ?? scalar
        }
    }

    public func normalize(_ text: String) -> NormalizedText {
        let compatible = Array(text.precomposedStringWithCompatibilityMapping.unicodeScalars)
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(compatible.count)
        var placeholders: [Placeholder] = []
        var orderNumbers: [String] = []
        var hanCount = 0
        var latinWordCount = 0
        var index = 0
        while index < compatible.count {
            let scalar = compatible[index]
            if scalar == "[", let (placeholder, length) = Self.placeholder(in: compatible, at: index) {
                placeholders.append(placeholder)
                out.append(" "); out.append(placeholder.kind.marker); out.append(" ")
                index += length
                continue
            }
            if scalar.isLatinWordCharacter {
                var end = index
                while end < compatible.count, compatible[end].isLatinWordCharacter { end += 1 }
                let run = compatible[index..<end]
                if let number = orderNumberFormat.matches(run) {
                    orderNumbers.append(number)
                    out.append(" "); out.append(PlaceholderKind.orderNumber.marker); out.append(" ")
                } else {
                    if run.contains(where: \.isASCIILetter) { latinWordCount += 1 }
                    out.append(contentsOf: Self.fold(Array(run)))
                }
                index = end
                continue
            }
            if scalar.isHan { hanCount += 1 }
            out.append(TraditionalChinese.map[scalar] ?? scalar)
            index += 1
        }
        if !synonyms.isEmpty { out = applySynonyms(out) }
        return NormalizedText(scalars: out, placeholders: placeholders, orderNumbers: orderNumbers,
                              hanCount: hanCount, latinWordCount: latinWordCount)
    }

    private func applySynonyms(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var index = 0
        while index < text.count {
            if let match = synonyms.longestMatch(in: text, at: index) {
                out.append(contentsOf: match.payload)
                index += match.length
            } else {
                out.append(text[index])
                index += 1
            }
        }
        return out
    }

    /// Parses `[LABEL]`, `[LABEL:token]` or `[LABEL:…1234]` at `start`.
    static func placeholder(in text: [Unicode.Scalar], at start: Int) -> (Placeholder, Int)? {
        var index = start + 1
        var label = ""
        while index < text.count, text[index].isASCIIUppercase || text[index] == "_" || text[index].isASCIIDigit {
            label.unicodeScalars.append(text[index])
            index += 1
            if label.unicodeScalars.count > 24 { return nil }
        }
        guard label.unicodeScalars.count >= 2, index < text.count else { return nil }
        var isToken = false
        if text[index] == ":" {
            isToken = true
            index += 1
            let tokenStart = index
            while index < text.count, text[index] != "]", index - tokenStart <= 32,
                  text[index].isLatinWordCharacter || text[index] == "…" || text[index] == "." || text[index] == "-" {
                index += 1
            }
            guard index > tokenStart else { return nil }
        }
        guard index < text.count, text[index] == "]" else { return nil }
        let kind = PlaceholderKind(rawValue: label) ?? .other
        let whole = String(String.UnicodeScalarView(text[start...index]))
        return (Placeholder(kind: kind, text: whole, isToken: isToken), index - start + 1)
    }
}
