import Foundation
import SupportBot

/// How urgently a handed-off chat needs a person. The queue serves classes in this order and,
/// within a class, the longest-waiting chat first.
public enum QueueUrgency: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    /// Everything else, by waiting time.
    case normal = 0
    /// Money taken, nothing delivered: paid but no card key, out of stock, a payment to check.
    case high = 1
    /// A fraud report, or a customer whose anger persists.
    case urgent = 2

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { ["normal", "high", "urgent"][rawValue] }

    /// The class of a bot hand-off. `angerPersists` is the bot session's sentiment trend at the
    /// time of the hand-off (two of the last three messages angry), whatever the stated reason.
    public init(reason: Handoff.Reason, angerPersists: Bool) {
        switch reason {
        case .fraudReport, .persistentAnger: self = .urgent
        case _ where angerPersists: self = .urgent
        case .paidOutOfStock, .paymentNeedsCheck: self = .high
        default: self = .normal
        }
    }
}

/// One chat waiting for an agent.
public struct QueueEntry: Sendable, Hashable {
    public var session: String
    public var reason: Handoff.Reason
    public var urgency: QueueUrgency
    public var enqueuedAt: Date
    /// The chat was with an agent who went offline: it goes to the front of its class, since
    /// the customer already waited once.
    public var returned: Bool

    public init(session: String, reason: Handoff.Reason, urgency: QueueUrgency, enqueuedAt: Date, returned: Bool = false) {
        self.session = session
        self.reason = reason
        self.urgency = urgency
        self.enqueuedAt = enqueuedAt
        self.returned = returned
    }

    public func waiting(at now: Date) -> TimeInterval { max(0, now.timeIntervalSince(enqueuedAt)) }
}

/// One tenant's waiting chats, in service order: urgent, then high, then the rest; within a
/// class, chats returned by an agent who went offline first, then oldest first (ties by
/// session id, so the order is total and stable).
public struct HandoffQueue: Sendable {
    public private(set) var entries: [QueueEntry] = []
    /// Moving average of how long an agent spends on one chat (seed: 5 minutes).
    public private(set) var averageHandleTime: TimeInterval = 300

    public init() {}

    static func before(_ a: QueueEntry, _ b: QueueEntry) -> Bool {
        if a.urgency != b.urgency { return a.urgency > b.urgency }
        if a.returned != b.returned { return a.returned }
        if a.enqueuedAt != b.enqueuedAt { return a.enqueuedAt < b.enqueuedAt }
        return a.session < b.session
    }

    /// Adds a chat (again, if it was already queued: the earlier entry is replaced but keeps
    /// its place in time, so re-queuing after a transfer does not send anyone to the back).
    public mutating func enqueue(_ entry: QueueEntry) {
        var entry = entry
        if let old = entries.firstIndex(where: { $0.session == entry.session }) {
            entry.enqueuedAt = min(entry.enqueuedAt, entries[old].enqueuedAt)
            entry.urgency = max(entry.urgency, entries[old].urgency)
            entry.returned = entry.returned || entries[old].returned
            entries.remove(at: old)
        }
        let index = entries.firstIndex(where: { Self.before(entry, $0) }) ?? entries.endIndex
        entries.insert(entry, at: index)
    }

    /// Removes a chat (taken by an agent, or the customer left). Returns the entry.
    @discardableResult
    public mutating func remove(session: String) -> QueueEntry? {
        guard let index = entries.firstIndex(where: { $0.session == session }) else { return nil }
        return entries.remove(at: index)
    }

    /// The next chat to serve, without removing it.
    public var next: QueueEntry? { entries.first }

    /// 1-based place in the queue.
    public func position(of session: String) -> Int? {
        entries.firstIndex(where: { $0.session == session }).map { $0 + 1 }
    }

    /// The expected wait for the chat at `position`: the chats before it (and it) are served
    /// `agents` at a time, each taking the average handle time. An estimate, rounded up to
    /// whole minutes; at least one agent is assumed so the estimate is never infinite.
    public func expectedWait(position: Int, agents: Int) -> TimeInterval {
        let rounds = (position + max(1, agents) - 1) / max(1, agents)
        let seconds = Double(rounds) * averageHandleTime
        return (seconds / 60).rounded(.up) * 60
    }

    /// Feeds one finished chat's handle time into the average (weight 1/5).
    public mutating func recordHandleTime(_ seconds: TimeInterval) {
        guard seconds.isFinite, seconds > 0 else { return }
        averageHandleTime = averageHandleTime * 0.8 + min(seconds, 3_600) * 0.2
    }

    /// Sets the average back to a value saved before a restart. A value no recorded average
    /// can have (not finite, not in 0 < s ≤ 3600) is ignored: the seed stays. Returns whether
    /// it was taken.
    @discardableResult
    public mutating func restoreAverageHandleTime(_ seconds: TimeInterval) -> Bool {
        guard seconds.isFinite, seconds > 0, seconds <= 3_600 else { return false }
        averageHandleTime = seconds
        return true
    }
}
