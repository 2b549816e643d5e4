import AgentDesk
import Foundation
import SupportBot
import Testing

@Suite("The hand-off queue")
struct HandoffQueueTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("Urgent (fraud, persistent anger) first, then paid-but-no-card / out-of-stock, then by waiting time")
    func ordering() {
        var queue = HandoffQueue()
        let arrivals: [(String, Handoff.Reason, Bool, TimeInterval)] = [
            ("refund-old", .refundRequest, false, 0),
            ("asked", .customerAsked, false, 10),
            ("stock", .paidOutOfStock, false, 20),
            ("fraud", .fraudReport, false, 30),
            ("angry-refund", .refundRequest, true, 40),
            ("payment", .paymentNeedsCheck, false, 5),
            ("anger", .persistentAnger, false, 50),
            ("complaint", .complaint, false, 1),
        ]
        for (id, reason, anger, offset) in arrivals {
            queue.enqueue(QueueEntry(session: id, reason: reason, urgency: QueueUrgency(reason: reason, angerPersists: anger),
                                     enqueuedAt: t0 + offset))
        }
        #expect(queue.entries.map(\.session) == ["fraud", "angry-refund", "anger", "payment", "stock", "refund-old", "complaint", "asked"])
        #expect(queue.position(of: "stock") == 5)
        #expect(queue.next?.session == "fraud")
        queue.remove(session: "fraud")
        #expect(queue.position(of: "stock") == 4)
        #expect(queue.position(of: "fraud") == nil)
    }

    @Test("A chat returned by an agent who went offline goes to the front of its own class, not ahead of a higher one")
    func returnedChatsLeadTheirClass() {
        var queue = HandoffQueue()
        queue.enqueue(QueueEntry(session: "old-normal", reason: .customerAsked, urgency: .normal, enqueuedAt: t0))
        queue.enqueue(QueueEntry(session: "high", reason: .paidOutOfStock, urgency: .high, enqueuedAt: t0 + 50))
        queue.enqueue(QueueEntry(session: "returned", reason: .complaint, urgency: .normal, enqueuedAt: t0 + 30, returned: true))
        queue.enqueue(QueueEntry(session: "new-normal", reason: .customerAsked, urgency: .normal, enqueuedAt: t0 + 60))
        #expect(queue.entries.map(\.session) == ["high", "returned", "old-normal", "new-normal"])
        // Re-queued again later (a transfer to the queue): it keeps its place at the front.
        queue.enqueue(QueueEntry(session: "returned", reason: .complaint, urgency: .normal, enqueuedAt: t0 + 90))
        #expect(queue.entries.map(\.session) == ["high", "returned", "old-normal", "new-normal"])
    }

    @Test("Each bot hand-off reason gets its class", arguments: [
        (Handoff.Reason.fraudReport, QueueUrgency.urgent), (.persistentAnger, .urgent),
        (.paidOutOfStock, .high), (.paymentNeedsCheck, .high),
        (.customerAsked, .normal), (.complaint, .normal), (.cardInvalid, .normal), (.rechargeFailed, .normal),
        (.refundRequest, .normal), (.orderFailed, .normal), (.verificationFailed, .normal), (.notUnderstood, .normal),
        (.backendUnavailable, .normal),
    ])
    func reasons(reason: Handoff.Reason, expected: QueueUrgency) {
        #expect(QueueUrgency(reason: reason, angerPersists: false) == expected)
        #expect(QueueUrgency(reason: reason, angerPersists: true) == .urgent, "persistent anger is urgent whatever the reason")
    }

    @Test("Re-queuing keeps the original arrival time; the expected wait grows with position and shrinks with agents")
    func requeueAndWait() {
        var queue = HandoffQueue()
        queue.enqueue(QueueEntry(session: "a", reason: .customerAsked, urgency: .normal, enqueuedAt: t0))
        queue.enqueue(QueueEntry(session: "b", reason: .customerAsked, urgency: .normal, enqueuedAt: t0 + 60))
        queue.enqueue(QueueEntry(session: "a", reason: .customerAsked, urgency: .normal, enqueuedAt: t0 + 120))
        #expect(queue.entries.map(\.session) == ["a", "b"])
        #expect(queue.expectedWait(position: 1, agents: 1) == 300)
        #expect(queue.expectedWait(position: 3, agents: 1) == 900)
        #expect(queue.expectedWait(position: 3, agents: 2) == 600)
        #expect(queue.expectedWait(position: 2, agents: 0) == 600, "no agent online still gives a finite estimate")
        queue.recordHandleTime(60)
        #expect(queue.averageHandleTime < 300 && queue.averageHandleTime > 60)
    }
}
