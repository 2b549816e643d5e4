import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Sealing
import TranscriptStore

/// The HTTP JSON API for server-to-server channels (a shop's own app, a messenger bridge):
/// `POST /v1/messages` and `GET /v1/sessions/{session}/messages`, authenticated with a tenant
/// API key (`Authorization: Bearer kr_…`, created with `kamirelay tenants api-key create`).
///
/// A message goes through the same pipeline as a WebSocket chat (``ChatSession``): redaction
/// with the session's tail, subject linking, sealed store, bot, sealed store. Described in
/// `Docs/openapi.yaml`; ``routes`` is the table the router is built from and the OpenAPI test
/// compares the description with.
public struct RelayHTTPAPI: Sendable {
    /// One documented operation: method, OpenAPI path template and every status it can answer.
    public struct Route: Sendable, Hashable {
        public var method: String
        public var path: String
        public var statuses: Set<Int>

        public init(method: String, path: String, statuses: Set<Int>) {
            self.method = method
            self.path = path
            self.statuses = statuses
        }
    }

    /// Every route of the API. 421 (unknown `Host`) comes from the tenant middleware in front.
    public static let routes: [Route] = [
        Route(method: "post", path: "/v1/messages", statuses: [200, 400, 401, 403, 404, 413, 421, 429, 503]),
        Route(method: "get", path: "/v1/sessions/{session}/messages", statuses: [200, 400, 401, 403, 404, 421, 429, 503]),
    ]

    let tenants: TenantDirectory
    let store: any TranscriptStore
    let state: RelayStateStore?
    let resumes: ResumeRegistry
    let metrics: RelayMetrics
    let limits: RelayLimits
    let logger: Logger
    /// The human hand-off desk: API chats join its queue like WebSocket chats (nil: none).
    let agents: AgentHub?
    let buckets = NIOLockedValueBox<[String: TokenBucket]>([:])
    let sessionLocks = KeyedLocks()

    init(tenants: TenantDirectory, store: any TranscriptStore, state: RelayStateStore?, resumes: ResumeRegistry,
         metrics: RelayMetrics, limits: RelayLimits, logger: Logger, agents: AgentHub? = nil) {
        self.agents = agents
        self.tenants = tenants
        self.store = store
        self.state = state
        self.resumes = resumes
        self.metrics = metrics
        self.limits = limits
        self.logger = logger
    }

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let api = self
        router.post("v1/messages") { request, context in
            await api.respond(route: Self.routes[0].path) { try await api.postMessage(request, context: context) }
        }
        router.get("v1/sessions/:session/messages") { request, context in
            await api.respond(route: Self.routes[1].path) { try await api.getMessages(request, context: context) }
        }
    }

    // MARK: Errors

    /// An API error: a status and a stable code; the message never contains request content.
    struct APIError: Error {
        let status: HTTPResponse.Status
        let code: String
        let message: String
        var retryAfter: Int?

        static let unauthorized = APIError(status: .unauthorized, code: "unauthorized",
                                           message: "send a valid API key as Authorization: Bearer kr_…")
        static let wrongTenant = APIError(status: .forbidden, code: "wrong_tenant", message: "this API key belongs to another tenant's host")
        static let unknownSession = APIError(status: .notFound, code: "unknown_session",
                                             message: "no API session with this id for this tenant")
        static let rateLimited = APIError(status: .tooManyRequests, code: "rate_limited", message: "too many requests; slow down", retryAfter: 1)
        static let tooLarge = APIError(status: .contentTooLarge, code: "payload_too_large", message: "the request body is too large")
        static let unavailable = APIError(status: .serviceUnavailable, code: "store_unavailable",
                                          message: "the transcript store is not available; try again")
        static let disabled = APIError(status: .serviceUnavailable, code: "api_unavailable",
                                       message: "the HTTP API needs the relay's state database")
        static func badRequest(_ code: String, _ message: String) -> APIError { APIError(status: .badRequest, code: code, message: message) }
    }

    func respond(route: String, _ body: () async throws -> Response) async -> Response {
        var response: Response
        do {
            response = try await body()
        } catch let error as APIError {
            response = Self.json(["error": ["code": error.code, "message": error.message]], status: error.status)
            if error.status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
            if let retry = error.retryAfter { response.headers[.retryAfter] = "\(retry)" }
        } catch {
            logger.error("api.failed", metadata: ["error": "\(type(of: error))"])
            response = Self.json(["error": ["code": "store_unavailable", "message": "the request could not be completed; try again"]],
                                 status: .serviceUnavailable)
        }
        metrics.apiRequest(route: route, status: response.status.code)
        return response
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var response = Response(status: status, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        response.headers[.contentType] = "application/json; charset=utf-8"
        return response
    }

    // MARK: Authentication

    /// The tenant of the request: from the API key, which must agree with `Host`; then the key's rate limit.
    func authenticate(_ request: Request) async throws -> (tenant: TenantRuntime, keyID: String) {
        guard let state else { throw APIError.disabled }
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError.unauthorized
        }
        let key = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        let authenticated = try await state.authenticate(key: key)
        guard let (tenantID, keyID) = authenticated else {
            logger.notice("api.key_refused")
            throw APIError.unauthorized
        }
        guard let host = tenants.resolve(hostHeader: request.head.authority, sniTenant: nil), host.id == tenantID else {
            logger.notice("api.wrong_tenant", metadata: ["key": "\(keyID)"])
            throw APIError.wrongTenant
        }
        let allowed = buckets.withLockedValue { buckets -> Bool in
            var bucket = buckets[keyID] ?? TokenBucket(capacity: limits.apiBurst, ratePerSecond: limits.apiRequestsPerSecond)
            defer { buckets[keyID] = bucket }
            return bucket.take(now: Date())
        }
        guard allowed else {
            logger.notice("api.rate_limited", metadata: ["key": "\(keyID)"])
            throw APIError.rateLimited
        }
        return (host, keyID)
    }

    // MARK: POST /v1/messages

    struct PostBody {
        var text: String
        var clientID: String
        var session: String?
        var language: String?
    }

    func parsePost(_ data: ByteBuffer) throws -> PostBody {
        // Checked on its own so a client gets the real reason, not "not JSON".
        guard Self.isValidUTF8(data.readableBytesView) else {
            throw APIError.badRequest("invalid_utf8", "the body is not valid UTF-8")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(buffer: data))) as? [String: Any] else {
            throw APIError.badRequest("invalid_json", "the body is not a JSON object")
        }
        guard let text = object["text"] as? String else { throw APIError.badRequest("missing_field", "the field \"text\" is missing or not a string") }
        guard let clientID = object["client_message_id"] as? String else {
            throw APIError.badRequest("missing_field", "the field \"client_message_id\" is missing or not a string")
        }
        if let session = object["session"], !(session is String) { throw APIError.badRequest("missing_field", "\"session\" must be a string") }
        if let language = object["language"], !(language is String) { throw APIError.badRequest("missing_field", "\"language\" must be a string") }
        let session = object["session"] as? String
        if let session, !Self.isSessionID(session) { throw APIError.unknownSession }
        do { try ClientFrame.checkMessage(text: text, clientID: clientID, maxCharacters: limits.maxMessageCharacters) } catch {
            throw APIError.badRequest(error == .invalidClientID ? "invalid_client_message_id" : error.code,
                                      error == .invalidClientID ? "client_message_id must be 1–64 characters of A–Z, a–z, 0–9, '-' or '_'"
                                                                : error.description)
        }
        return PostBody(text: text, clientID: clientID, session: session, language: object["language"] as? String)
    }

    /// Whether `bytes` are well-formed UTF-8 (overlong forms, surrogates and truncated sequences
    /// are not); nothing is decoded or kept.
    static func isValidUTF8(_ bytes: some Collection<UInt8>) -> Bool {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    static func isSessionID(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    func postMessage<Context: RequestContext>(_ request: Request, context: Context) async throws -> Response {
        let (tenant, keyID) = try await authenticate(request)
        let data: ByteBuffer
        do { data = try await request.body.collect(upTo: limits.maxFrameBytes) } catch { throw APIError.tooLarge }
        let body = try parsePost(data)
        // Without `session` a new one is opened; its id is derived from the key and the client
        // message id, so a retried first message finds the session it created (and is answered
        // from the store instead of twice).
        let sessionID: String
        if let session = body.session {
            sessionID = session
        } else {
            sessionID = Self.derivedSessionID(keyID: keyID, clientID: body.clientID, key: try await store.purposeKey(tenant: tenant.id, .apiKeys))
        }
        let lockKey = tenant.id + "/" + sessionID
        await sessionLocks.lock(lockKey)
        do {
            let response = try await post(body, session: sessionID, tenant: tenant)
            await sessionLocks.unlock(lockKey)
            return response
        } catch {
            await sessionLocks.unlock(lockKey)
            throw error
        }
    }

    static func derivedSessionID(keyID: String, clientID: String, key: GuardedKey) -> String {
        let hasher = BLAKE2bKeyedHasher(guardedKey: key.derive(.apiKeys, subkeyID: 2), outputLength: 16)
        return hasher.digest(Array("session\0\(keyID)\0\(clientID)".utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Under the session's lock: load (or open) the session, run the pipeline, persist the state.
    private func post(_ body: PostBody, session id: String, tenant: TenantRuntime) async throws -> Response {
        guard let state else { throw APIError.disabled }
        var chatLogger = logger
        chatLogger[metadataKey: "tenant"] = "\(tenant.id)"
        chatLogger[metadataKey: "channel"] = "api"
        var chat: ChatSession
        var created = false
        if let saved = try await state.loadChat(tenant: tenant.id, kind: .api, handle: id, consume: false) {
            do { _ = try await store.session(tenant: tenant.id, session: id) } catch TranscriptStoreError.unknownSession {
                // Erased or removed by retention since: its state goes too.
                try await state.deleteChats(tenant: tenant.id, session: id)
                throw APIError.unknownSession
            }
            chat = ChatSession(restoring: saved, tenant: tenant, store: store, resumes: resumes, metrics: metrics, limits: limits, logger: chatLogger,
                               agents: agents)
        } else {
            do {
                let info = try await store.session(tenant: tenant.id, session: id)
                guard info.channel == "api" else { throw APIError.unknownSession }
            } catch TranscriptStoreError.unknownSession {
                guard body.session == nil else { throw APIError.unknownSession }
                try await store.openSession(tenant: tenant.id, session: id, channel: "api", identifiers: [], at: Date())
                created = true
            }
            chat = ChatSession(apiSession: id, tenant: tenant, store: store, resumes: resumes, metrics: metrics, limits: limits, logger: chatLogger,
                               agents: agents)
            if created { chatLogger.info("chat.started", metadata: ["session": "\(id)"]) }
        }
        if let language = body.language { chat.prefer(language: language) }

        if let earlier = chat.answered[body.clientID] {
            chatLogger.info("chat.duplicate", metadata: ["session": "\(id)"])
            return try await replay(earlier, clientID: body.clientID, session: id, tenant: tenant, language: chat.language)
        }
        var frames: [ServerFrame] = []
        try await chat.message(body.text, clientID: body.clientID, send: { frames.append($0) }, now: Date())
        if chat.finished {
            // The session was erased (or removed by retention) meanwhile: none of its state is kept.
            try await state.deleteChats(tenant: tenant.id, session: id)
        } else if let persisted = chat.persisted {
            try await state.saveChat(persisted, tenant: tenant.id, kind: .api, handle: id, expires: Date().addingTimeInterval(limits.apiStateLifetime))
            // An erasure that committed while this request ran deleted the state before the save
            // above: checked after saving, so the row cannot outlive it (the eraser deletes relay
            // state only after its own commit).
            if try await store.existingSessions(tenant: tenant.id, among: [id]).isEmpty {
                try await state.deleteChats(tenant: tenant.id, session: id)
            }
        }
        var result: [String: Any] = ["session": id, "duplicate": false, "created": created]
        for frame in frames {
            switch frame {
            case .message(let role, let text, let sequence, let time, let clientID):
                var message: [String: Any] = ["id": sequence, "role": role, "text": text, "time": ServerFrame.timeFormatter.string(from: time)]
                if role == "customer" {
                    message["client_message_id"] = clientID ?? body.clientID
                    result["customer_message"] = message
                } else if role == "system" {
                    // What the relay tells the customer (queue place, expected wait), apart from the answer.
                    result["notices"] = (result["notices"] as? [[String: Any]] ?? []) + [message]
                } else if result["reply"] == nil {
                    result["reply"] = message
                }
            case .redacted(_, let types, let notice):
                result["redaction"] = ["types": types, "notice": notice]
            case .handoff(let state, let priority, let reason):
                result["handoff"] = ["state": state, "priority": priority, "reason": reason]
            case .error(let code, _) where result["customer_message"] == nil:
                switch code {
                case "rate_limited": throw APIError.rateLimited
                case "store_unavailable": throw APIError.unavailable
                case "chat_closed": throw APIError.unknownSession
                default: throw APIError.badRequest(code, "the message was refused")
                }
            default:
                break
            }
        }
        guard result["customer_message"] != nil else { throw APIError.unavailable }
        // Handed off (by this message or earlier): where the chat stands. The message went to
        // the agents, not the bot; their replies appear in GET /v1/sessions/{id}/messages.
        if let handoff = handoffNow(result["handoff"] as? [String: Any], tenant: tenant.id, session: id) { result["handoff"] = handoff }
        return Self.json(result, status: .ok)
    }

    /// A resent message: the same answer, read back from the sealed store; nothing is stored again.
    private func replay(_ earlier: AnsweredMessage, clientID: String, session: String, tenant: TenantRuntime,
                        language: String) async throws -> Response {
        let messages = try await store.transcript(tenant: tenant.id, session: session)
        func encode(_ sequence: UInt64?) -> [String: Any]? {
            guard let sequence, let message = messages.first(where: { $0.sequence == sequence }) else { return nil }
            return ["id": message.sequence, "role": message.role.name, "text": message.text,
                    "time": ServerFrame.timeFormatter.string(from: message.sentAt)]
        }
        guard var customer = encode(earlier.customer) else { throw APIError.unavailable }
        customer["client_message_id"] = clientID
        var result: [String: Any] = ["session": session, "duplicate": true, "created": false, "customer_message": customer]
        if let reply = encode(earlier.reply) { result["reply"] = reply }
        if !earlier.types.isEmpty {
            result["redaction"] = ["types": earlier.types,
                                   "notice": RedactionNotice.text(for: earlier.types.compactMap { .init(rawValue: $0) }, language: language)]
        }
        let told: [String: Any]? = earlier.handoff.map { ["state": $0.state, "priority": $0.priority, "reason": $0.reason] }
        if let handoff = handoffNow(told, tenant: tenant.id, session: session) { result["handoff"] = handoff }
        return Self.json(result, status: .ok)
    }

    /// The `handoff` field: what the message caused (`told`), updated with where the chat stands
    /// now when it is queued (place, expected wait) or with an agent; nil when the bot has it.
    func handoffNow(_ told: [String: Any]?, tenant: String, session: String) -> [String: Any]? {
        guard let status = agents?.status(tenant: tenant, session: session) else { return told }
        var handoff = told ?? ["priority": status.priority, "reason": status.reason]
        handoff["state"] = status.state
        if let position = status.position { handoff["position"] = position }
        if let wait = status.expectedWait { handoff["expected_wait_seconds"] = wait }
        return handoff
    }

    // MARK: GET /v1/sessions/{session}/messages

    func getMessages<Context: RequestContext>(_ request: Request, context: Context) async throws -> Response {
        let (tenant, _) = try await authenticate(request)
        guard let id = context.parameters.get("session"), Self.isSessionID(id) else { throw APIError.unknownSession }
        var after: UInt64?
        if let text = request.uri.queryParameters.get("after") {
            guard let value = UInt64(text) else { throw APIError.badRequest("invalid_after", "after must be a message id (a whole number ≥ 0)") }
            after = value
        }
        let info: SessionInfo
        do { info = try await store.session(tenant: tenant.id, session: id) } catch TranscriptStoreError.unknownSession {
            throw APIError.unknownSession
        }
        guard info.channel == "api" else { throw APIError.unknownSession }
        let messages = try await store.transcript(tenant: tenant.id, session: id).filter { message in after.map { message.sequence > $0 } ?? true }
        return Self.json([
            "session": id,
            "messages": messages.map { message -> [String: Any] in
                ["id": message.sequence, "role": message.role.name, "text": message.text,
                 "time": ServerFrame.timeFormatter.string(from: message.sentAt)]
            },
        ], status: .ok)
    }
}

/// One holder per key at a time (an HTTP-API session's requests are handled in order).
actor KeyedLocks {
    private var held: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    func lock(_ key: String) async {
        guard held.contains(key) else {
            held.insert(key)
            return
        }
        await withCheckedContinuation { waiters[key, default: []].append($0) }
    }

    func unlock(_ key: String) {
        if var queue = waiters[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[key] = queue.isEmpty ? nil : queue
            next.resume()  // ownership passes to the next waiter
        } else {
            held.remove(key)
        }
    }
}
