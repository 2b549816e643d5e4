/// What a tenant's redaction policy says: actions per type, extra keywords, the shop's own
/// formats (card keys it issues, identifiers that are *not* secrets) and service numbers.
///
/// Policies are usually loaded from YAML by the `PolicyFiles` target; the built-in default is
/// ``RedactionPolicy/default``.
public struct RedactionPolicy: Sendable, Hashable {
    /// The action and its parameters for one secret type.
    public struct Rule: Sendable, Hashable {
        public var action: RedactionAction
        /// For `partial`: how many trailing characters stay visible.
        public var keepLast: Int

        public init(action: RedactionAction, keepLast: Int = 4) {
            self.action = action
            self.keepLast = keepLast
        }
    }

    /// A format the tenant declares, e.g. its card-key shape or its order-number shape.
    public struct Format: Sendable, Hashable {
        /// A name for findings and error messages (`order_number`).
        public var name: String
        /// The shape, in the small pattern language of ``ShapePattern``.
        public var pattern: ShapePattern
        /// Words that, right before a token, tie it to this format (订单号, order).
        public var keywords: [String]

        public init(name: String, pattern: ShapePattern, keywords: [String] = []) {
            self.name = name
            self.pattern = pattern
            self.keywords = keywords
        }
    }

    /// Actions per type; a type that is absent uses `mask`.
    public var rules: [SecretType: Rule]
    /// Extra keywords per type, added to the built-in lists (both languages).
    public var extraKeywords: [SecretType: [String]]
    /// Card-key formats the shop issues: a match is a card key wherever it appears.
    public var cardKeyFormats: [Format]
    /// Formats that are not secrets (order numbers …): a match is kept unless a secret keyword
    /// (卡密, key, code …) stands right before it.
    public var nonSecretFormats: [Format]
    /// The shop's own service numbers (400/800 lines, its hotline): never reported as phones.
    public var serviceNumbers: [String]
    /// Types switched off entirely (for a tenant that must see, say, e-mail addresses).
    public var disabledTypes: Set<SecretType>

    public init(rules: [SecretType: Rule] = [:], extraKeywords: [SecretType: [String]] = [:],
                cardKeyFormats: [Format] = [], nonSecretFormats: [Format] = [],
                serviceNumbers: [String] = [], disabledTypes: Set<SecretType> = []) {
        self.rules = rules
        self.extraKeywords = extraKeywords
        self.cardKeyFormats = cardKeyFormats
        self.nonSecretFormats = nonSecretFormats
        self.serviceNumbers = serviceNumbers
        self.disabledTypes = disabledTypes
    }

    /// The rule for a type (`mask` when the policy says nothing).
    public func rule(for type: SecretType) -> Rule {
        rules[type] ?? Rule(action: .mask)
    }
}
