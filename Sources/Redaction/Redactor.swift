/// Finds secrets in chat messages and masks them according to a ``RedactionPolicy``.
///
/// A `Redactor` is immutable and `Sendable`: build one per tenant policy and share it.
/// For split numbers across messages, use a ``RedactionSession`` per chat session.
public struct Redactor: Sendable {
    public let policy: RedactionPolicy
    let issuedKeys: IssuedKeySet?
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
        if tokenizer == nil, let type = SecretType.allCases.first(where: { policy.rule(for: $0).action == .token }) {
            throw .tokenActionNeedsKey(type)
        }
        self.policy = policy
        self.issuedKeys = issuedKeys
        self.tokenizer = tokenizer
    }

    /// Redacts one message on its own (no session context).
    public func redact(_ text: String) -> RedactionResult {
        var tail = SessionTail()
        return redact(text, tail: &tail)
    }

    /// Redacts one message, using and updating the session's tail to catch split numbers.
    public func redact(_ text: String, tail: inout SessionTail) -> RedactionResult {
        RedactionResult(text: text, findings: [])
    }
}

/// The short end of a session's previous messages, kept to catch numbers split across messages.
/// It holds at most a few digits and no other text.
public struct SessionTail: Sendable, Hashable {
    public init() {}
}

/// The card keys a shop has issued, held only as keyed hashes (`O(1)` look-up per candidate).
public struct IssuedKeySet: Sendable {
    let hasher: any KeyedHasher
    var digests: Set<[UInt8]>
    public init<S: Sequence>(keys: S, hasher: any KeyedHasher) where S.Element == String {
        self.hasher = hasher
        self.digests = []
    }
}

/// A chat session's redactor: remembers the tail of earlier messages so that a number
/// sent in pieces ("138 1234" then "5678") is still caught.
public struct RedactionSession: Sendable {
    public let redactor: Redactor
    public private(set) var tail = SessionTail()
    public init(redactor: Redactor) { self.redactor = redactor }
    public mutating func redact(_ text: String) -> RedactionResult {
        redactor.redact(text, tail: &tail)
    }
}
