/// A policy prepared for scanning: keyword matcher built, service numbers normalised.
struct CompiledPolicy: Sendable {
    let policy: RedactionPolicy
    let keywords: KeywordMatcher
    /// Digits of the shop's own service numbers (never customer data).
    let serviceNumbers: Set<[UInt8]>
    let cardKeyFormats: [RedactionPolicy.Format]
    let nonSecretFormats: [RedactionPolicy.Format]
    /// Keyword contexts of tenant non-secret formats, by keyword text (folded).
    let disabled: Set<SecretType>

    init(_ policy: RedactionPolicy) {
        self.policy = policy
        var lists = BuiltInKeywords.lists
        for (type, extra) in policy.extraKeywords {
            lists[KeywordContext.forType(type), default: []].append(contentsOf: extra)
        }
        for format in policy.nonSecretFormats {
            lists[.nonSecret, default: []].append(contentsOf: format.keywords)
        }
        for format in policy.cardKeyFormats {
            lists[.cardKey, default: []].append(contentsOf: format.keywords)
        }
        keywords = KeywordMatcher(lists: lists)
        serviceNumbers = Set(policy.serviceNumbers.map { number in
            number.unicodeScalars.compactMap { s -> UInt8? in
                let v = ShadowText.fold(s.value)
                return CharClass.isDigit(v) ? UInt8(v - 0x30) : nil
            }
        }.filter { !$0.isEmpty })
        cardKeyFormats = policy.cardKeyFormats
        nonSecretFormats = policy.nonSecretFormats
        disabled = policy.disabledTypes
    }
}
