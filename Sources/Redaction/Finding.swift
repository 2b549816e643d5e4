/// One secret found in a message.
public struct Finding: Sendable, Hashable {
    /// What was found.
    public var type: SecretType
    /// The span in the original message, in Unicode scalar offsets (half-open).
    public var start: Int
    public var end: Int
    /// How sure the detector is, 0...1. Keyword-supported and checksum-validated findings score high.
    public var confidence: Double
    /// What was done to the span.
    public var action: RedactionAction
    /// The detector rule that fired (stable identifiers such as `luhn+prefix`, `issued-key`).
    public var rule: String
    /// True when the secret began in an earlier message of the session (a split number):
    /// only this message's part could be masked.
    public var continuesPreviousMessage: Bool
    /// The secret in normalised form: full-width and Chinese-numeral digits folded to ASCII,
    /// separators and zero-width characters dropped; for a split number, the whole number
    /// across messages. It is the secret itself, for the caller's keyed use only (linking a
    /// chat to its data subject's blind index): never log, store or show it.
    public var normalizedValue: NormalizedValue?

    public init(type: SecretType, start: Int, end: Int, confidence: Double, action: RedactionAction,
                rule: String, continuesPreviousMessage: Bool = false, normalizedValue: NormalizedValue? = nil) {
        self.type = type
        self.start = start
        self.end = end
        self.confidence = confidence
        self.action = action
        self.rule = rule
        self.continuesPreviousMessage = continuesPreviousMessage
        self.normalizedValue = normalizedValue
    }
}

/// A finding's normalised value. Printing it (interpolation, `dump`, a logged ``Finding``)
/// shows a placeholder, so a careless log line cannot leak the secret; read ``text`` on purpose.
public struct NormalizedValue: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
                               CustomReflectable {
    /// The value itself.
    public let text: String

    public init(_ text: String) {
        self.text = text
    }

    public var description: String { "[normalised value]" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// The output of redacting one message.
public struct RedactionResult: Sendable, Hashable {
    /// The message with every finding replaced according to the policy.
    public var text: String
    /// Findings in order of position in the original message.
    public var findings: [Finding]

    public init(text: String, findings: [Finding]) {
        self.text = text
        self.findings = findings
    }
}
