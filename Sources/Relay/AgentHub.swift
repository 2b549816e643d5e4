import AgentDesk
import Foundation
import Logging
import NIOConcurrencyHelpers
import Redaction
import Sealing
import SupportBot
import TranscriptStore

/// Sends a frame to a customer's WebSocket (a dropped connection makes it a no-op).
public typealias CustomerSender = @Sendable (ServerFrame) async throws -> Void
/// Sends one JSON text frame to an agent's console.
public typealias AgentSender = @Sendable (String) async -> Void

/// Why an agent action was refused. The same `not_found` answers a session of another tenant
/// and one that does not exist, so nothing about other shops leaks.
public enum AgentDeskError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound
    case notYours
    case invalid(String)
    case auditUnavailable
    case storeUnavailable

    public var code: String {
        switch self {
        case .notFound: return "not_found"
        case .notYours: return "forbidden"
        case .invalid: return "invalid_request"
        case .auditUnavailable: return "audit_unavailable"
        case .storeUnavailable: return "store_unavailable"
        }
    }

    public var description: String {
        switch self {
        case .notFound: return "no such chat"
        case .notYours: return "this chat is handled by someone else"
        case .invalid(let why): return why
        case .auditUnavailable: return "the audit log could not be written; nothing was done"
        case .storeUnavailable: return "the transcript store refused the write; nothing was sent"
        }
    }
}

/// The live side of the human hand-off: each tenant's queue and handed-off chats, and the
/// agents' console connections.
///
/// Customers' chats (``ChatSession``) put themselves in the queue when the bot hands off and
/// route their (already redacted) messages here while queued or with an agent. Agents act
/// through ``handle(connection:frame:)`` (WebSocket) or the HTTP API; every lookup goes through
/// the agent's own tenant, so another tenant's chat is simply not found.
public final class AgentHub: Sendable {
    public let tenants: TenantDirectory
    let store: any TranscriptStore
    public let authenticator: AgentAuthenticator
    let audit: any AgentAuditLog
    let policies: [String: AgentDeskPolicy]
    let clock: @Sendable () -> Date
    let logger: Logger
    /// Where the queue and the chats with agents survive a restart (nil: memory only).
    let persistence: HandoffPersistence?
    let state = NIOLockedValueBox(State())

    /// Resolution codes an agent can close a chat with.
    public static let resolutions: Set<String> = ["resolved", "refunded", "card_resent", "replaced", "no_response", "duplicate",
                                                  "not_our_shop", "other"]

    public init(tenants: TenantDirectory, store: any TranscriptStore, authenticator: AgentAuthenticator, audit: any AgentAuditLog,
                policies: [String: AgentDeskPolicy] = [:], clock: @escaping @Sendable () -> Date = { Date() },
                logger: Logger = Logger(label: "kamirelay.agents"), state: RelayStateStore? = nil) {
        self.persistence = state.map { HandoffPersistence(store: $0, logger: logger) }
        self.tenants = tenants
        self.store = store
        self.authenticator = authenticator
        self.audit = audit
        self.policies = policies
        self.clock = clock
        self.logger = logger
    }

    func policy(_ tenant: String) -> AgentDeskPolicy { policies[tenant] ?? AgentDeskPolicy() }

    // MARK: State

    struct Note: Sendable {
        var author: String
        var text: String
        var at: Date
    }

    struct LiveChat: Sendable {
        var session: String
        var language: String
        var reason: Handoff.Reason
        var urgency: QueueUrgency
        var summary: String
        var anger: [Double]
        var orderNumber: String?
        var enqueuedAt: Date
        var agentID: Int64?
        var agentName: String?
        var takenAt: Date?
        var customer: CustomerSender?
        var notes: [Note] = []
        var escalated = false
        var toldPosition: Int?
        /// Back in the queue because its agent went offline: front of its class.
        var returned = false
        /// Since when the chat's agent has had no console open (nil: online, or no agent).
        var agentAwaySince: Date?

        var persisted: PersistedHandoff {
            PersistedHandoff(session: session, language: language, reason: reason, urgency: urgency.rawValue, summary: summary, anger: anger,
                             orderNumber: orderNumber, enqueuedAt: enqueuedAt, returned: returned, agentID: agentID, agentName: agentName,
                             takenAt: takenAt, escalated: escalated,
                             notes: notes.map { PersistedHandoff.Note(author: $0.author, text: $0.text, at: $0.at) })
        }

        var queueEntry: QueueEntry {
            QueueEntry(session: session, reason: reason, urgency: urgency, enqueuedAt: enqueuedAt, returned: returned)
        }
    }

    struct TenantDesk: Sendable {
        var queue = HandoffQueue()
        var chats: [String: LiveChat] = [:]
    }

    struct Connection: Sendable {
        var principal: AgentPrincipal
        /// The login session's token (already in this process's memory; never logged), so the
        /// socket can be cut when the session ends.
        var token: String
        var send: AgentSender
        var close: @Sendable () async -> Void
    }

    struct State: Sendable {
        var desks: [String: TenantDesk] = [:]
        var connections: [UInt64: Connection] = [:]
        var nextConnection: UInt64 = 0
        /// Round-robin position per tenant: the account that got the last chat.
        var lastAssigned: [String: Int64] = [:]
    }

    // MARK: Customer side (called by ChatSession)

    /// What the customer is told after joining the queue.
    enum Placement: Sendable, Equatable {
        case queued(position: Int, expectedWait: TimeInterval)
        case outsideHours(opening: String)
    }

    /// Puts a handed-off chat in its tenant's queue.
    func enqueue(tenant: String, session: String, language: String, handoff: Handoff, angerPersists: Bool, anger: [Double],
                 customer: CustomerSender?) async -> Placement {
        let now = clock()
        let urgency = QueueUrgency(reason: handoff.reason, angerPersists: angerPersists)
        let placement: Placement = state.withLockedValue { state in
            var desk = state.desks[tenant] ?? TenantDesk()
            desk.chats[session] = LiveChat(session: session, language: language, reason: handoff.reason, urgency: urgency,
                                           summary: handoff.summary, anger: anger, orderNumber: handoff.orderNumber,
                                           enqueuedAt: now, customer: customer)
            desk.queue.enqueue(QueueEntry(session: session, reason: handoff.reason, urgency: urgency, enqueuedAt: now))
            let position = desk.queue.position(of: session) ?? 1
            desk.chats[session]?.toldPosition = position
            let agents = Set(state.connections.values.filter { $0.principal.tenant == tenant }.map { $0.principal.account.id }).count
            state.desks[tenant] = desk
            if let hours = policy(tenant).businessHours, !hours.isOpen(at: now) { return .outsideHours(opening: hours.opening) }
            return .queued(position: position, expectedWait: desk.queue.expectedWait(position: position, agents: agents))
        }
        logger.info("agents.queued", metadata: ["tenant": "\(tenant)", "session": "\(session)", "urgency": "\(urgency)",
                                                "reason": "\(handoff.reason.rawValue)"])
        await persist(tenant, session)
        await broadcastQueue(tenant: tenant)
        await tellPositions(tenant: tenant)
        await autoAssign(tenant: tenant)
        return placement
    }

    /// True while the chat is queued or with an agent: customer messages go to the agents, not the bot.
    func isWithHuman(tenant: String, session: String) -> Bool {
        state.withLockedValue { $0.desks[tenant]?.chats[session] != nil }
    }

    /// A resumed connection: agent messages go to the new socket from now on.
    func attach(tenant: String, session: String, customer: CustomerSender?) {
        state.withLockedValue { state in state.desks[tenant]?.chats[session]?.customer = customer }
    }

    /// A customer message, already redacted and stored, for the agents.
    func customerMessage(tenant: String, session: String, id: UInt64, text: String, time: Date) async {
        await sendToWatchers(tenant: tenant, session: session, object: [
            "type": "message", "session": session, "role": "customer", "text": text, "id": id, "time": Self.time(time)])
    }

    func customerTyping(tenant: String, session: String) async {
        await sendToWatchers(tenant: tenant, session: session, object: ["type": "typing", "session": session, "role": "customer"])
    }

    /// The customer said `bye`: the chat leaves the queue and the agent's screen.
    func customerLeft(tenant: String, session: String) async {
        let removed: LiveChat? = state.withLockedValue { state in
            state.desks[tenant]?.queue.remove(session: session)
            return state.desks[tenant]?.chats.removeValue(forKey: session)
        }
        guard let removed else { return }
        await persist(tenant, session)
        await sendToAgents(tenant: tenant, filter: { $0.role.supervises || $0.account.id == removed.agentID },
                           object: ["type": "chat_ended", "session": session, "how": "customer_left"])
        await broadcastQueue(tenant: tenant)
        await tellPositions(tenant: tenant)
    }

    // MARK: Agent connections

    /// Registers a console connection; returns its id for ``handle(connection:frame:)`` and ``disconnect(_:)``.
    public func connect(_ principal: AgentPrincipal, token: String, send: @escaping AgentSender,
                        close: @escaping @Sendable () async -> Void) async -> UInt64 {
        let id: UInt64 = state.withLockedValue { state in
            state.nextConnection += 1
            state.connections[state.nextConnection] = Connection(principal: principal, token: token, send: send, close: close)
            // Back within the grace period (or after a restart): the agent's chats stay theirs.
            if var desk = state.desks[principal.tenant] {
                for (session, chat) in desk.chats where chat.agentID == principal.account.id { desk.chats[session]?.agentAwaySince = nil }
                state.desks[principal.tenant] = desk
            }
            return state.nextConnection
        }
        await send(Self.json(["type": "welcome", "agent": principal.account.username, "role": principal.role.rawValue,
                              "tenant": principal.tenant,
                              "canned": policy(principal.tenant).cannedResponses.map { ["key": $0.key, "zh": $0.zh, "en": $0.en] }]))
        await broadcastQueue(tenant: principal.tenant)
        await autoAssign(tenant: principal.tenant)
        return id
    }

    /// A console socket closed. When it was the agent's last one, the grace period for their
    /// open chats starts (``checkAgentsOffline()``).
    public func disconnect(_ id: UInt64) async {
        let now = clock()
        let tenant = state.withLockedValue { state -> String? in
            guard let principal = state.connections.removeValue(forKey: id)?.principal else { return nil }
            let stillOnline = state.connections.values.contains {
                $0.principal.tenant == principal.tenant && $0.principal.account.id == principal.account.id
            }
            if !stillOnline, var desk = state.desks[principal.tenant] {
                for (session, chat) in desk.chats where chat.agentID == principal.account.id && chat.agentAwaySince == nil {
                    desk.chats[session]?.agentAwaySince = now
                }
                state.desks[principal.tenant] = desk
            }
            return principal.tenant
        }
        if let tenant { await broadcastQueue(tenant: tenant) }
    }

    /// Handles one console frame. Errors go back to the agent as `error` frames.
    public func handle(connection id: UInt64, frame text: String) async {
        guard let connection = state.withLockedValue({ $0.connections[id] }) else { return }
        let principal = connection.principal
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let type = object["type"] as? String else {
            return await connection.send(Self.json(["type": "error", "code": "invalid_json", "message": "send one JSON object per frame"]))
        }
        let session = object["session"] as? String ?? ""
        do {
            switch type {
            case "take":
                let history = try await take(principal, session: session)
                await connection.send(Self.json(history))
            case "open":
                await connection.send(Self.json(try await history(principal, session: session)))
            case "reply":
                guard let body = object["text"] as? String else { throw AgentDeskError.invalid("reply needs text") }
                try await reply(principal, session: session, text: body)
            case "typing":
                try await agentTyping(principal, session: session)
            case "note":
                guard let body = object["text"] as? String else { throw AgentDeskError.invalid("note needs text") }
                try await note(principal, session: session, text: body)
            case "return_to_bot":
                try await returnToBot(principal, session: session)
            case "transfer":
                guard let to = object["to"] as? String else { throw AgentDeskError.invalid("transfer needs to (a username, or \"queue\")") }
                try await transfer(principal, session: session, to: to)
            case "close":
                guard let resolution = object["resolution"] as? String else { throw AgentDeskError.invalid("close needs a resolution") }
                try await close(principal, session: session, resolution: resolution)
            case "queue":
                await connection.send(Self.json(queueSnapshot(principal)))
            default:
                throw AgentDeskError.invalid("unknown frame type")
            }
        } catch let error as AgentDeskError {
            logger.info("agents.refused", metadata: ["code": "\(error.code)", "agent": "\(principal.account.auditName)"])
            await connection.send(Self.json(["type": "error", "code": error.code, "message": error.description, "session": session]))
        } catch {
            await connection.send(Self.json(["type": "error", "code": "internal", "message": "the action failed", "session": session]))
        }
    }

    // MARK: Agent actions (WebSocket and HTTP API)

    /// The queue and live chats as this agent may see them: every queued chat of the tenant and
    /// the agent's own chats; supervisors see every live chat.
    public func queueSnapshot(_ principal: AgentPrincipal) -> [String: Any] {
        let now = clock()
        let (desk, online) = state.withLockedValue { state in
            (state.desks[principal.tenant] ?? TenantDesk(),
             Set(state.connections.values.filter { $0.principal.tenant == principal.tenant }.map { $0.principal.account.username }))
        }
        var queued: [[String: Any]] = []
        for (index, entry) in desk.queue.entries.enumerated() {
            guard let chat = desk.chats[entry.session] else { continue }
            var row = Self.describe(chat, now: now)
            row["position"] = index + 1
            queued.append(row)
        }
        let active = desk.chats.values.filter { $0.agentID != nil && (principal.role.supervises || $0.agentID == principal.account.id) }
            .sorted { $0.enqueuedAt < $1.enqueuedAt }.map { Self.describe($0, now: now) }
        return ["type": "queue", "queued": queued, "active": active, "agents_online": online.sorted(), "time": Self.time(now)]
    }

    static func describe(_ chat: LiveChat, now: Date) -> [String: Any] {
        var row: [String: Any] = ["session": chat.session, "urgency": chat.urgency.description, "reason": chat.reason.rawValue,
                                  "language": chat.language, "waiting_seconds": Int(now.timeIntervalSince(chat.enqueuedAt)),
                                  "enqueued_at": time(chat.enqueuedAt), "summary": chat.summary, "anger": chat.anger,
                                  "escalated": chat.escalated, "state": chat.agentID == nil ? "queued" : "active",
                                  "returned": chat.returned]
        if let agent = chat.agentName { row["agent"] = agent }
        if let order = chat.orderNumber { row["order"] = order }
        return row
    }

    /// Takes a queued chat (a supervisor may also take one another agent has). Audited.
    public func take(_ principal: AgentPrincipal, session: String) async throws -> [String: Any] {
        let chat = try lookup(principal, session)
        if chat.agentID != principal.account.id {
            try await assign(session, to: principal) {
                try await self.record(principal, "agent.take", ["session": session, "urgency": chat.urgency.description])
            }
        }
        return try await history(principal, session: session)
    }

    /// Gives a chat to an agent: claimed under the lock (two agents clicking at once: one
    /// wins; the per-agent limit holds), then `audited` (the claim is given back if the audit
    /// entry cannot be written), then the customer and the previous agent are told.
    func assign(_ session: String, to principal: AgentPrincipal, audited: () async throws -> Void) async throws {
        let limit = policy(principal.tenant).maxChatsPerAgent
        let claim: Result<LiveChat, AgentDeskError> = state.withLockedValue { state in
            guard var current = state.desks[principal.tenant]?.chats[session] else { return .failure(.notFound) }
            guard current.agentID == nil || principal.role.supervises else { return .failure(.notYours) }
            let mine = state.desks[principal.tenant]?.chats.values.filter { $0.agentID == principal.account.id }.count ?? 0
            guard mine < limit else { return .failure(.invalid("you already have \(mine) chats open (the limit is \(limit))")) }
            let before = current
            state.desks[principal.tenant]?.queue.remove(session: session)
            current.agentID = principal.account.id
            current.agentName = principal.account.username
            current.takenAt = current.takenAt ?? clock()
            // Taken over the HTTP API without a console open: the grace period runs from now.
            let online = state.connections.values.contains {
                $0.principal.tenant == principal.tenant && $0.principal.account.id == principal.account.id
            }
            current.agentAwaySince = online ? nil : clock()
            state.desks[principal.tenant]?.chats[session] = current
            return .success(before)
        }
        let previous = try claim.get()
        do { try await audited() } catch {
            state.withLockedValue { state in
                guard state.desks[principal.tenant]?.chats[session]?.agentID == principal.account.id else { return }
                state.desks[principal.tenant]?.chats[session] = previous
                if previous.agentID == nil { state.desks[principal.tenant]?.queue.enqueue(previous.queueEntry) }
            }
            throw error
        }
        logger.info("agents.taken", metadata: ["tenant": "\(principal.tenant)", "session": "\(session)", "agent": "\(principal.account.auditName)"])
        await persist(principal.tenant, session)
        if let other = previous.agentID, other != principal.account.id {
            await sendToAgents(tenant: principal.tenant, filter: { $0.account.id == other },
                               object: ["type": "chat_ended", "session": session, "how": "reassigned"])
        }
        if previous.agentID == nil {
            try? await storeAndTell(tenant: principal.tenant, session: session, role: .system,
                                    text: HandoffTexts.agentJoined(language: previous.language), customer: previous.customer)
            try? await previous.customer?(.handoff(state: "agent_joined", priority: previous.urgency.description,
                                                   reason: previous.reason.rawValue))
        }
        await broadcastQueue(tenant: principal.tenant)
        await tellPositions(tenant: principal.tenant)
    }

    /// Round-robin assignment (when the tenant's policy turns it on): queued chats, in queue
    /// order, go to the online agents (role `agent`) in turn, skipping anyone at the per-agent
    /// limit. Each assignment is audited (`agent.assign`, actor `desk`); the agent's console
    /// gets `assigned` and opens the chat.
    public func autoAssign(tenant: String) async {
        let rules = policy(tenant)
        guard rules.autoAssign else { return }
        let plan: [(String, AgentPrincipal)] = state.withLockedValue { state in
            guard let desk = state.desks[tenant] else { return [] }
            var online: [Int64: AgentPrincipal] = [:]
            for connection in state.connections.values where connection.principal.tenant == tenant && connection.principal.role == .agent {
                online[connection.principal.account.id] = connection.principal
            }
            let ids = online.keys.sorted()
            guard !ids.isEmpty else { return [] }
            var load: [Int64: Int] = [:]
            for chat in desk.chats.values { if let id = chat.agentID { load[id, default: 0] += 1 } }
            var last = state.lastAssigned[tenant]
            var plan: [(String, AgentPrincipal)] = []
            for entry in desk.queue.entries {
                let start = last.flatMap { id in ids.firstIndex { $0 > id } } ?? 0
                guard let chosen = (0..<ids.count).map({ ids[(start + $0) % ids.count] })
                    .first(where: { load[$0, default: 0] < rules.maxChatsPerAgent }) else { break }
                load[chosen, default: 0] += 1
                last = chosen
                plan.append((entry.session, online[chosen]!))
            }
            state.lastAssigned[tenant] = last
            return plan
        }
        for (session, principal) in plan {
            do {
                try await assign(session, to: principal) {
                    try await self.audit.record(tenant: tenant, actor: "desk", action: "agent.assign",
                                                detail: ["session": session, "to": principal.account.auditName])
                }
                await sendToAgents(tenant: tenant, filter: { $0.account.id == principal.account.id },
                                   object: ["type": "assigned", "session": session])
            } catch {
                logger.info("agents.assign_skipped", metadata: ["session": "\(session)"])
            }
        }
    }

    /// The redacted transcript, the bot's summary, sentiment trend and notes. Audited as a
    /// transcript view; refused when the audit entry cannot be written.
    public func history(_ principal: AgentPrincipal, session: String) async throws -> [String: Any] {
        let chat = try lookup(principal, session)
        guard chat.agentID == nil || chat.agentID == principal.account.id || principal.role.supervises else {
            throw AgentDeskError.notYours
        }
        try await record(principal, "transcript.view", ["session": session])
        let messages: [TranscriptMessage]
        do { messages = try await store.transcript(tenant: principal.tenant, session: session) } catch TranscriptStoreError.unknownSession {
            // Erased (or swept) and not yet noticed by the relay's check: it leaves the desk now.
            await sessionsErased(tenant: principal.tenant, sessions: [session])
            throw AgentDeskError.notFound
        } catch {
            throw AgentDeskError.storeUnavailable
        }
        var object = Self.describe(chat, now: clock())
        object["type"] = "history"
        object["messages"] = messages.map { ["id": $0.sequence, "role": $0.role.name, "text": $0.text, "time": Self.time($0.sentAt)] }
        object["notes"] = chat.notes.map { ["author": $0.author, "text": $0.text, "time": Self.time($0.at)] }
        return object
    }

    /// An agent's reply: redacted for the store, the logs and every agent screen; the customer
    /// gets the redacted text too, unless the tenant lets agents deliver card keys (then only
    /// card keys stay as typed).
    public func reply(_ principal: AgentPrincipal, session: String, text: String) async throws {
        let chat = try lookup(principal, session)
        guard chat.agentID == principal.account.id else { throw chat.agentID == nil ? AgentDeskError.invalid("take the chat first") : AgentDeskError.notYours }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, text.unicodeScalars.count <= 4_000 else {
            throw AgentDeskError.invalid("replies are 1–4000 characters")
        }
        guard let tenant = tenants.tenants[principal.tenant] else { throw AgentDeskError.notFound }
        let redacted = tenant.redactor.redact(text)
        let forCustomer = policy(principal.tenant).agentsMayDeliverCardKeys
            ? Self.keepingCardKeys(original: text, findings: redacted.findings) : redacted.text
        let stored: AppendResult
        do {
            stored = try await store.append([PendingMessage(tenant: principal.tenant, session: session, role: .agent, text: redacted.text,
                                                            sentAt: clock())])
        } catch TranscriptStoreError.unknownSession {
            // Erased (or swept) and not yet noticed by the relay's check: nothing is sent, and
            // the chat leaves the desk now (the customer's chat ends at the next check).
            await sessionsErased(tenant: principal.tenant, sessions: [session])
            throw AgentDeskError.notFound
        } catch { throw AgentDeskError.storeUnavailable }
        let id = stored.stored.first?.sequence ?? 0
        let now = clock()
        logger.info("agents.reply", metadata: ["session": "\(session)", "redactions": "\(redacted.findings.count)"])
        try? await chat.customer?(.message(role: "agent", text: forCustomer, id: id, time: now, clientID: nil))
        await sendToWatchers(tenant: principal.tenant, session: session, object: [
            "type": "message", "session": session, "role": "agent", "text": redacted.text, "id": id, "time": Self.time(now)])
    }

    /// The customer text of an agent reply when the tenant lets agents deliver keys: card keys
    /// as typed, every other finding masked.
    static func keepingCardKeys(original: String, findings: [Finding]) -> String {
        let scalars = Array(original.unicodeScalars)
        var out = String.UnicodeScalarView()
        var index = 0
        for finding in findings.sorted(by: { $0.start < $1.start }) where finding.start >= index {
            out.append(contentsOf: scalars[index..<finding.start])
            if finding.type == .cardKey { out.append(contentsOf: scalars[finding.start..<finding.end]) } else {
                out.append(contentsOf: "[\(finding.type.label)]".unicodeScalars)
            }
            index = finding.end
        }
        out.append(contentsOf: scalars[min(index, scalars.count)...])
        return String(out)
    }

    func agentTyping(_ principal: AgentPrincipal, session: String) async throws {
        let chat = try lookup(principal, session)
        guard chat.agentID == principal.account.id else { throw AgentDeskError.notYours }
        try? await chat.customer?(.typing(role: "agent"))
    }

    /// An internal note: redacted, shown to the tenant's agents on this chat, never to the customer.
    func note(_ principal: AgentPrincipal, session: String, text: String) async throws {
        let chat = try lookup(principal, session)
        guard chat.agentID == nil || chat.agentID == principal.account.id || principal.role.supervises else { throw AgentDeskError.notYours }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, text.unicodeScalars.count <= 2_000 else {
            throw AgentDeskError.invalid("notes are 1–2000 characters")
        }
        guard let tenant = tenants.tenants[principal.tenant] else { throw AgentDeskError.notFound }
        let note = Note(author: principal.account.username, text: tenant.redactor.redact(text).text, at: clock())
        state.withLockedValue { $0.desks[principal.tenant]?.chats[session]?.notes.append(note) }
        await persist(principal.tenant, session)
        await sendToWatchers(tenant: principal.tenant, session: session, object: [
            "type": "note", "session": session, "author": note.author, "text": note.text, "time": Self.time(note.at)])
    }

    /// Hands the chat back to the bot: the customer's next message goes to the bot again.
    public func returnToBot(_ principal: AgentPrincipal, session: String) async throws {
        let chat = try lookup(principal, session)
        guard chat.agentID == principal.account.id || principal.role.supervises else { throw AgentDeskError.notYours }
        try await record(principal, "agent.return_to_bot", ["session": session])
        await endWithAgent(principal.tenant, chat, session: session, how: "returned_to_bot",
                           customerText: HandoffTexts.returnedToBot(language: chat.language))
    }

    /// The end of a chat's time with the humans (back to the bot, or closed): the desk lets go of
    /// it, the customer is told, the agent's and supervisors' views and the queue move on.
    /// `beforeTelling` runs between letting go and telling the customer (the close's transcript line).
    private func endWithAgent(_ tenant: String, _ chat: LiveChat, session: String, how: String, customerText: String,
                              beforeTelling: () async -> Void = {}) async {
        await finish(tenant, session)
        await persist(tenant, session)
        await beforeTelling()
        try? await storeAndTell(tenant: tenant, session: session, role: .system, text: customerText, customer: chat.customer)
        try? await chat.customer?(.handoff(state: how, priority: chat.urgency.description, reason: chat.reason.rawValue))
        await sendToAgents(tenant: tenant, filter: { $0.role.supervises || $0.account.id == chat.agentID },
                           object: ["type": "chat_ended", "session": session, "how": how])
        await broadcastQueue(tenant: tenant)
        await tellPositions(tenant: tenant)
        await autoAssign(tenant: tenant)
    }

    /// Passes the chat to another agent of the tenant (or back to the queue with `to: "queue"`).
    public func transfer(_ principal: AgentPrincipal, session: String, to username: String) async throws {
        let chat = try lookup(principal, session)
        guard chat.agentID == principal.account.id || principal.role.supervises else { throw AgentDeskError.notYours }
        var target: AgentAccount?
        if username != "queue" {
            guard let account = try? authenticator.store.account(tenant: principal.tenant, username: username.lowercased()),
                  !account.disabled, account.role.usesConsole else { throw AgentDeskError.invalid("no such agent in this shop") }
            target = account
        }
        try await record(principal, "agent.transfer", ["session": session, "to": target?.auditName ?? "queue"])
        state.withLockedValue { state in
            guard var current = state.desks[principal.tenant]?.chats[session] else { return }
            current.agentID = target?.id
            current.agentName = target?.username
            let targetOnline = state.connections.values.contains { $0.principal.tenant == principal.tenant && $0.principal.account.id == target?.id }
            current.agentAwaySince = target == nil || targetOnline ? nil : clock()
            if target == nil { state.desks[principal.tenant]?.queue.enqueue(current.queueEntry) }
            state.desks[principal.tenant]?.chats[session] = current
        }
        await persist(principal.tenant, session)
        if let previous = chat.agentID {
            await sendToAgents(tenant: principal.tenant, filter: { $0.account.id == previous },
                               object: ["type": "chat_ended", "session": session, "how": "transferred"])
        }
        if let target {
            await sendToAgents(tenant: principal.tenant, filter: { $0.account.id == target.id },
                               object: ["type": "assigned", "session": session])
        }
        try? await storeAndTell(tenant: principal.tenant, session: session, role: .system,
                                text: HandoffTexts.transferred(language: chat.language), customer: chat.customer)
        await broadcastQueue(tenant: principal.tenant)
        await tellPositions(tenant: principal.tenant)
    }

    /// Closes the chat with a resolution code; the customer is asked for a CSAT score.
    public func close(_ principal: AgentPrincipal, session: String, resolution: String) async throws {
        guard Self.resolutions.contains(resolution) else {
            throw AgentDeskError.invalid("resolution must be one of " + Self.resolutions.sorted().joined(separator: ", "))
        }
        let chat = try lookup(principal, session)
        guard chat.agentID == principal.account.id || principal.role.supervises else { throw AgentDeskError.notYours }
        try await record(principal, "agent.close", ["session": session, "resolution": resolution])
        let tenant = principal.tenant
        await endWithAgent(tenant, chat, session: session, how: "closed", customerText: HandoffTexts.closed(language: chat.language)) {
            _ = try? await self.store.append([PendingMessage(tenant: tenant, session: session, role: .system,
                                                             text: "closed by agent: resolution \(resolution)", sentAt: self.clock())])
        }
    }

    /// Closes console sockets whose login session ended (logout, expiry, disabled account)
    /// without waiting for their next frame. Called on a timer; does not count as activity.
    public func closeEndedSessions() async {
        let connections = state.withLockedValue { Array($0.connections) }
        for (id, connection) in connections
        where authenticator.authenticate(tenant: connection.principal.tenant, token: connection.token, touch: false) == nil {
            await connection.send(Self.json(["type": "error", "code": "session_expired", "message": "please log in again"]))
            await connection.close()
            await disconnect(id)
        }
    }

    /// Escalates queued chats waiting longer than the tenant's service level: supervisors are
    /// notified once per chat and the customer is told honestly. Called on a timer.
    public func checkServiceLevels() async {
        let now = clock()
        let due: [(String, LiveChat)] = state.withLockedValue { state in
            var due: [(String, LiveChat)] = []
            for (tenant, desk) in state.desks {
                let limit = policy(tenant).serviceLevel
                for entry in desk.queue.entries where entry.waiting(at: now) > limit {
                    guard let chat = desk.chats[entry.session], !chat.escalated else { continue }
                    state.desks[tenant]?.chats[entry.session]?.escalated = true
                    due.append((tenant, chat))
                }
            }
            return due
        }
        for (tenant, chat) in due {
            await persist(tenant, chat.session)
            logger.notice("agents.sla_breached", metadata: ["tenant": "\(tenant)", "session": "\(chat.session)"])
            await sendToAgents(tenant: tenant, filter: { $0.role.supervises }, object: [
                "type": "escalation", "session": chat.session, "waiting_seconds": Int(now.timeIntervalSince(chat.enqueuedAt)),
                "urgency": chat.urgency.description])
            try? await storeAndTell(tenant: tenant, session: chat.session, role: .system,
                                    text: HandoffTexts.slaBreached(language: chat.language), customer: chat.customer)
        }
        if !due.isEmpty { for tenant in Set(due.map(\.0)) { await broadcastQueue(tenant: tenant) } }
    }

    // MARK: Helpers

    /// The chat, looked up in the principal's own tenant only.
    func lookup(_ principal: AgentPrincipal, _ session: String) throws -> LiveChat {
        guard let chat = state.withLockedValue({ $0.desks[principal.tenant]?.chats[session] }) else { throw AgentDeskError.notFound }
        return chat
    }

    /// The chat leaves the desk; a chat an agent had feeds the average handle time, which is
    /// saved so a restart keeps the expected-wait estimate.
    func finish(_ tenant: String, _ session: String) async {
        let now = clock()
        let average: TimeInterval? = state.withLockedValue { state in
            state.desks[tenant]?.queue.remove(session: session)
            guard let chat = state.desks[tenant]?.chats.removeValue(forKey: session), let taken = chat.takenAt else { return nil }
            state.desks[tenant]?.queue.recordHandleTime(now.timeIntervalSince(taken))
            return state.desks[tenant]?.queue.averageHandleTime
        }
        if let average, let persistence { await persistence.saveAverageHandleTime(tenant: tenant, seconds: average) }
    }

    func record(_ principal: AgentPrincipal, _ action: String, _ detail: [String: String]) async throws {
        do { try await audit.record(tenant: principal.tenant, actor: principal.account.auditName, action: action, detail: detail) } catch {
            logger.error("agents.audit_failed", metadata: ["action": "\(action)"])
            throw AgentDeskError.auditUnavailable
        }
    }

    /// Records a login attempt in the audit log (no names typed at the form, only account ids).
    public func recordLogin(tenant: String, account: AgentAccount?, outcome: String) async {
        do {
            try await audit.record(tenant: tenant, actor: account?.auditName ?? "unknown-account", action: "agent.login",
                                   detail: ["outcome": outcome])
        } catch {
            logger.error("agents.audit_failed", metadata: ["action": "agent.login"])
        }
    }

    public func recordLogout(_ principal: AgentPrincipal) async {
        try? await record(principal, "agent.logout", [:])
    }

    func storeAndTell(tenant: String, session: String, role: SenderRole, text: String, customer: CustomerSender?) async throws {
        let now = clock()
        let stored = try await store.append([PendingMessage(tenant: tenant, session: session, role: role, text: text, sentAt: now)])
        try await customer?(.message(role: role.name, text: text, id: stored.stored.first?.sequence ?? 0, time: now, clientID: nil))
    }

    /// Sends to the agents who may see this chat: its agent, supervisors, and everyone while queued.
    func sendToWatchers(tenant: String, session: String, object: [String: Any]) async {
        guard let chat = state.withLockedValue({ $0.desks[tenant]?.chats[session] }) else { return }
        await sendToAgents(tenant: tenant, filter: { chat.agentID == nil || $0.account.id == chat.agentID || $0.role.supervises },
                           object: object)
    }

    func sendToAgents(tenant: String, filter: (AgentPrincipal) -> Bool, object: [String: Any]) async {
        let text = Self.json(object)
        let targets = state.withLockedValue { $0.connections.values.filter { $0.principal.tenant == tenant && filter($0.principal) } }
        for target in targets { await target.send(text) }
    }

    func broadcastQueue(tenant: String) async {
        let targets = state.withLockedValue { $0.connections.values.filter { $0.principal.tenant == tenant } }
        for target in targets { await target.send(Self.json(queueSnapshot(target.principal))) }
    }

    /// Tells waiting customers their new place when it changed.
    func tellPositions(tenant: String) async {
        let changes: [(CustomerSender, Int, TimeInterval)] = state.withLockedValue { state in
            guard var desk = state.desks[tenant] else { return [] }
            let agents = Set(state.connections.values.filter { $0.principal.tenant == tenant }.map { $0.principal.account.id }).count
            var changes: [(CustomerSender, Int, TimeInterval)] = []
            for (index, entry) in desk.queue.entries.enumerated() {
                guard var chat = desk.chats[entry.session], chat.toldPosition != index + 1 else { continue }
                chat.toldPosition = index + 1
                desk.chats[entry.session] = chat
                if let customer = chat.customer {
                    changes.append((customer, index + 1, desk.queue.expectedWait(position: index + 1, agents: agents)))
                }
            }
            state.desks[tenant] = desk
            return changes
        }
        for (customer, position, wait) in changes { try? await customer(.queue(position: position, expectedWaitSeconds: Int(wait))) }
    }

    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func time(_ date: Date) -> String { ServerFrame.timeFormatter.string(from: date) }
}
