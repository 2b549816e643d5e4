import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import UnixSignals
import TLS
import TranscriptStore

/// Where and how the relay listens.
public struct RelayServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (tests); the bound port is reported through `onListening`.
    public var port: Int
    public var tls: TLSServerConfiguration
    public var limits: RelayLimits

    public init(host: String = "127.0.0.1", port: Int = 8443, tls: TLSServerConfiguration, limits: RelayLimits = RelayLimits()) {
        self.host = host
        self.port = port
        self.tls = tls
        self.limits = limits
    }
}

/// The relay: HTTPS (our OpenSSL TLS handler) + HTTP/1.1 + WebSocket chat at `/chat`,
/// `GET /healthz` and `GET /readyz`. Tenant from `Host` (and SNI); an unknown host is refused
/// before any chat happens.
public final class RelayServer: Sendable {
    public let configuration: RelayServerConfiguration
    public let tenants: TenantDirectory
    public let store: SQLiteTranscriptStore
    public let registry: SessionRegistry
    public let resumes: ResumeRegistry
    public let metrics = RelayMetrics()
    /// The human hand-off desk and agent console (nil: no console; hand-offs stay "queued").
    public let agents: AgentHub?
    let tlsProvider: TLSServerContextProvider
    let logger: Logger

    /// Paths the relay serves over WebSocket.
    public static let chatPath = "/chat"

    public init(configuration: RelayServerConfiguration, tenants: TenantDirectory, store: SQLiteTranscriptStore,
                logger: Logger = Logger(label: "kamirelay.relay"), agents: AgentHub? = nil) throws {
        self.agents = agents
        self.configuration = configuration
        self.tenants = tenants
        self.store = store
        self.logger = logger
        self.registry = SessionRegistry(maxSessions: configuration.limits.maxSessions,
                                        maxPerAddress: configuration.limits.maxSessionsPerIP)
        self.resumes = ResumeRegistry(lifetime: configuration.limits.resumeLifetime)
        self.tlsProvider = try TLSServerContextProvider(configuration: configuration.tls, logger: logger)
    }

    /// The TLS contexts; `reload()` re-reads the certificate files (SIGHUP does it in `serve`).
    public var tls: TLSServerContextProvider { tlsProvider }

    /// A service group running the server and, in front of its shutdown, the chat drain.
    /// - Parameters:
    ///   - signals: signals that start a graceful shutdown (`serve` passes SIGTERM and SIGINT).
    ///   - onListening: called with the bound port once the server accepts connections.
    public func makeServiceGroup(signals: [UnixSignal], onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> ServiceGroup {
        let app = makeApplication(onListening: onListening)
        let drain = RelayDrainService(registry: registry, store: store, timeout: configuration.limits.drainTimeout, logger: logger)
        // Graceful shutdown runs in reverse order: the drain first (chats get 1001, the store
        // is flushed), then the HTTP server stops.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app)]
        if let agents { services.append(.init(service: AgentServiceLevelService(hub: agents))) }
        services.append(.init(service: drain, successTerminationBehavior: .gracefullyShutdownGroup))
        return ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: signals,
            logger: logger))
    }

    func makeApplication(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router(context: RelayRequestContext.self)
        router.middlewares.add(SecurityHeadersMiddleware())
        router.middlewares.add(TenantHostMiddleware(tenants: tenants))
        router.get("healthz") { _, _ in "ok\n" }
        WidgetAssets.addRoutes(to: router)
        if let agents { AgentConsoleRoutes.addRoutes(to: router, hub: agents) }
        let metrics = self.metrics
        router.get("metrics") { _, context -> Response in
            // Operational data, not for the public: loopback clients only.
            guard context.isLoopback else { return Response(status: .forbidden) }
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
            response.headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        }
        let registry = self.registry
        router.get("readyz") { _, _ -> Response in
            // Ready while the store answers and we are not draining.
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            if registry.isDraining { response = Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "draining\n"))) }
            return response
        }

        let limits = configuration.limits
        let tenants = self.tenants
        let store = self.store
        let resumes = self.resumes
        let logger = self.logger
        let provider = tlsProvider
        let agents = self.agents
        let wsConfiguration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: .seconds(60)),
            ws: .init(maxFrameSize: limits.maxFrameBytes, autoPing: .enabled(timePeriod: .seconds(30)),
                      closeTimeout: .seconds(5), validateUTF8: true))
        let server = HTTPServerBuilder { responder in
            RelayTLSChannel(
                HTTP1WebSocketUpgradeChannel(responder: responder, configuration: wsConfiguration) { request, channel, _ in
                    // Runs on the channel's event loop, after the TLS handshake.
                    if let agents, request.method == .get,
                       request.path?.split(separator: "?").first.map(String.init) == AgentConsoleRoutes.socketPath {
                        return AgentConsoleRoutes.shouldUpgrade(request: request, channel: channel, hub: agents, logger: logger)
                    }
                    guard request.method == .get, request.path?.split(separator: "?").first.map(String.init) == Self.chatPath else {
                        return .dontUpgrade
                    }
                    let sniTenant = channel.tlsConnectionInfo()?.tenant
                    guard let tenant = tenants.resolve(hostHeader: request.authority, sniTenant: sniTenant) else {
                        logger.notice("relay.unknown_host")
                        return .dontUpgrade
                    }
                    let address = channel.remoteAddress?.ipAddress
                    return .upgrade(Self.securityHeaders) { inbound, outbound, _ in
                        await Self.runChat(address: address, tenant: tenant, store: store, registry: registry, resumes: resumes, metrics: metrics, limits: limits,
                                           logger: logger, inbound: inbound, outbound: outbound, agents: agents)
                    }
                },
                provider: provider)
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    static let securityHeaders: HTTPFields = [
        .strictTransportSecurity: "max-age=31536000",
        .xContentTypeOptions: "nosniff",
    ]

    /// One chat, from the upgrade to the close.
    static func runChat(address: String?, tenant: TenantRuntime, store: any TranscriptStore, registry: SessionRegistry, resumes: ResumeRegistry,
                        metrics: RelayMetrics, limits: RelayLimits,
                        logger: Logger, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
                        agents: AgentHub? = nil) async {
        // processing: a message is being handled; closeRequested: the drain asked us to close.
        let flags = NIOLockedValueBox((processing: false, closeRequested: false))
        let goingAway: @Sendable () -> Void = {
            Task { try? await outbound.close(.goingAway, reason: "server shutting down") }
        }
        let registration: UInt64
        do {
            registration = try registry.register(.init(requestClose: {
                let closeNow = flags.withLockedValue { flags -> Bool in
                    flags.closeRequested = true
                    return !flags.processing
                }
                if closeNow { goingAway() }
            }, address: address))
        } catch {
            metrics.refusedChats.increment()
            logger.notice("chat.refused", metadata: ["reason": "\(error)"])
            let (frame, code): (ServerFrame, WebSocketErrorCode)
            switch error {
            case .full:
                (frame, code) = (.error(code: "server_busy", message: "too many chats right now; please try again shortly"), .init(codeNumber: 1013))
            case .tooManyFromAddress:
                (frame, code) = (.error(code: "too_many_chats", message: "too many chats from your address"), .policyViolation)
            case .draining:
                (frame, code) = (.error(code: "shutting_down", message: "the server is restarting; please reconnect shortly"), .goingAway)
            }
            try? await outbound.write(.text(frame.json()))
            try? await outbound.close(code, reason: nil)
            return
        }
        metrics.connections.increment()
        metrics.chatsOpen.increment()
        defer {
            metrics.chatsOpen.decrement()
            registry.unregister(registration)
        }

        var chatLogger = logger
        chatLogger[metadataKey: "tenant"] = "\(tenant.id)"
        var session = ChatSession(tenant: tenant, store: store, resumes: resumes, metrics: metrics, limits: limits, logger: chatLogger,
                                  agents: agents)
        defer { session.suspend() }
        // A client that went away mid-message does not stop the pipeline: the answer is still
        // stored, and a resume delivers it. Write failures end the chat after the message.
        let clientGone = NIOLockedValueBox(false)
        let send: CustomerSender = { frame in
            guard !clientGone.withLockedValue({ $0 }) else { return }
            do { try await outbound.write(.text(frame.json())) } catch { clientGone.withLockedValue { $0 = true } }
        }
        session.outbound = send  // agents' replies reach this connection
        do {
            var messages = inbound.messages(maxSize: limits.maxFrameBytes).makeAsyncIterator()
            while let message = try await messages.next() {
                // A message that arrives after the drain asked us to close is not handled (and
                // so not acknowledged): the client sends it again after reconnecting.
                let proceed = flags.withLockedValue { flags -> Bool in
                    if flags.closeRequested { return false }
                    flags.processing = true
                    return true
                }
                guard proceed else { break }
                switch message {
                case .text(let text):
                    try await session.handle(text, send: send)
                case .binary:
                    try await send(.error(code: "binary_not_supported", message: "send JSON in text frames"))
                }
                let closeNow = flags.withLockedValue { flags -> Bool in
                    flags.processing = false
                    return flags.closeRequested
                }
                if closeNow {
                    try? await outbound.close(.goingAway, reason: "server shutting down")
                    break
                }
                if session.finished || clientGone.withLockedValue({ $0 }) { break }
            }
        } catch {
            // Frame-level errors (too large, invalid UTF-8) are closed by the WebSocket layer
            // with their own code; nothing here carries message content.
            logger.info("chat.closed_with_error", metadata: ["error": "\(type(of: error))"])
            try? await outbound.close(Self.closeCode(for: error), reason: nil)
            if let id = session.sessionID { logger.info("chat.ended", metadata: ["session": "\(id)"]) }
            return
        }
        // After a 1001 close the WebSocket layer waits (bounded) for the client's close reply.
        if let id = session.sessionID { logger.info("chat.ended", metadata: ["session": "\(id)"]) }
    }

    static func closeCode(for error: any Error) -> WebSocketErrorCode {
        let text = String(describing: error)
        if text.contains("messageTooLarge") { return .messageTooLarge }
        if text.contains("dataInconsistentWithMessage") { return .dataInconsistentWithMessage }
        return .protocolError
    }
}

/// Security headers on every HTTP response.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do { response = try await next(request, context) } catch let error as HTTPError {
            response = Response(status: error.status)
        }
        response.headers[.strictTransportSecurity] = "max-age=31536000"
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        response.headers[.init("X-Frame-Options")!] = "DENY"
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

/// Refuses requests whose `Host` names no tenant with 421 Misdirected Request.
struct TenantHostMiddleware<Context: RequestContext>: RouterMiddleware {
    let tenants: TenantDirectory
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard tenants.resolve(hostHeader: request.head.authority, sniTenant: nil) != nil else {
            return Response(status: .misdirectedRequest, body: .init(byteBuffer: ByteBuffer(string: "unknown host\n")))
        }
        return try await next(request, context)
    }
}

/// Request context that remembers whether the client connected from a loopback address.
struct RelayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let isLoopback: Bool

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        switch source.channel.remoteAddress {
        case .v4(let address)?: isLoopback = address.host.hasPrefix("127.")
        case .v6(let address)?: isLoopback = address.host == "::1" || address.host.hasPrefix("::ffff:127.")
        default: isLoopback = false
        }
    }
}
