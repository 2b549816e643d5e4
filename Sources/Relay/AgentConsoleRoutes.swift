import AgentDesk
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import Sealing
import TLS

/// The agent console over HTTPS: the page (`/agent`), the JSON API (`/agent/api/…`) and the
/// real-time WebSocket (`/agent/ws`).
///
/// Every request resolves its tenant from `Host` (and SNI on the WebSocket); a login session is
/// valid only for the tenant it was opened on. State-changing requests need the session
/// cookie, the CSRF token in `X-CSRF-Token` (compared in constant time) and an `Origin` equal to
/// the relay's own; the WebSocket upgrade needs the cookie, the same `Origin` and the CSRF token
/// in its `csrf` query parameter.
enum AgentConsoleRoutes {
    static let socketPath = "/agent/ws"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    static let bodyLimit = 16_384

    static func addRoutes(to router: Router<RelayRequestContext>, hub: AgentHub) {
        WidgetAssets.addStatic([
            ("/agent", "agent.html", "text/html; charset=utf-8"),
            ("/agent/console.js", "console.js", "text/javascript; charset=utf-8"),
            ("/agent/console.css", "console.css", "text/css; charset=utf-8"),
        ], from: "AgentConsole", to: router)

        router.post("/agent/api/login") { request, _ -> Response in
            guard let tenant = tenant(request, hub) else { return status(.misdirectedRequest, "unknown_host") }
            guard sameOrigin(request) else { return status(.forbidden, "bad_origin") }
            let object: [String: Any]
            switch await jsonObject(request) {
            case .refused(let refusal): return refusal
            case .object(let read): object = read
            }
            guard let username = object["username"] as? String, let password = object["password"] as? String else {
                return refusal(.badRequest, "invalid_request", "send {\"username\": …, \"password\": …}")
            }
            var secret = Array(password.utf8)
            defer { secret.withUnsafeMutableBytes { Sodium.zero($0) } }
            let account = try? hub.authenticator.store.account(tenant: tenant, username: username.lowercased())
            do {
                let grant = try hub.authenticator.login(tenant: tenant, username: username, password: secret)
                await hub.recordLogin(tenant: tenant, account: grant.principal.account, outcome: "success")
                var response = json(.ok, ["agent": grant.principal.account.username, "role": grant.principal.role.rawValue,
                                          "tenant": tenant, "csrf": grant.csrfToken])
                response.headers[.setCookie] = hub.authenticator.setCookie(grant)
                return response
            } catch let error as LoginFailure {
                await hub.recordLogin(tenant: tenant, account: account, outcome: error.code)
                return json(error == .invalidCredentials ? .unauthorized : (error.code == "locked_out" ? .tooManyRequests : .serviceUnavailable),
                            ["error": error.code, "message": error.description])
            } catch {
                return status(.serviceUnavailable, "unavailable")
            }
        }

        router.post("/agent/api/logout") { request, _ -> Response in
            switch authorise(request, hub, stateChanging: true) {
            case .failure(let refusal): return refusal.response
            case .success(let (principal, token)):
                hub.authenticator.logout(tenant: principal.tenant, token: token)
                await hub.recordLogout(principal)
                var response = json(.ok, ["ok": true])
                response.headers[.setCookie] = AgentAuthenticator.clearCookie
                return response
            }
        }

        router.get("/agent/api/me") { request, _ -> Response in
            switch authorise(request, hub, stateChanging: false) {
            case .failure(let refusal): return refusal.response
            case .success(let (principal, token)):
                return json(.ok, ["agent": principal.account.username, "role": principal.role.rawValue, "tenant": principal.tenant,
                                  "csrf": hub.authenticator.csrfToken(tenant: principal.tenant, sessionToken: token) ?? ""])
            }
        }

        router.get("/agent/api/queue") { request, _ -> Response in
            switch authorise(request, hub, stateChanging: false) {
            case .failure(let refusal): return refusal.response
            case .success(let (principal, _)): return json(.ok, hub.queueSnapshot(principal))
            }
        }

        router.get("/agent/api/sessions/:id") { request, context -> Response in
            switch authorise(request, hub, stateChanging: false) {
            case .failure(let refusal): return refusal.response
            case .success(let (principal, _)):
                return await perform { try await hub.history(principal, session: context.parameters.get("id") ?? "") }
            }
        }

        router.post("/agent/api/sessions/:id/take") { request, context -> Response in
            switch authorise(request, hub, stateChanging: true) {
            case .failure(let refusal): return refusal.response
            case .success(let (principal, _)):
                return await perform { try await hub.take(principal, session: context.parameters.get("id") ?? "") }
            }
        }

        router.post("/agent/api/sessions/:id/reply") { request, context -> Response in
            switch authorise(request, hub, stateChanging: true) {
            case .failure(let refusal): return refusal.response
            case .success(let (principal, _)):
                let object: [String: Any]
                switch await jsonObject(request) {
                case .refused(let refusal): return refusal
                case .object(let read): object = read
                }
                guard let text = object["text"] as? String else {
                    return refusal(.badRequest, "invalid_request", "send {\"text\": …}")
                }
                return await perform {
                    try await hub.reply(principal, session: context.parameters.get("id") ?? "", text: text)
                    return ["ok": true]
                }
            }
        }

        // A plain GET of the socket path (no upgrade, or the upgrade was refused).
        router.get(RouterPath(socketPath)) { _, _ in status(.unauthorized, "login_required") }
    }

    /// Runs an agent action and maps desk errors to HTTP statuses.
    static func perform(_ action: () async throws -> [String: Any]) async -> Response {
        do { return json(.ok, try await action()) } catch let error as AgentDeskError {
            let code: HTTPResponse.Status
            switch error {
            case .notFound: code = .notFound
            case .notYours: code = .forbidden
            case .invalid: code = .badRequest
            case .auditUnavailable, .storeUnavailable: code = .serviceUnavailable
            }
            return json(code, ["error": error.code, "message": error.description])
        } catch {
            return status(.internalServerError, "internal")
        }
    }

    /// The agent behind the request's cookie on this host's tenant; for state-changing requests
    /// also the same-origin and CSRF checks.
    static func authorise(_ request: Request, _ hub: AgentHub, stateChanging: Bool) -> Result<(AgentPrincipal, String), Refusal> {
        guard let tenant = tenant(request, hub) else { return .failure(Refusal(status(.misdirectedRequest, "unknown_host"))) }
        guard let token = AgentAuthenticator.token(fromCookieHeader: request.headers[.cookie]),
              let principal = hub.authenticator.authenticate(tenant: tenant, token: token) else {
            return .failure(Refusal(status(.unauthorized, "login_required")))
        }
        if stateChanging {
            guard sameOrigin(request) else { return .failure(Refusal(status(.forbidden, "bad_origin"))) }
            guard hub.authenticator.verifyCSRF(tenant: tenant, sessionToken: token, presented: request.headers[csrfHeader]) else {
                return .failure(Refusal(status(.forbidden, "csrf_failed")))
            }
        }
        return .success((principal, token))
    }

    struct Refusal: Error { let response: Response; init(_ r: Response) { response = r } }

    static func tenant(_ request: Request, _ hub: AgentHub) -> String? {
        hub.tenants.resolve(hostHeader: request.head.authority, sniTenant: nil)?.id
    }

    /// `Origin` must be exactly this relay (`https://` + the `Host` the request was sent to).
    static func sameOrigin(origin: String?, authority: String?) -> Bool {
        guard let origin, let authority, !authority.isEmpty else { return false }
        return origin.lowercased() == "https://" + authority.lowercased()
    }

    static func sameOrigin(_ request: Request) -> Bool {
        sameOrigin(origin: request.headers[.origin], authority: request.head.authority)
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        var response = Response(status: status, body: .init(byteBuffer: ByteBuffer(string: AgentHub.json(object))))
        response.headers[.contentType] = "application/json; charset=utf-8"
        return response
    }

    static func status(_ status: HTTPResponse.Status, _ code: String) -> Response { json(status, ["error": code]) }

    /// A refusal with a fixed, English reason (never any of the request's content).
    static func refusal(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        json(status, ["error": code, "message": message])
    }

    enum BodyRead {
        case object([String: Any])
        case refused(Response)
    }

    /// A request's JSON object body, or the refusal that says what is wrong with it: too large
    /// (413), not UTF-8, not a JSON object (400).
    static func jsonObject(_ request: Request) async -> BodyRead {
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: bodyLimit) } catch {
            return .refused(refusal(.contentTooLarge, "payload_too_large", "the request body is larger than \(bodyLimit) bytes"))
        }
        guard RelayHTTPAPI.isValidUTF8(body.readableBytesView) else {
            return .refused(refusal(.badRequest, "invalid_utf8", "the request body is not valid UTF-8"))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] else {
            return .refused(refusal(.badRequest, "invalid_json", "the request body is not a JSON object"))
        }
        return .object(object)
    }

    // MARK: WebSocket

    /// Decides the `/agent/ws` upgrade: tenant from Host and SNI, same origin, a valid session
    /// cookie of that tenant and its CSRF token in the `csrf` query parameter.
    /// A refusal is answered by `guardHandler` (the relay's response guard) with its status.
    static func shouldUpgrade(request: HTTPRequest, channel: any Channel, hub: AgentHub, guardHandler: ResponseGuard?, logger: Logger)
        -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let sniTenant = channel.tlsConnectionInfo()?.tenant
        guard let tenant = hub.tenants.resolve(hostHeader: request.authority, sniTenant: sniTenant)?.id else {
            logger.notice("agents.socket_refused", metadata: ["reason": "unknown_host"])
            guardHandler?.refusal = .misdirectedRequest
            return .dontUpgrade
        }
        guard sameOrigin(origin: request.headerFields[.origin], authority: request.authority) else {
            logger.notice("agents.socket_refused", metadata: ["reason": "bad_origin"])
            guardHandler?.refusal = .forbidden
            return .dontUpgrade
        }
        guard let token = AgentAuthenticator.token(fromCookieHeader: request.headerFields[.cookie]),
              let principal = hub.authenticator.authenticate(tenant: tenant, token: token),
              hub.authenticator.verifyCSRF(tenant: tenant, sessionToken: token, presented: queryValue("csrf", in: request.path)) else {
            logger.notice("agents.socket_refused", metadata: ["reason": "login_required"])
            guardHandler?.refusal = .unauthorized
            return .dontUpgrade
        }
        if let guardHandler { channel.pipeline.syncOperations.removeHandler(guardHandler, promise: nil) }
        return .upgrade(RelayServer.securityHeaders) { inbound, outbound, _ in
            let send: AgentSender = { text in try? await outbound.write(.text(text)) }
            let id = await hub.connect(principal, token: token, send: send, close: { try? await outbound.close(.policyViolation, reason: nil) })
            do {
                for try await message in inbound.messages(maxSize: bodyLimit) {
                    // Logout, expiry or a disabled account end the socket too.
                    guard hub.authenticator.authenticate(tenant: tenant, token: token) != nil else {
                        await send(AgentHub.json(["type": "error", "code": "session_expired", "message": "please log in again"]))
                        try? await outbound.close(.policyViolation, reason: nil)
                        break
                    }
                    if case .text(let text) = message { await hub.handle(connection: id, frame: text) }
                }
            } catch {
                logger.info("agents.socket_closed_with_error", metadata: ["error": "\(type(of: error))"])
            }
            await hub.disconnect(id)
        }
    }

    static func queryValue(_ name: String, in path: String?) -> String? {
        guard let path, let query = path.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == name { return String(parts[1]).removingPercentEncoding }
        }
        return nil
    }
}
