/// Finds secrets in chat messages and masks them according to a ``RedactionPolicy``.
///
/// A `Redactor` is immutable and `Sendable`: build one per tenant policy and share it across
/// sessions and threads. For numbers split across messages, use a ``RedactionSession``.
///
/// ```swift
/// let redactor = try Redactor(policy: policy, tokenizer: BLAKE2bKeyedHasher(key: tenantTokenKey))
/// let result = redactor.redact("我的手机13812345678")
/// result.text      // "我的手机[PHONE]"
/// result.findings  // [Finding(type: .phone, start: 4, end: 15, …)]
/// ```
public struct Redactor: Sendable {
    public let policy: RedactionPolicy
    let compiled: CompiledPolicy
    private(set) var issuedKeys: IssuedKeySet?
    let tokenizer: (any KeyedHasher)?

    /// Errors in setting up a redactor.
    public enum ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The policy asks for `token` but no keyed hasher was supplied.
        case tokenActionNeedsKey(SecretType)
        public var description: String {
            switch self {
            case .tokenActionNeedsKey(let type):
                return "the policy tokenises \(type.rawValue) but no tokenisation key was supplied"
            }
        }
    }

    /// - Parameters:
    ///   - policy: the tenant's policy.
    ///   - issuedKeys: the card keys the shop has issued (held as keyed hashes).
    ///   - tokenizer: the keyed hash behind the `token` action; required if the policy uses `token`.
    public init(policy: RedactionPolicy = .default, issuedKeys: IssuedKeySet? = nil,
                tokenizer: (any KeyedHasher)? = nil) throws(ConfigurationError) {
        if tokenizer == nil,
           let type = SecretType.allCases.first(where: { policy.rule(for: $0).action == .token && !policy.disabledTypes.contains($0) }) {
            throw .tokenActionNeedsKey(type)
        }
        self.policy = policy
        self.compiled = CompiledPolicy(policy)
        self.issuedKeys = issuedKeys
        self.tokenizer = tokenizer
    }

    /// The same redactor with another set of issued card keys (e.g. after the shop added some).
    public func replacingIssuedKeys(_ keys: IssuedKeySet?) -> Redactor {
        var copy = self
        copy.issuedKeys = keys
        return copy
    }

    /// Redacts one message on its own (no session context).
    public func redact(_ text: String) -> RedactionResult {
        var tail = SessionTail()
        return redact(text, tail: &tail)
    }

    /// Redacts one message, using and updating the session's tail to catch split numbers.
    public func redact(_ text: String, tail: inout SessionTail) -> RedactionResult {
        var scanner = Scanner(policy: compiled, issued: issuedKeys, shadow: ShadowText(text))
        tail = scanner.run(tail: tail)
        let accepted = resolve(scanner.candidates, protected: scanner.protected, length: scanner.text.count)
        if accepted.isEmpty { return RedactionResult(text: text, findings: []) }
        return render(text: text, shadow: scanner.shadow, accepted: accepted)
    }

    /// Keeps the strongest non-overlapping candidates; drops candidates on known non-secrets
    /// (except exact issued-key matches, which are certain).
    func resolve(_ candidates: [Candidate], protected: [ProtectedSpan], length: Int) -> [Candidate] {
        guard !candidates.isEmpty else { return [] }
        let ordered = candidates.sorted {
            ($0.priority, $0.end - $0.start, -$0.start) > ($1.priority, $1.end - $1.start, -$1.start)
        }
        // Occupancy maps over the shadow text keep this linear in the message length.
        var isProtected = [Bool](repeating: false, count: protected.isEmpty ? 0 : length)
        for p in protected { for k in p.start..<p.end { isProtected[k] = true } }
        var taken = [Bool](repeating: false, count: length)
        var accepted: [Candidate] = []
        for c in ordered {
            // Known non-secrets (order numbers, the shop's hotline) silence heuristics inside them,
            // but never an exact issued-key match, a checksum-validated card, ID or IBAN, or a
            // longer number that merely contains one (a trade number 20250722-2200-4875448874526441).
            if c.priority < Candidate.Priority.paymentCard, !isProtected.isEmpty,
               (c.start..<c.end).allSatisfy({ isProtected[$0] }) { continue }
            if (c.start..<c.end).contains(where: { taken[$0] }) { continue }
            for k in c.start..<c.end { taken[k] = true }
            accepted.append(c)
        }
        return accepted.sorted { $0.start < $1.start }
    }

    func render(text: String, shadow: ShadowText, accepted: [Candidate]) -> RedactionResult {
        var out: [UInt8] = []
        out.reserveCapacity(shadow.bytes.count + 16 * accepted.count)
        var findings: [Finding] = []
        findings.reserveCapacity(accepted.count)
        var cursor = 0  // original scalar index
        for c in accepted {
            let start = Int(shadow.origin[c.start])
            let end = Int(shadow.origin[c.end - 1]) + 1
            out.append(contentsOf: shadow.bytes[Int(shadow.scalarStart[cursor])..<Int(shadow.scalarStart[start])])
            let rule = policy.rule(for: c.type)
            out.append(contentsOf: placeholder(for: c, rule: rule).utf8)
            cursor = end
            findings.append(Finding(type: c.type, start: start, end: end, confidence: c.confidence,
                                    action: rule.action, rule: c.rule,
                                    continuesPreviousMessage: c.continuesPreviousMessage,
                                    normalizedValue: Self.normalizedValue(c)))
        }
        out.append(contentsOf: shadow.bytes[Int(shadow.scalarStart[cursor])...])
        return RedactionResult(text: String(decoding: out, as: UTF8.self), findings: findings)
    }

    /// Only the identifier types a chat is linked to its data subject by carry their value out
    /// of the redactor; every other secret stays inside it.
    static func normalizedValue(_ c: Candidate) -> NormalizedValue? {
        guard c.type == .phone || c.type == .email else { return nil }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: c.value.compactMap(Unicode.Scalar.init))
        return NormalizedValue(String(view))
    }

    func placeholder(for c: Candidate, rule: RedactionPolicy.Rule) -> String {
        let label = c.type.label
        switch rule.action {
        case .mask:
            return "[\(label)]"
        case .partial:
            // Never more than half of the value, whatever the policy says.
            let keep = max(0, min(rule.keepLast, c.value.count / 2))
            let visible = String(String.UnicodeScalarView(c.value.suffix(keep).compactMap(Unicode.Scalar.init)))
            return keep == 0 ? "[\(label)]" : "[\(label):…\(visible)]"
        case .token:
            guard let tokenizer else { return "[\(label)]" }  // unreachable: init requires a tokenizer
            return "[\(label):\(Redactor.token(type: c.type, value: c.value, tokenizer: tokenizer))]"
        }
    }

    /// A stable pseudonym: the first 3 bytes (6 hex digits) of a keyed hash over the type and
    /// the normalised value. Domain-separated so tokens of different types never coincide.
    static func token(type: SecretType, value: [UInt32], tokenizer: any KeyedHasher) -> String {
        var message = Array("kamirelay.token.v1|\(type.rawValue)|".utf8)
        message.append(contentsOf: value.map { UInt8(truncatingIfNeeded: $0) })
        let digest = tokenizer.digest(message)
        let hex: [Character] = Array("0123456789abcdef")
        var s = ""
        for b in digest.prefix(3) { s.append(hex[Int(b >> 4)]); s.append(hex[Int(b & 15)]) }
        return s
    }
}

/// The short end of a session's previous messages, kept to catch numbers split across messages.
/// It holds at most ``maxDigits`` digits from the end of the last message and nothing else.
public struct SessionTail: Sendable, Hashable {
    static let maxDigits = 19
    var groups: [[UInt8]]
    var plus: Bool

    public init() {
        groups = []
        plus = false
    }

    init(groups: [[UInt8]], plus: Bool) {
        self.groups = groups
        self.plus = plus
    }

    /// True when nothing is carried over.
    public var isEmpty: Bool { groups.isEmpty }
}

/// One issued card key as a store keeps it: never the key, only its keyed digest.
public struct IssuedKeyDigest: Sendable, Hashable {
    /// The keyed hash of the normalised key (letters and digits, upper-case, folded).
    public var digest: [UInt8]
    /// The normalised length, so only candidates of a held length are hashed.
    public var length: Int
    /// The key has no digit (then plain words must be looked up too).
    public var lettersOnly: Bool

    public init(digest: [UInt8], length: Int, lettersOnly: Bool) {
        self.digest = digest
        self.length = length
        self.lettersOnly = lettersOnly
    }
}

/// The card keys a shop has issued, held only as keyed hashes: look-ups are `O(1)` per candidate
/// and the set never holds a key in clear.
///
/// Two layers: a 64-bit SipHash under this process's random seed (Swift's `Hasher`) rejects
/// almost every candidate in nanoseconds; a hit is confirmed with the caller's keyed hash
/// (keyed BLAKE2b in KamiRelay), so a prefilter collision can never mask the wrong thing.
/// Immutable once built; share one per tenant.
public final class IssuedKeySet: Sendable {
    let hasher: any KeyedHasher
    let digests: Set<[UInt8]>
    /// nil when some keys are known only by their digest (``IssuedKeyDigest``): every candidate
    /// of a matching length is then confirmed with the keyed hash directly.
    let prefilter: Set<Int>?
    /// Bit k set: some key has normalised length k (1...63). Longer keys set bit 0.
    let lengthMask: UInt64
    /// Some key has no digit, so plain words must be looked up too.
    let hasLettersOnlyKeys: Bool

    /// - Parameters:
    ///   - keys: issued card keys in any typed form (case, dashes and spaces are ignored).
    ///   - hasher: the keyed hash (e.g. keyed BLAKE2b under a per-tenant purpose key).
    public convenience init<S: Sequence>(keys: S, hasher: any KeyedHasher) where S.Element == String {
        self.init(digests: [IssuedKeyDigest](), keys: keys, hasher: hasher)
    }

    /// A set from keys known only by their keyed digest (stored by an earlier
    /// ``digest(of:hasher:)`` under the same `hasher` key) plus, optionally, keys in clear.
    public init<D: Sequence, S: Sequence>(digests stored: D, keys: S, hasher: any KeyedHasher)
    where D.Element == IssuedKeyDigest, S.Element == String {
        self.hasher = hasher
        var digests: Set<[UInt8]> = [], prefilter: Set<Int> = [], mask: UInt64 = 0, lettersOnly = false, onlyDigests = false
        func add(_ d: IssuedKeyDigest) {
            digests.insert(d.digest)
            mask |= d.length < 64 ? 1 << UInt64(d.length) : 1
            if d.lettersOnly { lettersOnly = true }
        }
        for d in stored where d.length >= 4 { add(d); onlyDigests = true }
        for key in keys {
            let normalised = IssuedKeySet.normalise(key)
            guard normalised.count >= 4 else { continue }
            add(IssuedKeyDigest(digest: hasher.digest(normalised.map { UInt8(truncatingIfNeeded: $0) }), length: normalised.count,
                                lettersOnly: !normalised.contains(where: CharClass.isDigit)))
            prefilter.insert(IssuedKeySet.quickHash(normalised))
        }
        self.hasLettersOnlyKeys = lettersOnly
        self.digests = digests
        self.prefilter = onlyDigests ? nil : prefilter
        self.lengthMask = mask
    }

    /// What a store keeps of an issued key: its keyed digest (of the normalised form, so every
    /// typed variant matches), the normalised length and whether it has no digit. nil for
    /// strings too short to be a key (fewer than 4 letters and digits).
    public static func digest(of key: String, hasher: any KeyedHasher) -> IssuedKeyDigest? {
        let normalised = normalise(key)
        guard normalised.count >= 4 else { return nil }
        return IssuedKeyDigest(digest: hasher.digest(normalised.map { UInt8(truncatingIfNeeded: $0) }), length: normalised.count,
                               lettersOnly: !normalised.contains(where: CharClass.isDigit))
    }

    /// Number of distinct keys held.
    public var count: Int { digests.count }

    /// Letters and digits only, upper-case, obfuscations folded — as the scanner sees them.
    static func normalise(_ key: String) -> [UInt32] {
        key.unicodeScalars.map { ShadowText.fold($0.value) }.compactMap { v -> UInt32? in
            if CharClass.isAlnum(v) { return v }
            if CharClass.isChineseDigit(v) { return v - ShadowText.cnDigitBase + 0x30 }
            return nil
        }
    }

    static func quickHash(_ normalised: [UInt32]) -> Int {
        var h = Hasher()
        normalised.withUnsafeBytes { h.combine(bytes: $0) }
        return h.finalize()
    }

    @inline(__always) func couldContain(length: Int) -> Bool {
        length < 64 ? (lengthMask >> UInt64(length)) & 1 == 1 : lengthMask & 1 == 1
    }

    func contains(normalised: [UInt32]) -> Bool {
        if let prefilter, !prefilter.contains(IssuedKeySet.quickHash(normalised)) { return false }
        return digests.contains(hasher.digest(normalised.map { UInt8(truncatingIfNeeded: $0) }))
    }
}

/// A chat session's redactor: remembers the tail of earlier messages so that a number
/// sent in pieces ("138 1234" then "5678") is still caught.
public struct RedactionSession: Sendable {
    public let redactor: Redactor
    public private(set) var tail = SessionTail()

    public init(redactor: Redactor) { self.redactor = redactor }

    /// Redacts the next message of the session.
    public mutating func redact(_ text: String) -> RedactionResult {
        redactor.redact(text, tail: &tail)
    }
}
