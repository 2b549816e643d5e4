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

/// One HTTPS listen address: a host (an IP address or a name) and a TCP port.
public struct RelayListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    /// 0 picks a free port (tests).
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `HOST:PORT`, with an IPv6 address in brackets (`[::1]:8443`).
    public init?(parsing text: String) {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
            guard host.contains(":") else { return nil }  // brackets are for IPv6 only
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            guard !host.contains(":") else { return nil }  // an IPv6 address needs brackets
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "[" || $0 == "]" || $0 == "/" }),
              port.allSatisfy(\.isASCII), let number = Int(port), (0...65_535).contains(number) else { return nil }
        self.init(host: String(host), port: number)
    }

    /// `HOST:PORT`, an IPv6 address in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// 0.0.0.0 or :: (every address; on Linux `::` also takes IPv4 unless IPV6_V6ONLY is set).
    public var isWildcard: Bool { host == "0.0.0.0" || host == "::" }

    /// Whether binding both on one port would collide: the same host, or a wildcard that takes
    /// the other's address family (`::` takes both). Host names other than literals only
    /// collide with themselves.
    func overlaps(_ other: RelayListenAddress) -> Bool {
        if host.lowercased() == other.host.lowercased() { return true }
        func covers(_ wildcard: RelayListenAddress, _ address: RelayListenAddress) -> Bool {
            guard wildcard.isWildcard else { return false }
            if wildcard.host == "::" { return true }
            return !address.host.contains(":")  // 0.0.0.0 takes IPv4 addresses (and names resolving to them)
        }
        return covers(self, other) || covers(other, self)
    }
}

/// A listen address that could not be bound (in use, not an address of this machine, …).
public struct RelayListenError: Error, CustomStringConvertible {
    public let address: String
    public let reason: String
    public var description: String { "cannot listen on \(address): \(reason)" }
}

/// Where and how the relay listens.
public struct RelayServerConfiguration: Sendable {
    /// The HTTPS listen addresses (at least one); all serve the same relay.
    public var addresses: [RelayListenAddress]
    /// The first address's host; setting it leaves a single address (what `serve --host` does).
    public var host: String {
        get { addresses.first?.host ?? "127.0.0.1" }
        set { addresses = [RelayListenAddress(host: newValue, port: port)] }
    }
    /// The first address's port; setting it leaves a single address (what `serve --port` does).
    public var port: Int {
        get { addresses.first?.port ?? 8443 }
        set { addresses = [RelayListenAddress(host: host, port: newValue)] }
    }
    public var tls: TLSServerConfiguration
    public var limits: RelayLimits
    /// A plain-HTTP listener on this port (on each listen host) that only redirects to HTTPS
    /// (308); nil: none. 0 picks a free port (tests).
    public var httpPort: Int?
    /// The HTTPS port browsers use, for redirects and default WebSocket origins, when it is not
    /// the listening port (behind a port mapping). nil: the first bound HTTPS port.
    public var publicPort: Int?
    /// How often the relay checks that the sessions of its open chats and hand-offs still exist,
    /// so an erasure done by another process (`kamirelay erase`) ends them promptly
    /// (``ErasureWatcher``). One indexed query per tenant with live chats; at least 0.1 s.
    public var erasureCheckInterval: Duration = .seconds(2)

    public init(host: String = "127.0.0.1", port: Int = 8443, tls: TLSServerConfiguration, limits: RelayLimits = RelayLimits(),
                httpPort: Int? = nil) {
        self.addresses = [RelayListenAddress(host: host, port: port)]
        self.tls = tls
        self.limits = limits
        self.httpPort = httpPort
    }
}

/// The relay: HTTPS (our OpenSSL TLS handler) + HTTP/1.1 + WebSocket chat at `/chat`, the HTTP
/// JSON API under `/v1`, the widget, `GET /metrics`, `GET /healthz` and `GET /readyz`; optionally
/// a plain-HTTP listener that only redirects to HTTPS. Tenant from `Host` (and SNI); an unknown
/// host is refused before any chat happens.
public final class RelayServer: Sendable {
    public let configuration: RelayServerConfiguration
    public let tenants: TenantDirectory
    public let store: SQLiteTranscriptStore
    public let registry: SessionRegistry
    public let resumes: ResumeRegistry
    public let metrics = RelayMetrics()
    /// Sealed chat state and API keys (`relay.sqlite`); nil: resume in memory only, no HTTP API.
    public let state: RelayStateStore?
    /// The human hand-off desk and agent console (nil: no console; hand-offs stay "queued").
    public let agents: AgentHub?
    let tlsProvider: TLSServerContextProvider
    let logger: Logger
    let ports: NIOLockedValueBox<BoundPorts>
    /// Ends open chats and hand-offs whose session was erased (run by the service group).
    public let erasures: ErasureWatcher

    /// What is bound so far: per configured HTTPS address its bound port, and the first
    /// plain-HTTP (redirect) port.
    struct BoundPorts: Sendable {
        var https: [Int?]
        var http: Int?
        var allHTTPSBound: Bool { !https.contains(nil) }
    }

    /// The first address's bound HTTPS port once listening.
    public var httpsPort: Int? { ports.withLockedValue { $0.https.first ?? nil } }
    /// The bound plain-HTTP (redirect) port once listening (the first, with several hosts).
    public var httpPort: Int? { ports.withLockedValue { $0.http } }
    /// The HTTPS addresses with their bound ports, in configuration order; complete when
    /// `onListening` runs.
    public var listeningAddresses: [RelayListenAddress] {
        ports.withLockedValue { bound in
            zip(configuration.addresses, bound.https).compactMap { address, port in port.map { RelayListenAddress(host: address.host, port: $0) } }
        }
    }

    /// Paths the relay serves over WebSocket.
    public static let chatPath = "/chat"

    public init(configuration: RelayServerConfiguration, tenants: TenantDirectory, store: SQLiteTranscriptStore,
                state: RelayStateStore? = nil, logger: Logger = Logger(label: "kamirelay.relay"), agents: AgentHub? = nil) throws {
        self.agents = agents
        self.configuration = configuration
        self.tenants = tenants
        self.store = store
        self.state = state
        self.logger = logger
        self.registry = SessionRegistry(maxSessions: configuration.limits.maxSessions,
                                        maxPerAddress: configuration.limits.maxSessionsPerIP)
        self.resumes = ResumeRegistry(lifetime: configuration.limits.resumeLifetime, state: state, logger: logger)
        self.tlsProvider = try TLSServerContextProvider(configuration: configuration.tls, logger: logger)
        self.ports = NIOLockedValueBox(BoundPorts(https: Array(repeating: nil, count: configuration.addresses.count)))
        self.connections = ConnectionLimiter(limit: configuration.limits.maxConnectionsPerIP, metrics: metrics)
        self.erasures = ErasureWatcher(store: store, registry: registry, resumes: resumes, agents: agents, state: state, logger: logger)
    }

    /// Open connections per client address, over every listen address.
    let connections: ConnectionLimiter

    /// The TLS contexts; `reload()` re-reads the certificate files (SIGHUP does it in `serve`).
    public var tls: TLSServerContextProvider { tlsProvider }

    /// A service group running the server (one HTTPS listener per configured address, all
    /// serving the same relay) and, in front of its shutdown, the chat drain.
    /// - Parameters:
    ///   - signals: signals that start a graceful shutdown (`serve` passes SIGTERM and SIGINT).
    ///   - extraServices: run beside the server (e.g. the retention scheduler); they shut down first.
    ///   - onListening: called with the first address's bound port once every HTTPS address
    ///     accepts connections (``listeningAddresses`` has them all).
    public func makeServiceGroup(signals: [UnixSignal], extraServices: [any Service] = [],
                                 onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> ServiceGroup {
        let drain = RelayDrainService(registry: registry, store: store, timeout: configuration.limits.drainTimeout, logger: logger)
        var services = zip(configuration.addresses, makeApplications(onListening: onListening)).map { address, app in
            ServiceGroupConfiguration.ServiceConfiguration(service: Listener(address: address, scheme: "https", app: app))
        }
        if let httpPort = configuration.httpPort {
            // One redirect listener per listen host (two ports on one host share it); a host a
            // wildcard already covers gets none (both would bind the same port and collide).
            var hosts: [String] = []
            for address in configuration.addresses where !hosts.contains(address.host) { hosts.append(address.host) }
            func covers(_ wildcard: String, _ host: String) -> Bool {
                wildcard != host && (wildcard == "::" || (wildcard == "0.0.0.0" && !host.contains(":")))
            }
            hosts = hosts.filter { host in !hosts.contains { covers($0, host) } }
            services += hosts.map { host in
                .init(service: Listener(address: RelayListenAddress(host: host, port: httpPort), scheme: "http",
                                        app: makeRedirectApplication(host: host, port: httpPort)))
            }
        }
        if let agents { services.append(.init(service: AgentServiceLevelService(hub: agents))) }
        services.append(.init(service: ErasureWatchService(watcher: erasures,
                                                           interval: max(.milliseconds(100), configuration.erasureCheckInterval))))
        // Graceful shutdown runs in reverse order: the drain first (chats get 1001, the store
        // is flushed), then the HTTP servers stop.
        services.append(.init(service: drain, successTerminationBehavior: .gracefullyShutdownGroup))
        return ServiceGroup(configuration: .init(
            services: services + extraServices.map { .init(service: $0) },
            gracefulShutdownSignals: signals,
            logger: logger))
    }

    /// One application per listen address, sharing one responder (router, tenants, limits,
    /// metrics) and one connection limiter (a client's connections count over all addresses).
    func makeApplications(onListening: @escaping @Sendable (Int) async -> Void) -> [any Service] {
        // Every GET route also answers HEAD: the same status and headers (Content-Length
        // included), no body — Hummingbird runs the GET handler, so auth and limits apply alike.
        let router = Router(context: RelayRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.middlewares.add(SecurityHeadersMiddleware())
        router.middlewares.add(TenantHostMiddleware(tenants: tenants))
        router.get("healthz") { _, _ in "ok\n" }
        RelayHTTPAPI(tenants: tenants, store: store, state: state, resumes: resumes, metrics: metrics,
                     limits: configuration.limits, logger: logger, agents: agents).addRoutes(to: router)
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
        let ports = self.ports
        let publicPort = configuration.publicPort
        let connections = self.connections
        let wsConfiguration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: .seconds(60)),
            ws: .init(maxFrameSize: limits.maxFrameBytes, autoPing: .enabled(timePeriod: .seconds(30)),
                      closeTimeout: .seconds(5), validateUTF8: true))
        let server = HTTPServerBuilder { responder in
            RelayTLSChannel(
                HTTP1WebSocketUpgradeChannel(responder: responder, configuration: wsConfiguration) { request, channel, _ in
                    // Runs on the channel's event loop, after the TLS handshake. A refusal is
                    // answered by the response guard with its status and the security headers.
                    let guardHandler = try? channel.pipeline.syncOperations.handler(type: ResponseGuard.self)
                    if let agents, request.method == .get,
                       request.path?.split(separator: "?").first.map(String.init) == AgentConsoleRoutes.socketPath {
                        return AgentConsoleRoutes.shouldUpgrade(request: request, channel: channel, hub: agents, guardHandler: guardHandler,
                                                                logger: logger)
                    }
                    guard request.method == .get, request.path?.split(separator: "?").first.map(String.init) == Self.chatPath else {
                        return .dontUpgrade
                    }
                    let sniTenant = channel.tlsConnectionInfo()?.tenant
                    guard let tenant = tenants.resolve(hostHeader: request.authority, sniTenant: sniTenant) else {
                        logger.notice("relay.unknown_host")
                        guardHandler?.refusal = .misdirectedRequest
                        return .dontUpgrade
                    }
                    // Browsers always send Origin on a WebSocket upgrade: one from a site the
                    // tenant did not allow is refused (cross-site WebSocket hijacking). Clients
                    // that are not browsers send none.
                    if let origin = request.headerFields[.origin] {
                        // The page's own origin names the port this connection came in on.
                        let port = publicPort ?? channel.localAddress?.port ?? 443
                        guard tenant.allows(origin: origin, httpsPort: port) else {
                            metrics.originRefusals.increment()
                            logger.notice("relay.origin_refused", metadata: ["tenant": "\(tenant.id)"])
                            guardHandler?.refusal = .forbidden
                            return .dontUpgrade
                        }
                    }
                    if let guardHandler { channel.pipeline.syncOperations.removeHandler(guardHandler, promise: nil) }
                    let address = channel.remoteAddress?.clientAddress
                    return .upgrade(Self.securityHeaders) { inbound, outbound, _ in
                        await Self.runChat(address: address, tenant: tenant, store: store, registry: registry, resumes: resumes, metrics: metrics, limits: limits,
                                           logger: logger, channel: channel, inbound: inbound, outbound: outbound, agents: agents)
                    }
                },
                provider: provider, connections: connections)
        }
        let responder = router.buildResponder()
        return configuration.addresses.enumerated().map { index, address -> any Service in
            Application(
                responder: responder,
                server: server,
                configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? 0
                    // The last address to come up reports the server listening.
                    let (allBound, first) = ports.withLockedValue { bound -> (Bool, Int) in
                        bound.https[index] = port
                        return (bound.allHTTPSBound, bound.https.first.flatMap { $0 } ?? port)
                    }
                    if allBound { await onListening(first) }
                },
                logger: logger)
        }
    }

    /// Runs one listener's application; a failure (an address that cannot be bound) names the
    /// address.
    struct Listener: Service {
        let address: RelayListenAddress
        let scheme: String
        let app: any Service

        func run() async throws {
            do { try await app.run() } catch let error as IOError {
                throw RelayListenError(address: "\(scheme)://\(address)", reason: String(cString: strerror(error.errnoCode)))
            } catch is SocketAddressError.UnknownHost {
                throw RelayListenError(address: "\(scheme)://\(address)", reason: "the host name does not resolve to an address")
            }
        }
    }

    static let securityHeaders: HTTPFields = {
        var headers = HTTPFields()
        SecurityHeaders.apply(to: &headers)
        return headers
    }()

    /// The plain-HTTP listener: every request is answered with 308 to the same path on
    /// `https://HOST[:PORT]`, where HOST is one of the tenants' host names (taken from `Host`
    /// only after it resolved to a tenant — never an arbitrary host, so no open redirect);
    /// unknown hosts get 421. Nothing else is served over plain HTTP.
    func makeRedirectApplication(host: String, port: Int) -> some ApplicationProtocol {
        let ports = self.ports
        let publicPort = configuration.publicPort
        let responder = HTTPSRedirectResponder(tenants: tenants) {
            publicPort ?? ports.withLockedValue { $0.https.first ?? nil } ?? 443
        }
        return Application(
            responder: responder,
            server: .http1(configuration: .init(idleTimeout: .seconds(30))),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in ports.withLockedValue { $0.http = $0.http ?? channel.localAddress?.port } },
            logger: logger)
    }

    /// One chat, from the upgrade to the close.
    static func runChat(address: String?, tenant: TenantRuntime, store: any TranscriptStore, registry: SessionRegistry, resumes: ResumeRegistry,
                        metrics: RelayMetrics, limits: RelayLimits,
                        logger: Logger, channel: any Channel, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
                        agents: AgentHub? = nil) async {
        // processing: a message is being handled; closeRequested: the drain (or the idle
        // timer) asked us to close; lastActivity: the last client frame.
        let flags = NIOLockedValueBox(ChatFlags())
        let goingAway: @Sendable () -> Void = {
            Task { try? await outbound.close(.goingAway, reason: "server shutting down") }
        }
        // Erased while open: an idle chat is ended here; one handling a message ends after it.
        let erasedWhileIdle: @Sendable () -> Void = {
            Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try? await outbound.write(.text(ChatSession.chatClosed.json()))
                        try? await outbound.close(.normalClosure, reason: "chat erased")
                    }
                    group.addTask {
                        try await Task.sleep(for: limits.writeTimeout)
                        channel.close(promise: nil)  // a reader that does not read is cut off
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
        }
        let registration: UInt64
        do {
            registration = try registry.register(.init(requestClose: {
                let closeNow = flags.withLockedValue { flags -> Bool in
                    flags.closeRequested = true
                    return !flags.processing
                }
                if closeNow { goingAway() }
            }, address: address, endErased: {
                let closeNow = flags.withLockedValue { flags -> Bool in
                    defer { flags.closeRequested = true; flags.erased = true }
                    return !flags.processing && !flags.erased
                }
                if closeNow { erasedWhileIdle() }
            }))
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

        var chatLogger = logger
        chatLogger[metadataKey: "tenant"] = "\(tenant.id)"
        var session = ChatSession(tenant: tenant, store: store, resumes: resumes, metrics: metrics, limits: limits, logger: chatLogger,
                                  agents: agents)
        await chatLoop(session: &session, flags: flags, metrics: metrics, limits: limits, logger: logger, channel: channel,
                       inbound: inbound, outbound: outbound) { tenantID, sessionID in
            registry.identify(registration, tenant: tenantID, session: sessionID)
        }
        if flags.withLockedValue({ $0.erased }) { session.endErased() }  // not resumable
        if let id = session.sessionID { logger.info("chat.ended", metadata: ["session": "\(id)"]) }
        // Resumable (in memory and sealed on disk) before the drain may count this chat closed.
        await session.suspend()
        metrics.chatsOpen.decrement()
        registry.unregister(registration)
    }

    struct ChatFlags: Sendable {
        var processing = false
        var closeRequested = false
        /// The chat's session was erased: it ends with `chat_closed` and is not resumable.
        var erased = false
        var lastActivity = ContinuousClock.now
    }

    struct WriteTimeout: Error {}

    private static func chatLoop(session: inout ChatSession, flags: NIOLockedValueBox<ChatFlags>, metrics: RelayMetrics, limits: RelayLimits,
                                 logger: Logger, channel: any Channel, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
                                 identify: (String, String) -> Void) async {
        // A client that went away mid-message does not stop the pipeline: the answer is still
        // stored, and a resume delivers it. Write failures end the chat after the message.
        // A client that does not read (its TCP window stays full) holds a write at most
        // `writeTimeout`; then the connection is closed, so frames never queue without bound.
        let clientGone = NIOLockedValueBox(false)
        let writeTimeout = limits.writeTimeout
        let send: @Sendable (ServerFrame) async throws -> Void = { frame in
            guard !clientGone.withLockedValue({ $0 }) else { return }
            let text = frame.json()
            // Set before the close, and what the catch goes by: the stuck write then fails with a
            // channel error, which can reach the group before the timer's own `WriteTimeout`.
            let timedOut = NIOLockedValueBox(false)
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await outbound.write(.text(text)) }
                    group.addTask {
                        try await Task.sleep(for: writeTimeout)
                        timedOut.withLockedValue { $0 = true }
                        // Fails the stuck write, which ends the group.
                        channel.close(promise: nil)
                        throw WriteTimeout()
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch {
                let first = clientGone.withLockedValue { gone -> Bool in defer { gone = true }; return !gone }
                if first, timedOut.withLockedValue({ $0 }) {
                    metrics.slowReaders.increment()
                    logger.notice("chat.slow_reader_closed")
                }
            }
        }
        session.outbound = send  // agents' replies reach this connection
        // The idle timer: no client frame for `idleTimeout` (and nothing being handled) →
        // `idle_timeout`, then close 1000. The chat stays resumable.
        let idleTimeout = limits.idleTimeout
        let idleWatch = Task {
            while !Task.isCancelled {
                let (deadline, fire) = flags.withLockedValue { flags -> (ContinuousClock.Instant, Bool) in
                    let deadline = flags.lastActivity + idleTimeout
                    guard !flags.processing, !flags.closeRequested, ContinuousClock.now >= deadline else {
                        return (flags.processing ? ContinuousClock.now + .seconds(1) : deadline, false)
                    }
                    flags.closeRequested = true
                    return (deadline, true)
                }
                if fire {
                    metrics.idleTimeouts.increment()
                    logger.info("chat.idle_timeout")
                    try? await send(.error(code: "idle_timeout", message: "the chat was idle for too long; send a message to continue it"))
                    try? await outbound.close(.normalClosure, reason: "idle")
                    return
                }
                try? await Task.sleep(until: deadline, clock: .continuous)
            }
        }
        defer { idleWatch.cancel() }
        do {
            var messages = inbound.messages(maxSize: limits.maxFrameBytes).makeAsyncIterator()
            while let message = try await messages.next() {
                // A message that arrives after the drain asked us to close is not handled (and
                // so not acknowledged): the client sends it again after reconnecting.
                let proceed = flags.withLockedValue { flags -> Bool in
                    if flags.closeRequested { return false }
                    flags.processing = true
                    flags.lastActivity = .now
                    return true
                }
                guard proceed else { break }
                switch message {
                case .text(let text):
                    try await session.handle(text, send: send)
                    if let id = session.sessionID { identify(session.tenant.id, id) }
                case .binary:
                    try await send(.error(code: "binary_not_supported", message: "send JSON in text frames"))
                }
                let (closeNow, erased) = flags.withLockedValue { flags -> (Bool, Bool) in
                    flags.processing = false
                    flags.lastActivity = .now
                    return (flags.closeRequested, flags.erased)
                }
                if erased {
                    // Erased while this message was handled (which may have said so already).
                    if !session.finished { try? await send(ChatSession.chatClosed) }
                    session.endErased()
                    try? await outbound.close(.normalClosure, reason: "chat erased")
                    break
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
        }
        // After a close the WebSocket layer waits (bounded) for the client's close reply.
    }

    static func closeCode(for error: any Error) -> WebSocketErrorCode {
        let text = String(describing: error)
        if text.contains("messageTooLarge") { return .messageTooLarge }
        if text.contains("dataInconsistentWithMessage") { return .dataInconsistentWithMessage }
        return .protocolError
    }
}

/// The headers every response carries (router responses, refused upgrades, redirects).
enum SecurityHeaders {
    static let all: [(name: String, value: String)] = [
        ("Strict-Transport-Security", "max-age=31536000"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
    ]
    /// For responses that set no policy of their own (everything but the widget page).
    static let contentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"

    static func apply(to headers: inout HTTPFields) {
        for (name, value) in all { headers[.init(name)!] = value }
        if headers[.contentSecurityPolicy] == nil { headers[.contentSecurityPolicy] = contentSecurityPolicy }
    }
}

/// Security headers on every HTTP response.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do { response = try await next(request, context) } catch let error as HTTPError {
            response = Response(status: error.status)
        }
        SecurityHeaders.apply(to: &response.headers)
        return response
    }
}

/// Refuses requests whose `Host` names no tenant — or, when the TLS handshake chose a tenant
/// by SNI, another tenant than that — with 421 Misdirected Request.
struct TenantHostMiddleware: RouterMiddleware {
    typealias Context = RelayRequestContext
    let tenants: TenantDirectory
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let channel = context.channel
        let sniTenant = try? await channel.eventLoop.submit { channel.tlsConnectionInfo()?.tenant }.get()
        guard tenants.resolve(hostHeader: request.head.authority, sniTenant: sniTenant ?? nil) != nil else {
            return Response(status: .misdirectedRequest, body: .init(byteBuffer: ByteBuffer(string: "unknown host\n")))
        }
        return try await next(request, context)
    }
}

/// Request context that remembers the connection and whether the client connected from a
/// loopback address.
struct RelayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let isLoopback: Bool
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        switch source.channel.remoteAddress {
        case .v4(let address)?: isLoopback = address.host.hasPrefix("127.")
        case .v6(let address)?: isLoopback = address.host == "::1" || address.host.hasPrefix("::ffff:127.")
        default: isLoopback = false
        }
    }
}

/// Answers every plain-HTTP request with a redirect to HTTPS (or 421 for unknown hosts).
struct HTTPSRedirectResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let tenants: TenantDirectory
    let httpsPort: @Sendable () -> Int

    func respond(to request: Request, context: Context) async throws -> Response {
        var response: Response
        if let header = request.head.authority, tenants.resolve(hostHeader: header, sniTenant: nil) != nil,
           let host = TenantDirectory.hostName(header) {
            let port = httpsPort()
            let shownHost = host.contains(":") ? "[\(host)]" : host
            var path = request.uri.path.hasPrefix("/") ? request.uri.path : "/" + request.uri.path
            if let query = request.uri.query { path += "?" + query }
            response = Response(status: .permanentRedirect)
            response.headers[.location] = "https://" + shownHost + (port == 443 ? "" : ":\(port)") + path
        } else {
            response = Response(status: .misdirectedRequest, body: .init(byteBuffer: ByteBuffer(string: "unknown host\n")))
        }
        SecurityHeaders.apply(to: &response.headers)
        return response
    }
}
