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

    public init(type: SecretType, start: Int, end: Int, confidence: Double, action: RedactionAction,
                rule: String, continuesPreviousMessage: Bool = false) {
        self.type = type
        self.start = start
        self.end = end
        self.confidence = confidence
        self.action = action
        self.rule = rule
        self.continuesPreviousMessage = continuesPreviousMessage
    }
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
