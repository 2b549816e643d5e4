import AgentDesk
import Foundation
import SupportBot
import TranscriptStore

/// What keeps a hand-off going when people or the server go away: the sealed rows in
/// `relay.sqlite` a restart reads back, and the grace period after an agent's console closes.
extension AgentHub {
    /// Writes the chat's current state (or deletes its row when it has left the hand-off).
    func persist(_ tenant: String, _ session: String) async {
        guard let persistence else { return }
        await persistence.sync(tenant: tenant, session: session) { [state] in
            state.withLockedValue { $0.desks[tenant]?.chats[session]?.persisted }
        }
    }

    /// After a restart: every tenant's queued chats come back with their class, reason and
    /// original waiting time; chats that were with an agent come back to that agent, who has
    /// the tenant's grace period (from now) to open the console before the chats are re-queued.
    /// Returns how many chats were restored.
    @discardableResult
    public func restore() async -> Int {
        guard let persistence else { return 0 }
        let now = clock()
        var restored = 0
        let averages: [String: TimeInterval]
        do { averages = try await persistence.store.averageHandleTimes() } catch {
            logger.error("agents.restore_failed", metadata: ["what": "average_handle_time", "error": "\(type(of: error))"])
            averages = [:]
        }
        state.withLockedValue { state in
            for (tenant, seconds) in averages where tenants.tenants[tenant] != nil {
                var desk = state.desks[tenant] ?? TenantDesk()
                desk.queue.restoreAverageHandleTime(seconds)
                state.desks[tenant] = desk
            }
        }
        for tenant in tenants.tenants.keys.sorted() {
            let loaded: [PersistedHandoff]
            do {
                let (chats, corrupt) = try await persistence.store.loadHandoffs(tenant: tenant)
                if corrupt > 0 { logger.error("agents.handoff_state_corrupt", metadata: ["tenant": "\(tenant)", "rows": "\(corrupt)"]) }
                // A session erased (or removed by retention) while the relay was down: its row goes too.
                var alive: [PersistedHandoff] = []
                for chat in chats {
                    do {
                        _ = try await store.session(tenant: tenant, session: chat.session)
                        alive.append(chat)
                    } catch TranscriptStoreError.unknownSession {
                        _ = try? await persistence.store.deleteChats(tenant: tenant, session: chat.session)
                    }
                }
                loaded = alive
            } catch {
                logger.error("agents.restore_failed", metadata: ["tenant": "\(tenant)", "error": "\(type(of: error))"])
                continue
            }
            state.withLockedValue { state in
                var desk = state.desks[tenant] ?? TenantDesk()
                for saved in loaded {
                    var chat = LiveChat(session: saved.session, language: saved.language, reason: saved.reason,
                                        urgency: QueueUrgency(rawValue: saved.urgency) ?? .normal, summary: saved.summary, anger: saved.anger,
                                        orderNumber: saved.orderNumber, enqueuedAt: saved.enqueuedAt, agentID: saved.agentID,
                                        agentName: saved.agentName, takenAt: saved.takenAt, customer: nil,
                                        notes: saved.notes.map { Note(author: $0.author, text: $0.text, at: $0.at) }, escalated: saved.escalated)
                    chat.returned = saved.returned
                    if chat.agentID == nil {
                        desk.queue.enqueue(chat.queueEntry)
                    } else {
                        chat.agentAwaySince = now
                    }
                    desk.chats[saved.session] = chat
                }
                state.desks[tenant] = desk
            }
            restored += loaded.count
            if !loaded.isEmpty { logger.notice("agents.restored", metadata: ["tenant": "\(tenant)", "chats": "\(loaded.count)"]) }
        }
        return restored
    }

    /// Where a handed-off chat stands, for the HTTP API and a resuming customer: `queued`
    /// (with place and expected wait) or `agent_joined`. Nil when the bot has the chat.
    func status(tenant: String, session: String) -> (state: String, priority: String, reason: String, position: Int?, expectedWait: Int?)? {
        state.withLockedValue { state in
            guard let desk = state.desks[tenant], let chat = desk.chats[session] else { return nil }
            guard chat.agentID == nil else { return ("agent_joined", chat.urgency.description, chat.reason.rawValue, nil, nil) }
            let agents = Set(state.connections.values.filter { $0.principal.tenant == tenant }.map { $0.principal.account.id }).count
            let position = desk.queue.position(of: session) ?? 1
            return ("queued", chat.urgency.description, chat.reason.rawValue, position,
                    Int(desk.queue.expectedWait(position: position, agents: agents)))
        }
    }

    /// Agents whose console has been closed longer than their tenant's grace period lose their
    /// open chats: each goes back to the front of its priority class, supervisors are notified
    /// (`agent_offline`), the customer is told honestly. Called on a timer.
    public func checkAgentsOffline() async {
        let now = clock()
        let returned: [(tenant: String, chat: LiveChat)] = state.withLockedValue { state in
            var returned: [(String, LiveChat)] = []
            for (tenant, var desk) in state.desks {
                let grace = policy(tenant).agentOfflineGrace
                for (session, var chat) in desk.chats {
                    guard chat.agentID != nil, let away = chat.agentAwaySince, now.timeIntervalSince(away) >= grace else { continue }
                    returned.append((tenant, chat))
                    chat.agentID = nil
                    chat.agentName = nil
                    chat.takenAt = nil
                    chat.agentAwaySince = nil
                    chat.returned = true
                    chat.toldPosition = nil
                    desk.queue.enqueue(chat.queueEntry)
                    desk.chats[session] = chat
                }
                state.desks[tenant] = desk
            }
            return returned
        }
        for (tenant, chat) in returned {
            await persist(tenant, chat.session)
            logger.notice("agents.agent_offline_requeued", metadata: ["tenant": "\(tenant)", "session": "\(chat.session)",
                                                                      "agent": "agent#\(chat.agentID ?? 0)"])
            try? await audit.record(tenant: tenant, actor: "desk", action: "agent.offline_requeue",
                                    detail: ["session": chat.session, "from": "agent#\(chat.agentID ?? 0)"])
            await sendToAgents(tenant: tenant, filter: { $0.role.supervises }, object: [
                "type": "agent_offline", "session": chat.session, "agent": chat.agentName ?? "", "urgency": chat.urgency.description])
            try? await storeAndTell(tenant: tenant, session: chat.session, role: .system,
                                    text: HandoffTexts.agentOffline(language: chat.language), customer: chat.customer)
            try? await chat.customer?(.handoff(state: "queued", priority: chat.urgency.description, reason: chat.reason.rawValue))
        }
        for tenant in Set(returned.map(\.tenant)) {
            await broadcastQueue(tenant: tenant)
            await tellPositions(tenant: tenant)
            await autoAssign(tenant: tenant)
        }
    }
}
