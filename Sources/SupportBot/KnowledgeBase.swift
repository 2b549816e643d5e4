import Foundation
import Yams

/// A text in both reply languages.
public struct LocalizedText: Sendable, Hashable, Codable {
    public var zh: String
    public var en: String

    public init(zh: String, en: String) {
        self.zh = zh
        self.en = en
    }

    public subscript(language: ReplyLanguage) -> String {
        language == .zh ? zh : en
    }

    /// Accepts `{zh: …, en: …}` or a single string used for both languages.
    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer().decode(String.self) {
            zh = single
            en = single
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        zh = try container.decode(String.self, forKey: .zh)
        en = try container.decode(String.self, forKey: .en)
    }
}

/// A tenant's knowledge base: intents with example utterances, FAQ entries, synonyms, the
/// product catalogue and the variables answers may use (`{shop_name}`, `{opening_hours}`).
public struct KnowledgeBase: Sendable, Codable {
    public struct Intent: Sendable, Codable {
        public var zh: [String]
        public var en: [String]
        /// Only for the keyword-matching baseline (`bot test` compares against it).
        public var keywords: [String]?
    }

    public struct FAQEntry: Sendable, Codable {
        public var id: String
        /// The intent this entry belongs to, if any (used to prefer entries of the predicted intent).
        public var intent: String?
        public var questions: [String]
        public var answer: LocalizedText
        /// Only for the keyword-matching baseline.
        public var keywords: [String]?
    }

    public struct Product: Sendable, Codable {
        public var id: String
        public var name: LocalizedText
        public var aliases: [String]?
    }

    public struct OrderNumberSpec: Sendable, Codable {
        public var length: Int
        public var alphabet: String
    }

    public struct Thresholds: Sendable, Codable {
        /// Below this calibrated intent probability the message counts as out of scope.
        public var intent: Double?
        /// Below this cosine score no FAQ answer is given.
        public var faq: Double?
        /// Minutes a question the bot asked (an order number, a contact) stays open.
        public var slotTimeoutMinutes: Double?
    }

    public var tenant: String
    public var variables: [String: LocalizedText]
    public var orderNumber: OrderNumberSpec?
    public var thresholds: Thresholds?
    public var synonyms: [[String]]
    public var catalogue: [Product]
    /// Ordered as in the file (YAML mappings are read in order), so training is deterministic.
    public var intents: [(name: String, intent: Intent)]
    public var faq: [FAQEntry]

    enum CodingKeys: String, CodingKey {
        case tenant, variables, orderNumber = "order_number", thresholds, synonyms, catalogue, intents, faq
    }

    struct IntentList: Codable {
        struct Entry: Codable {
            var name: String
            var zh: [String]
            var en: [String]
            var keywords: [String]?
        }
        var entries: [Entry]
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tenant = try container.decode(String.self, forKey: .tenant)
        variables = try container.decodeIfPresent([String: LocalizedText].self, forKey: .variables) ?? [:]
        orderNumber = try container.decodeIfPresent(OrderNumberSpec.self, forKey: .orderNumber)
        thresholds = try container.decodeIfPresent(Thresholds.self, forKey: .thresholds)
        synonyms = try container.decodeIfPresent([[String]].self, forKey: .synonyms) ?? []
        catalogue = try container.decodeIfPresent([Product].self, forKey: .catalogue) ?? []
        let list = try container.decode([IntentList.Entry].self, forKey: .intents)
        intents = list.map { ($0.name, Intent(zh: $0.zh, en: $0.en, keywords: $0.keywords)) }
        faq = try container.decodeIfPresent([FAQEntry].self, forKey: .faq) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tenant, forKey: .tenant)
        try container.encode(variables, forKey: .variables)
        try container.encodeIfPresent(orderNumber, forKey: .orderNumber)
        try container.encodeIfPresent(thresholds, forKey: .thresholds)
        try container.encode(synonyms, forKey: .synonyms)
        try container.encode(catalogue, forKey: .catalogue)
        try container.encode(intents.map { IntentList.Entry(name: $0.name, zh: $0.intent.zh, en: $0.intent.en,
                                                              keywords: $0.intent.keywords) }, forKey: .intents)
        try container.encode(faq, forKey: .faq)
    }

    /// Why a knowledge base was rejected.
    public enum LoadError: Error, Sendable, CustomStringConvertible {
        case unreadable(path: String)
        case malformed(source: String, detail: String)
        case invalid(source: String, detail: String)

        public var description: String {
            switch self {
            case .unreadable(let path): return "cannot read knowledge base file \(path)"
            case .malformed(let source, let detail): return "\(source): not a valid knowledge base: \(detail)"
            case .invalid(let source, let detail): return "\(source): \(detail)"
            }
        }
    }

    /// Parses and checks a knowledge base. `source` names it in errors (a path or `demo`).
    public static func parse(yaml: String, source: String) throws(LoadError) -> KnowledgeBase {
        let kb: KnowledgeBase
        do {
            kb = try YAMLDecoder().decode(KnowledgeBase.self, from: yaml)
        } catch let error as DecodingError {
            throw .malformed(source: source, detail: Self.describe(error))
        } catch {
            throw .malformed(source: source, detail: String(describing: error))
        }
        try kb.validate(source: source)
        return kb
    }

    public static func load(path: String) throws(LoadError) -> KnowledgeBase {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .unreadable(path: path)
        }
        return try parse(yaml: text, source: path)
    }

    /// The core intents every tenant's knowledge base must define.
    public static let coreIntents = [
        "order_status", "card_not_received", "card_invalid", "recharge_failed", "refund", "cancel_order",
        "payment_issue", "payment_methods", "invoice", "purchase_help", "account_help", "human_agent",
        "complaint", "fraud_report", "greeting", "thanks", "goodbye", "out_of_scope",
    ]

    func validate(source: String) throws(LoadError) {
        let names = intents.map(\.name)
        if Set(names).count != names.count { throw .invalid(source: source, detail: "an intent is listed twice") }
        for core in Self.coreIntents where !names.contains(core) {
            throw .invalid(source: source, detail: "intent \(core) is missing (every tenant needs the core intents)")
        }
        for (name, intent) in intents where intent.zh.count + intent.en.count < 2 {
            throw .invalid(source: source, detail: "intent \(name) needs at least two example utterances")
        }
        var seen = Set<String>()
        for entry in faq {
            if !seen.insert(entry.id).inserted { throw .invalid(source: source, detail: "FAQ id \(entry.id) is used twice") }
            if entry.questions.isEmpty { throw .invalid(source: source, detail: "FAQ \(entry.id) has no questions") }
            if let intent = entry.intent, !names.contains(intent) {
                throw .invalid(source: source, detail: "FAQ \(entry.id) names unknown intent \(intent)")
            }
            for answer in [entry.answer.zh, entry.answer.en] {
                for name in Self.variableNames(in: answer) where variables[name] == nil {
                    throw .invalid(source: source, detail: "FAQ \(entry.id) uses {\(name)} but variables has no \(name)")
                }
            }
        }
        if let spec = orderNumber {
            if OrderNumberFormat.Alphabet(rawValue: spec.alphabet) == nil {
                throw .invalid(source: source, detail: "order_number.alphabet must be upper_alnum, alnum or digits")
            }
            if !(6...40).contains(spec.length) {
                throw .invalid(source: source, detail: "order_number.length must be between 6 and 40")
            }
        }
    }

    /// `{name}` references in a template (letters, digits and `_` between braces).
    static func variableNames(in template: String) -> [String] {
        var names: [String] = []
        var current: String?
        for character in template {
            if character == "{" {
                current = ""
            } else if character == "}" {
                if let name = current, !name.isEmpty { names.append(name) }
                current = nil
            } else if current != nil {
                if character.isLetter || character.isNumber || character == "_" { current!.append(character) } else { current = nil }
            }
        }
        return names
    }

    var orderNumberFormat: OrderNumberFormat {
        guard let spec = orderNumber, let alphabet = OrderNumberFormat.Alphabet(rawValue: spec.alphabet) else {
            return .dujiaoka
        }
        return OrderNumberFormat(length: spec.length, alphabet: alphabet)
    }

    /// Replaces `{name}` with the tenant's variables.
    public func fill(_ template: String, language: ReplyLanguage) -> String {
        guard template.contains("{") else { return template }
        var text = template
        for (name, value) in variables { text = text.replacingOccurrences(of: "{\(name)}", with: value[language]) }
        return text
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "top level" : String(keys.drop(while: { $0 == "." }))
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field \(key.stringValue) at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(context.debugDescription) at \(path(context))"
        @unknown default: return "unreadable"
        }
    }
}

extension KnowledgeBase {
    /// The demo shop's knowledge base, embedded in the binary (see ``DemoKnowledgeBase``).
    public static func demo() throws(LoadError) -> KnowledgeBase {
        try parse(yaml: DemoKnowledgeBase.yaml, source: "demo (built in)")
    }
}
