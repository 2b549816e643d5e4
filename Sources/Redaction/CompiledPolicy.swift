/// A policy prepared for scanning: keyword matcher built, service numbers normalised.
final class CompiledPolicy: Sendable {
    let policy: RedactionPolicy
    let keywords: KeywordMatcher
    /// Digits of the shop's own service numbers (never customer data).
    let serviceNumbers: Set<[UInt8]>
    let serviceNumberLengths: Set<Int>
    let cardKeyFormats: [RedactionPolicy.Format]
    let nonSecretFormats: [RedactionPolicy.Format]
    let disabled: Set<SecretType>
    /// The shortest token window a declared format or an IBAN can match (shorter ones skip the
    /// exact-format checks unless an issued key has that length).
    let shortestExactFormat: Int

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
        serviceNumberLengths = Set(serviceNumbers.map(\.count))
        cardKeyFormats = policy.cardKeyFormats
        nonSecretFormats = policy.nonSecretFormats
        disabled = policy.disabledTypes
        shortestExactFormat = (policy.cardKeyFormats + policy.nonSecretFormats).map(\.pattern.minAlnumLength)
            .reduce(15) { min($0, $1) }
    }
}
