import Foundation

/// A hand-over to a human agent: an explicit output for the relay's agent queue.
public struct Handoff: Sendable, Hashable, Codable {
    public enum Reason: String, Sendable, Hashable, Codable {
        case customerAsked = "customer_asked"
        case complaint
        case fraudReport = "fraud_report"
        case persistentAnger = "persistent_anger"
        case paidOutOfStock = "paid_out_of_stock"
        case paymentNeedsCheck = "payment_needs_check"
        case cardInvalid = "card_invalid"
        case rechargeFailed = "recharge_failed"
        case refundRequest = "refund_request"
        case orderFailed = "order_failed"
        case verificationFailed = "verification_failed"
        case notUnderstood = "not_understood"
        case backendUnavailable = "backend_unavailable"
    }

    public enum Priority: Int, Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
        case low = 0, normal, high, urgent
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
        public var description: String { ["low", "normal", "high", "urgent"][rawValue] }
    }

    public var reason: Reason
    public var priority: Priority
    /// The conversation so far, in redacted form, for the agent who picks it up.
    public var summary: String
    public var intent: String
    public var orderNumber: String?
}

/// One line of the conversation as the bot saw it (customer lines are already redacted).
public struct TranscriptLine: Sendable, Hashable, Codable {
    public enum Speaker: String, Sendable, Hashable, Codable { case customer, bot }
    public var speaker: Speaker
    public var text: String
    public var intent: String?
}

/// The bot's state for one chat session. A value: the relay keeps one per session.
public struct BotSession: Sendable, Codable {
    /// What the bot asked for and is waiting on.
    public enum Pending: Sendable, Hashable, Codable {
        case orderNumber(intent: String)
        /// Soft: if the next message has no contact, it is simply handled as a new message.
        case contact(intent: String, order: String)
        case confirmResend(order: String)
        case transactionNumber(intent: String, order: String)
    }

    public internal(set) var pending: Pending?
    var pendingSince: Date?
    var reasks = 0
    /// The order the conversation is about.
    public internal(set) var orderNumber: String?
    /// The contact token that passed verification, if any.
    public internal(set) var verifiedContact: String?
    public internal(set) var verifiedOrders: Set<String> = []
    var failedVerifications = 0
    var resent: Set<String> = []
    var consecutiveFallbacks = 0
    public internal(set) var language: ReplyLanguage = .zh
    public internal(set) var angerHistory: [Double] = []
    public internal(set) var anxietyHistory: [Double] = []
    public internal(set) var transcript: [TranscriptLine] = []
    public internal(set) var lastIntent: String?
    /// Amounts (fen) and catalogue products the customer mentioned, for the agent's summary.
    public internal(set) var mentionedAmounts: [Int] = []
    public internal(set) var mentionedProducts: [String] = []
    /// Set once the bot hands the session over; later messages go to the agent.
    public internal(set) var handoff: Handoff?

    public init() {}

    /// The human agent handed the chat back (or closed it): the bot answers again, without the
    /// earlier anger that led to the hand-off counting towards another one.
    public mutating func resumeAfterHandoff() {
        handoff = nil
        pending = nil
        pendingSince = nil
        reasks = 0
        consecutiveFallbacks = 0
        angerHistory.removeAll()
        anxietyHistory.removeAll()
    }

    /// Anger persists when two of the last three messages were angry.
    public var angerPersists: Bool {
        angerHistory.suffix(3).filter { $0 >= Sentiment.angryThreshold }.count >= 2
    }

    /// The session's priority for the agent queue, from its sentiment trend.
    public var sentimentPriority: Handoff.Priority {
        if angerPersists { return .high }
        if let last = angerHistory.last, last >= Sentiment.angryThreshold { return .normal }
        if let last = anxietyHistory.last, last >= 0.6 { return .normal }
        return .low
    }

    /// A short, redacted account of the conversation for an agent.
    func summary(intent: String, orderStatus: OrderStatus?) -> String {
        var lines: [String] = ["intent: \(intent)"]
        if let orderNumber {
            lines.append("order: \(orderNumber)" + (orderStatus.map { " (status \($0.rawValue))" } ?? ""))
        }
        lines.append("contact verified: \(verifiedContact == nil ? "no" : "yes")")
        if !mentionedProducts.isEmpty { lines.append("products mentioned: \(mentionedProducts.joined(separator: ", "))") }
        if !mentionedAmounts.isEmpty {
            lines.append("amounts mentioned: " + mentionedAmounts.map { String(format: "%.2f", Double($0) / 100) }.joined(separator: ", "))
        }
        if !angerHistory.isEmpty {
            let trend = angerHistory.suffix(4).map { String(format: "%.2f", $0) }.joined(separator: " → ")
            lines.append("anger: \(trend)")
        }
        lines.append("recent messages (redacted):")
        for line in transcript.suffix(8) {
            lines.append("  \(line.speaker.rawValue): \(line.text.prefix(200))")
        }
        return lines.joined(separator: "\n")
    }
}
