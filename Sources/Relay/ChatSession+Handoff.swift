import Foundation
import SupportBot

extension ChatSession {
    /// After the bot handed off: the chat joins the tenant's queue and the customer is told their
    /// place and the expected wait (or, outside business hours, when someone will answer).
    mutating func joinQueue(_ agents: AgentHub, handoff: Handoff, send: (ServerFrame) async throws -> Void) async throws {
        guard let session = sessionID else { return }
        let placement = await agents.enqueue(tenant: tenant.id, session: session, language: language, handoff: handoff,
                                             angerPersists: bot.angerPersists, anger: bot.angerHistory, customer: outbound)
        switch placement {
        case .queued(let position, let wait):
            _ = try await storeAndSend(role: .system, text: HandoffTexts.queued(position: position, expectedWait: wait, language: language),
                                   clientID: nil, send: send, now: Date())
            try await send(.queue(position: position, expectedWaitSeconds: Int(wait)))
        case .outsideHours(let opening):
            _ = try await storeAndSend(role: .system, text: HandoffTexts.closedHours(opensAt: opening, language: language), clientID: nil,
                                   send: send, now: Date())
        }
    }
}
