import Foundation
import Logging
import Redaction
import Sealing
import SupportBot
import TranscriptStore

/// Limits applied to every chat. The defaults suit a small shop on one machine.
public struct RelayLimits: Sendable {
    /// Largest WebSocket frame and largest reassembled message, in bytes (larger: close 1009).
    public var maxFrameBytes = 16_384
    /// Longest `message.text`, in Unicode scalars (longer: `error` `message_too_long`).
    public var maxMessageCharacters = 2_000
    /// Token bucket per session: this many messages at once, refilled at `messagesPerSecond`.
    public var messageBurst = 5
    public var messagesPerSecond = 1.0
    /// Chats open at once; more are refused with `error` `server_busy` and close 1013.
    public var maxSessions = 1_000
    /// Chats open at once from one IP address; more are refused with `error` `too_many_chats` and close 1008.
    public var maxSessionsPerIP = 20
    /// Connections open at once from one IP address (TLS, HTTP and chats together); more are
    /// closed before the TLS handshake.
    public var maxConnectionsPerIP = 64
    /// How long after a disconnect a chat can be resumed with its token (seconds).
    public var resumeLifetime: TimeInterval = 600
    /// How long a graceful shutdown waits for chats to finish their last message and close.
    public var drainTimeout: Duration = .seconds(10)
    /// A chat with no client frame for this long gets `error` `idle_timeout` and is closed
    /// (1000); it stays resumable for ``resumeLifetime``.
    public var idleTimeout: Duration = .seconds(900)
    /// A frame the client does not take within this time (a slow or stalled reader) ends the
    /// chat: writes are not queued without bound.
    public var writeTimeout: Duration = .seconds(10)
    /// HTTP API: token bucket per API key (requests at once, refilled per second).
    public var apiBurst = 20
    public var apiRequestsPerSecond = 5.0
    /// HTTP API: how long an API session's state (language, answered ids, bot state) is kept
    /// after its last request; resends within it are answered from the store, not again.
    public var apiStateLifetime: TimeInterval = 86_400

    public init() {}
}

/// A token bucket: `capacity` tokens, refilled continuously at `ratePerSecond`.
struct TokenBucket: Sendable {
    let capacity: Double
    let ratePerSecond: Double
    private var tokens: Double
    private var last: Date?

    init(capacity: Int, ratePerSecond: Double) {
        self.capacity = Double(capacity)
        self.ratePerSecond = ratePerSecond
        self.tokens = Double(capacity)
    }

    mutating func take(now: Date) -> Bool {
        if let last { tokens = min(capacity, tokens + max(0, now.timeIntervalSince(last)) * ratePerSecond) }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// What a chat remembers about a customer message it stored and answered, so a resend is
/// recognised (and, over the HTTP API, answered again from the store instead of processed twice).
public struct AnsweredMessage: Sendable, Hashable, Codable {
    /// Sequence number of the stored (redacted) customer message.
    public var customer: UInt64
    /// Sequence number of the stored reply, if one was stored.
    public var reply: UInt64?
    /// Kinds of data masked in the message (`SecretType` raw values).
    public var types: [String]
    /// The hand-off the message caused, if any.
    public var handoff: HandoffNote?
}

/// A hand-off as told to the client (`handoff` frame / API field).
public struct HandoffNote: Sendable, Hashable, Codable {
    public var state: String
    public var priority: String
    public var reason: String
}

/// The part of a chat that survives a disconnect or a server restart, sealed in
/// ``RelayStateStore``: no message text and no raw identifiers. The redaction tail (raw digits
/// of a possibly split number) is **dropped**, and the rate-limit bucket starts full again.
public struct PersistedChat: Sendable, Codable {
    public var session: String
    public var channel: String
    public var language: String
    public var answered: [String: AnsweredMessage]
    /// The bot's dialogue state (pending questions, the order being discussed, verified contact
    /// tokens, the redacted lines it keeps for an agent's summary).
    public var bot: BotSession

    public init(session: String, channel: String, language: String, answered: [String: AnsweredMessage] = [:], bot: BotSession = BotSession()) {
        self.session = session
        self.channel = channel
        self.language = language
        self.answered = answered
        self.bot = bot
    }
}

/// One chat over one WebSocket (or one HTTP-API session): the pipeline from a client frame to
/// stored, answered messages.
///
/// inbound text → size/UTF-8 checks (frame layer + ``ClientFrame/parse(_:maxCharacters:)``) →
/// redaction with the session's tail → (identifiers the redactor found link the session to its
/// data subject) → sealed store (redacted customer message) → echo to the client → bot →
/// sealed store → client. The raw text exists only in the frame and in
/// ``handle(_:send:now:)`` up to the redaction call; nothing logs it.
public struct ChatSession: Sendable {
    public let tenant: TenantRuntime
    let store: any TranscriptStore
    let resumes: ResumeRegistry
    let metrics: RelayMetrics
    let limits: RelayLimits
    var logger: Logger
    /// `web` (WebSocket) or `api` (HTTP API): the session's channel in the store and in metrics.
    public let channel: String

    public private(set) var sessionID: String?
    public private(set) var language = "zh"
    private var redaction: RedactionSession
    private(set) var bot = BotSession()
    /// Client ids already stored and answered in this session (resends are not processed twice).
    private(set) var answered: [String: AnsweredMessage] = [:]
    /// How many answered ids a session remembers (the most recent ones).
    static let maxAnswered = 1_000
    private var bucket: TokenBucket
    public private(set) var finished = false
    /// The token the client can resume this chat with (from the last `welcome`).
    private var resumeToken: String?
    /// The human hand-off desk; without one a hand-off stays "queued" and the bot keeps answering.
    let agents: AgentHub?
    /// This connection's sender, for frames the agents' side causes (replies, typing, queue places).
    public var outbound: CustomerSender?

    public init(tenant: TenantRuntime, store: any TranscriptStore, resumes: ResumeRegistry, metrics: RelayMetrics,
                limits: RelayLimits, logger: Logger, channel: String = "web", agents: AgentHub? = nil) {
        self.agents = agents
        self.tenant = tenant
        self.store = store
        self.resumes = resumes
        self.metrics = metrics
        self.limits = limits
        self.logger = logger
        self.channel = channel
        self.redaction = RedactionSession(redactor: tenant.redactor)
        self.bucket = TokenBucket(capacity: limits.messageBurst, ratePerSecond: limits.messagesPerSecond)
    }

    /// A chat continued from its persisted state (after a restart, or an HTTP-API session's next
    /// request). The redaction tail starts empty: it is never persisted.
    init(restoring saved: PersistedChat, tenant: TenantRuntime, store: any TranscriptStore, resumes: ResumeRegistry,
         metrics: RelayMetrics, limits: RelayLimits, logger: Logger, agents: AgentHub? = nil) {
        self.init(tenant: tenant, store: store, resumes: resumes, metrics: metrics, limits: limits, logger: logger, channel: saved.channel,
                  agents: agents)
        sessionID = saved.session
        language = saved.language
        answered = saved.answered
        bot = saved.bot
        self.logger[metadataKey: "session"] = "\(saved.session)"
    }

    /// An HTTP-API chat attached to an existing session whose state expired (or a new one).
    init(apiSession id: String, tenant: TenantRuntime, store: any TranscriptStore, resumes: ResumeRegistry,
         metrics: RelayMetrics, limits: RelayLimits, logger: Logger, agents: AgentHub? = nil) {
        self.init(tenant: tenant, store: store, resumes: resumes, metrics: metrics, limits: limits, logger: logger, channel: "api",
                  agents: agents)
        sessionID = id
        self.logger[metadataKey: "session"] = "\(id)"
    }

    /// The language of notices before the bot has heard the customer (HTTP API `language`).
    mutating func prefer(language requested: String) {
        language = requested.lowercased().hasPrefix("en") ? "en" : "zh"
    }

    /// The state to persist, or nil before `hello`.
    public var persisted: PersistedChat? {
        sessionID.map { PersistedChat(session: $0, channel: channel, language: language, answered: answered, bot: bot) }
    }

    /// Handles one text frame, sending any answer through `send`. Protocol errors are answered
    /// with an `error` frame and the chat goes on; after `bye`, ``finished`` is true.
    public mutating func handle(_ text: String, send: (ServerFrame) async throws -> Void, now: Date = Date()) async throws {
        let frame: ClientFrame
        do {
            frame = try ClientFrame.parse(text, maxCharacters: limits.maxMessageCharacters)
        } catch {
            metrics.protocolErrors.increment()
            logger.info("chat.frame_refused", metadata: ["code": "\(error.code)"])
            try await send(.error(code: error.code, message: error.description))
            return
        }
        switch frame {
        case .hello(let language, let resume, let lastID):
            guard sessionID == nil else { return try await send(Self.error(.duplicateHello)) }
            if let resume {
                let restore = { [tenant, store, resumes, metrics, limits, logger] (saved: PersistedChat) in
                    ChatSession(restoring: saved, tenant: tenant, store: store, resumes: resumes, metrics: metrics, limits: limits, logger: logger)
                }
                if let saved = await resumes.take(token: resume, tenant: tenant.id, restore: restore),
                   try await resumeChat(saved, lastID: lastID, send: send) {
                    return
                }
                logger.info("chat.resume_failed")
                try await send(.error(code: "resume_failed", message: "the chat could not be resumed (expired or unknown); a new chat starts"))
            }
            try await hello(language: language, send: send, now: now)
        case .message(let body, let clientID):
            guard sessionID != nil else { return try await send(Self.error(.helloRequired)) }
            try await message(body, clientID: clientID, send: send, now: now)
        case .typing, .read:
            guard let session = sessionID else { return try await send(Self.error(.helloRequired)) }
            if case .typing = frame, let agents, agents.isWithHuman(tenant: tenant.id, session: session) {
                await agents.customerTyping(tenant: tenant.id, session: session)
            }
        case .feedback(let feedback):
            guard let session = sessionID else { return try await send(Self.error(.helloRequired)) }
            do {
                _ = try await store.append([PendingMessage(tenant: tenant.id, session: session, role: .system, text: feedback.record, sentAt: now)])
            } catch {
                logger.error("chat.store_failed", metadata: ["step": "feedback", "error": "\(type(of: error))"])
                return try await send(.error(code: "store_unavailable", message: "your feedback was not saved; please try again"))
            }
            metrics.feedback(feedback)
            logger.info("chat.feedback")
            try await send(.feedbackReceived)
        case .bye:
            finished = true
            if let agents, let session = sessionID { await agents.customerLeft(tenant: tenant.id, session: session) }
        }
    }

    /// Continues a suspended chat: its redaction tail (when it was suspended in this process),
    /// bot state and answered ids come back; the client gets a new token and every stored
    /// message after `lastID` (all without it), decrypted (the store holds redacted text only).
    /// Returns false when the session no longer exists (erased or removed by retention).
    private mutating func resumeChat(_ saved: ChatSession, lastID: UInt64?, send: (ServerFrame) async throws -> Void) async throws -> Bool {
        guard let id = saved.sessionID else { return false }
        let missed: [TranscriptMessage]
        do {
            missed = try await store.transcript(tenant: tenant.id, session: id).filter { message in lastID.map { message.sequence > $0 } ?? true }
        } catch TranscriptStoreError.unknownSession {
            logger.info("chat.resume_session_gone")
            _ = try? await resumes.state?.deleteChats(tenant: tenant.id, session: id)
            return false
        } catch {
            logger.error("chat.store_failed", metadata: ["step": "resume", "error": "\(type(of: error))"])
            await resumes.suspend(saved, token: resumes.newToken())  // unreachable by the client; expires
            try await send(.error(code: "store_unavailable", message: "the chat cannot be resumed right now; please try again"))
            return true
        }
        sessionID = id
        language = saved.language
        redaction = saved.redaction
        bot = saved.bot
        answered = saved.answered
        bucket = saved.bucket
        agents?.attach(tenant: tenant.id, session: id, customer: outbound)
        logger[metadataKey: "session"] = "\(id)"
        logger.info("chat.resumed", metadata: ["missed": "\(missed.count)"])
        let token = resumes.newToken()
        resumeToken = token
        try await send(.welcome(session: id, tenant: tenant.id, language: language, resumeToken: token, resumed: true))
        for message in missed {
            try await send(.message(role: message.role.name, text: message.text, id: message.sequence, time: message.sentAt, clientID: nil))
        }
        // Still with the human desk (also after a server restart): say where the chat stands.
        if let status = agents?.status(tenant: tenant.id, session: id) {
            try await send(.handoff(state: status.state, priority: status.priority, reason: status.reason))
            if let position = status.position, let wait = status.expectedWait {
                try await send(.queue(position: position, expectedWaitSeconds: wait))
            }
        }
        return true
    }

    /// Called when the connection ends: keeps the chat resumable unless the client said `bye`
    /// (in memory, and sealed in the relay's state database so a restart does not lose it).
    public func suspend() async {
        guard !finished, sessionID != nil, let resumeToken else { return }
        await resumes.suspend(self, token: resumeToken)
    }

    static func error(_ error: ChatProtocolError) -> ServerFrame { .error(code: error.code, message: error.description) }

    private mutating func hello(language requested: String?, send: (ServerFrame) async throws -> Void, now: Date) async throws {
        language = requested?.lowercased().hasPrefix("en") == true ? "en" : "zh"
        let id = Sodium.randomBytes(16).map { String(format: "%02x", $0) }.joined()
        do {
            try await store.openSession(tenant: tenant.id, session: id, channel: channel, identifiers: [], at: now)
        } catch {
            logger.error("chat.store_failed", metadata: ["step": "open_session", "error": "\(type(of: error))"])
            return try await send(.error(code: "store_unavailable", message: "the chat cannot be started right now; please try again"))
        }
        sessionID = id
        logger[metadataKey: "session"] = "\(id)"
        logger.info("chat.started", metadata: ["language": "\(language)"])
        let token = resumes.newToken()
        resumeToken = token
        try await send(.welcome(session: id, tenant: tenant.id, language: language, resumeToken: token, resumed: false))
        let greeting = language == "en"
            ? "Hello! I'm the shop's support assistant. How can I help? You can send me your order number to check an order."
            : "您好！我是本店的智能客服，请问有什么可以帮您？发送订单号即可查询订单。"
        _ = try await storeAndSend(role: .bot, text: greeting, clientID: nil, send: send, now: now)
    }

    /// One customer message through the pipeline (WebSocket `message` frames and `POST /v1/messages`).
    mutating func message(_ body: String, clientID: String, send: (ServerFrame) async throws -> Void, now: Date) async throws {
        guard let session = sessionID else { return }
        if answered[clientID] != nil {
            logger.info("chat.duplicate")
            return try await send(.duplicate(clientID: clientID))
        }
        guard bucket.take(now: now) else {
            logger.notice("chat.rate_limited")
            return try await send(.error(code: "rate_limited", message: "too many messages; please wait a moment"))
        }
        let clock = ContinuousClock()
        let received = clock.now
        // Redaction first: from here on only `redacted` exists for the rest of the pipeline.
        let redacted = redaction.redact(body)
        var types: [String] = []
        for finding in redacted.findings {
            metrics.redaction(finding.type)
            if !types.contains(finding.type.rawValue) { types.append(finding.type.rawValue) }
        }
        // The subject's identifiers, taken from the raw text at the findings' spans, exist only
        // for the blind-index step below (the store keeps keyed hashes of them, never the values).
        let identifiers = Self.subjectIdentifiers(in: body, findings: redacted.findings)
            + Self.orderIdentifiers(in: redacted.text, bot: tenant.bot)

        let stored: AppendResult
        do {
            let start = clock.now
            if !identifiers.isEmpty {
                // Linked before the message is stored: a message that names a subject is never
                // stored without the link an erasure of that subject needs to find it.
                // `openSession` would create the session anew if an erasure removed it meanwhile.
                _ = try await store.session(tenant: tenant.id, session: session)
                try await store.openSession(tenant: tenant.id, session: session, channel: channel, identifiers: identifiers, at: now)
            }
            stored = try await store.append([PendingMessage(tenant: tenant.id, session: session, role: .customer,
                                                            text: redacted.text, sentAt: now)])
            metrics.storeWriteLatency.record(clock.now - start)
        } catch TranscriptStoreError.unknownSession {
            return try await sessionGone(send: send)
        } catch {
            logger.error("chat.store_failed", metadata: ["step": "customer_message", "error": "\(type(of: error))"])
            return try await send(.error(code: "store_unavailable", message: "your message was not saved; please send it again"))
        }
        let customerSequence = stored.stored.first?.sequence ?? 0
        answered[clientID] = AnsweredMessage(customer: customerSequence, reply: nil, types: types, handoff: nil)
        if answered.count > Self.maxAnswered {
            // Long-lived (HTTP API) sessions: only the most recent ids are remembered.
            let oldest = answered.min { $0.value.customer < $1.value.customer }
            if let oldest { answered[oldest.key] = nil }
        }
        metrics.message(direction: "in", role: "customer", channel: channel)
        logger.info("chat.message", metadata: ["direction": "in", "redactions": "\(redacted.findings.count)",
                                               "types": "\(types.joined(separator: ","))", "linked": "\(identifiers.count)"])
        try await send(.message(role: "customer", text: redacted.text, id: customerSequence, time: now, clientID: clientID))
        if !types.isEmpty {
            let notice = RedactionNotice.text(for: types.compactMap(SecretType.init(rawValue:)), language: language)
            try await send(.redacted(clientID: clientID, types: types, notice: notice))
        }

        // Queued or with an agent: the message is for the agents, not the bot.
        if let agents, agents.isWithHuman(tenant: tenant.id, session: session) {
            await agents.customerMessage(tenant: tenant.id, session: session, id: stored.stored.first?.sequence ?? 0,
                                         text: redacted.text, time: now)
            return
        }
        // Back from an agent (returned or closed): the bot takes over again.
        if agents != nil, bot.handoff != nil { bot.resumeAfterHandoff() }
        let reply = await tenant.bot.respond(to: redacted.text, in: &bot, now: now)
        metrics.intent(reply.analysis.intent)
        language = reply.language.rawValue
        // The bot only saw redacted text; its reply goes through the redactor once more so the
        // transcript and the client never get anything a bug upstream might have let through.
        let replyText = tenant.redactor.redact(reply.text).text
        let replySequence = try await storeAndSend(role: .bot, text: replyText, clientID: nil, send: send, now: Date())
        answered[clientID]?.reply = replySequence
        metrics.replyLatency.record(clock.now - received)
        if let handoff = reply.handoff {
            metrics.handoff(reason: handoff.reason.rawValue)
            logger.info("chat.handoff", metadata: ["reason": "\(handoff.reason.rawValue)", "priority": "\(handoff.priority)"])
            answered[clientID]?.handoff = HandoffNote(state: "queued", priority: handoff.priority.description, reason: handoff.reason.rawValue)
            try await send(.handoff(state: "queued", priority: handoff.priority.description, reason: handoff.reason.rawValue))
            if let agents { try await joinQueue(agents, handoff: handoff, send: send) }
        }
    }

    /// E-mail addresses and phone numbers the redactor found. The original text at the finding's
    /// span is tried first (it keeps a leading `+`; full-width forms are folded with NFKC); a
    /// value written in an obfuscated form (Chinese numerals, zero-width characters, odd
    /// separators) or split over two messages is linked by the redactor's normalised value.
    static func subjectIdentifiers(in original: String, findings: [Finding]) -> [SubjectIdentifier] {
        guard findings.contains(where: { $0.type == .email || $0.type == .phone }) else { return [] }
        let scalars = Array(original.unicodeScalars)
        var identifiers: [SubjectIdentifier] = []
        func add(_ identifier: SubjectIdentifier) -> Bool {
            guard identifier.normalised != nil else { return false }
            if !identifiers.contains(where: { $0.normalised == identifier.normalised && $0.kind == identifier.kind }) {
                identifiers.append(identifier)
            }
            return true
        }
        func make(_ type: SecretType, _ value: String) -> SubjectIdentifier {
            type == .email ? .email(value) : .phone(value)
        }
        for finding in findings where finding.type == .email || finding.type == .phone {
            if !finding.continuesPreviousMessage, finding.start >= 0, finding.start < finding.end, finding.end <= scalars.count {
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[finding.start..<finding.end])
                if add(make(finding.type, String(view).precomposedStringWithCompatibilityMapping)) { continue }
            }
            guard let value = finding.normalizedValue?.text else { continue }
            if add(make(finding.type, value)) { continue }
            // Digits of an international number written with `+` (the `+` is not part of the value).
            // (A split number keeps the `+` of its first half in the redactor's tail.)
            if finding.type == .phone, finding.rule == "e164" || finding.rule == "split-number" { _ = add(.phone("+" + value)) }
        }
        return identifiers
    }

    /// Order numbers in the (redacted) text — the redactor leaves them in clear — recognised
    /// with the tenant's order-number format.
    static func orderIdentifiers(in redacted: String, bot: SupportBot) -> [SubjectIdentifier] {
        bot.model.normalizer.normalize(redacted).orderNumbers.compactMap { number in
            let identifier = SubjectIdentifier.orderNumber(number)
            return identifier.normalised == nil ? nil : identifier
        }
    }

    /// The chat's session left the store while the chat was open (a `kamirelay erase` of its
    /// subject, or retention): nothing more is stored for it and the chat ends, not resumable, so
    /// the client starts a new one instead of resending into a chat that no longer exists.
    mutating func sessionGone(send: (ServerFrame) async throws -> Void) async throws {
        finished = true
        logger.notice("chat.session_gone")
        try await send(Self.chatClosed)
    }

    /// What a chat whose session left the store gets (the widget starts a new chat).
    static let chatClosed = ServerFrame.error(code: "chat_closed", message: "this chat has ended and its data was removed; please start a new chat")

    /// The session was erased while the chat was open (noticed by ``ErasureWatchService``):
    /// the chat is over and is not kept resumable.
    mutating func endErased() {
        finished = true
    }

    /// Stores a message and sends it; returns its sequence number (nil when the store refused it).
    mutating func storeAndSend(role: SenderRole, text: String, clientID: String?, send: (ServerFrame) async throws -> Void,
                      now: Date) async throws -> UInt64? {
        guard let session = sessionID else { return nil }
        let stored: AppendResult
        do {
            let clock = ContinuousClock(), start = clock.now
            stored = try await store.append([PendingMessage(tenant: tenant.id, session: session, role: role, text: text, sentAt: now)])
            metrics.storeWriteLatency.record(clock.now - start)
        } catch TranscriptStoreError.unknownSession {
            try await sessionGone(send: send)
            return nil
        } catch {
            logger.error("chat.store_failed", metadata: ["step": "\(role.name)_message", "error": "\(type(of: error))"])
            try await send(.error(code: "store_unavailable", message: "the reply could not be saved; please ask again in a moment"))
            return nil
        }
        metrics.message(direction: "out", role: role.name, channel: channel)
        logger.info("chat.message", metadata: ["direction": "out", "role": "\(role.name)"])
        let sequence = stored.stored.first?.sequence ?? 0
        try await send(.message(role: role.name, text: text, id: sequence, time: now, clientID: clientID))
        return sequence
    }
}
