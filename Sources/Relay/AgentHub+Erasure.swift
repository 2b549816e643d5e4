import Foundation

/// Erasure while a chat is with the human desk: the chat leaves the queue, every agent's and
/// supervisor's console, memory and `relay.sqlite` (called by ``ErasureWatchService``).
extension AgentHub {
    /// What agents' consoles show in place of an erased chat (no content, no reason beyond this).
    public static let erasedNotice = "此会话已按数据主体请求删除 / This chat was erased at the data subject's request"

    /// The sessions on the desk (queued or with an agent), by tenant.
    func liveSessions() -> [String: Set<String>] {
        state.withLockedValue { state in
            state.desks.compactMapValues { desk in desk.chats.isEmpty ? nil : Set(desk.chats.keys) }
        }
    }

    /// Removes the chats of `sessions` (erased from the store) from `tenant`'s desk: out of the
    /// queue, their summary, notes and order context out of memory, their sealed row deleted.
    /// Every console of the tenant gets `chat_erased` (session id and a fixed notice only: an
    /// agent may have the chat open from when it was queued) and a fresh queue. Nothing is
    /// stored in the erased session and the customer is not written to here (their chat is
    /// ended by the watcher). Returns the sessions removed.
    @discardableResult
    public func sessionsErased(tenant: String, sessions: Set<String>) async -> [String] {
        let removed: [String] = state.withLockedValue { state in
            guard var desk = state.desks[tenant] else { return [] }
            var removed: [String] = []
            for session in sessions.sorted() where desk.chats.removeValue(forKey: session) != nil {
                desk.queue.remove(session: session)
                removed.append(session)
            }
            state.desks[tenant] = desk
            return removed
        }
        guard !removed.isEmpty else { return [] }
        for session in removed {
            await persist(tenant, session)  // the chat is gone from the desk: deletes its row
            logger.notice("agents.chat_erased", metadata: ["tenant": "\(tenant)", "session": "\(session)"])
            await sendToAgents(tenant: tenant, filter: { _ in true },
                               object: ["type": "chat_erased", "session": session, "notice": Self.erasedNotice])
        }
        await broadcastQueue(tenant: tenant)
        await tellPositions(tenant: tenant)
        await autoAssign(tenant: tenant)
        return removed
    }
}
