import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import TLS

/// Puts our OpenSSL ``TLSServerHandler`` in front of another Hummingbird child channel (HTTP/1.1
/// with WebSocket upgrade), the way HummingbirdTLS's `TLSChannel` does with swift-nio-ssl.
/// Each connection gets a handler from the provider's current context, so a certificate reload
/// applies to new connections.
public struct RelayTLSChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    public typealias Value = BaseChannel.Value

    let baseChannel: BaseChannel
    let provider: TLSServerContextProvider
    let connections: ConnectionLimiter?

    /// - Parameter connections: caps open connections per client IP address (nil: no cap).
    public init(_ baseChannel: BaseChannel, provider: TLSServerContextProvider, connections: ConnectionLimiter? = nil) {
        self.baseChannel = baseChannel
        self.provider = provider
        self.connections = connections
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admission: ConnectionLimiter.Admission
        if let connections, let address = channel.remoteAddress?.clientAddress {
            admission = connections.open(address)
            if admission != .refused { channel.closeFuture.whenComplete { _ in connections.close(address) } }
        } else {
            admission = .accepted
        }
        if admission == .refused {
            // Past the hard ceiling: closed before the TLS handshake, so a flood costs no crypto.
            logger.notice("relay.connection_refused", metadata: ["reason": "too_many_connections_from_address", "answer": "closed_before_tls"])
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionLimiter.Refused())
        }
        let overCap = admission == .overCap
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(provider.makeHandler())
            try channel.pipeline.syncOperations.addHandler(QuietCloseBeforeHandshake(logger: logger))
        }.flatMap {
            self.baseChannel.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(ResponseGuard())
            if overCap, let connections {
                // Over the cap: after the handshake the first request, whatever it is (a page,
                // the API, a WebSocket upgrade), gets 429 and the connection closes. Sits right
                // behind the HTTP decoder, so nothing reaches the upgrade check or the router.
                let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
                try channel.pipeline.syncOperations.addHandler(
                    TooManyConnectionsResponder(metrics: connections.metrics, logger: logger), position: .after(decoder))
            }
            return value
        }
    }

    public func handle(value: BaseChannel.Value, logger: Logger) async {
        await baseChannel.handle(value: value, logger: logger)
    }
}

/// A connection that closes before its TLS handshake completes (a load balancer's TCP health
/// check, a port scan, a browser's unused preconnect) is nothing to report: it ends the way a
/// connection closed before its first request does, instead of as an error-level
/// "Error handling upgrade result" line for each one.
/// A failed handshake (an old TLS version, no shared cipher, garbage) is logged once at info
/// level with OpenSSL's reasons, not as an error.
final class QuietCloseBeforeHandshake: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error as? TLSError {
        case .eofDuringHandshake?:
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        case .handshakeFailed(let reasons)?:
            logger.info("tls.handshake_failed", metadata: ["reasons": "\(reasons.joined(separator: "; "))"])
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        default:
            context.fireErrorCaught(error)
        }
    }
}

/// Open connections per client IP address (TLS, before any HTTP), over every listen address.
/// Up to `limit` connections from one address are served; the ones past it, up to the hard
/// ceiling of 2 × `limit`, complete the TLS handshake and get HTTP 429 (so a browser shows why);
/// past the ceiling a connection is closed before the handshake, so a flood cannot spend the
/// server's CPU on crypto.
public final class ConnectionLimiter: Sendable {
    struct Refused: Error {}

    /// What happens to a new connection.
    enum Admission: Equatable {
        /// Served.
        case accepted
        /// Over the cap: answered 429 after the handshake, then closed.
        case overCap
        /// Over the hard ceiling: closed before the handshake.
        case refused
    }

    let limit: Int
    /// Open connections (served and being refused with 429) past which new ones are closed
    /// before TLS.
    let ceiling: Int
    let metrics: RelayMetrics?
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    public init(limit: Int, metrics: RelayMetrics? = nil) {
        self.limit = limit
        self.ceiling = limit.multipliedReportingOverflow(by: 2).overflow ? Int.max : limit * 2
        self.metrics = metrics
    }

    /// Counts a new connection from `address` unless it is past the ceiling.
    func open(_ address: String) -> Admission {
        let admission = counts.withLockedValue { counts -> Admission in
            let open = counts[address, default: 0]
            guard open < ceiling else { return .refused }
            counts[address] = open + 1
            return open < limit ? .accepted : .overCap
        }
        if admission == .refused { metrics?.connectionsRefused.increment() } else { metrics?.connectionsOpen.increment() }
        return admission
    }

    func close(_ address: String) {
        counts.withLockedValue { counts in
            let left = counts[address, default: 1] - 1
            counts[address] = left > 0 ? left : nil
        }
        metrics?.connectionsOpen.decrement()
    }

    /// Open connections from `address` right now.
    public func count(_ address: String) -> Int { counts.withLockedValue { $0[address, default: 0] } }
}

/// On a connection over the per-address cap: answers the first request with 429 Too Many
/// Requests (`Retry-After`, a short Chinese/English text, the security headers,
/// `Connection: close`) and closes the connection. Everything the client sends is dropped;
/// a connection that sends no complete request is closed after `timeout`. Lives on the
/// channel's event loop.
final class TooManyConnectionsResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let retryAfterSeconds = 10
    static let body = "同一地址的连接过多，请关闭其他页面或稍后再试。\nToo many connections from your address: close other tabs or try again shortly.\n"
    static let timeout = TimeAmount.seconds(10)

    let metrics: RelayMetrics?
    let logger: Logger
    private var answered = false
    /// A HEAD request gets the head only (Content-Length still says what GET would get).
    private var isHead = false
    private var timer: Scheduled<Void>?

    init(metrics: RelayMetrics?, logger: Logger) {
        self.metrics = metrics
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.timeout) { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Gone before a complete request: the same quiet end for the upgrade handler.
        if !answered { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part { isHead = head.method == .HEAD }
        // Answer once the request has been read (so the client is not reset mid-send).
        guard case .end = part, !answered else { return }
        answered = true
        metrics?.connectionsOverCap.increment()
        logger.notice("relay.connection_refused", metadata: ["reason": "too_many_connections_from_address", "answer": "429"])
        var head = HTTPResponseHead(version: .http1_1, status: .tooManyRequests)
        let body = context.channel.allocator.buffer(string: Self.body)
        head.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        head.headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        head.headers.add(name: "Retry-After", value: "\(Self.retryAfterSeconds)")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in SecurityHeaders.all { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Content-Security-Policy", value: SecurityHeaders.contentSecurityPolicy)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !isHead { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            // The WebSocket upgrade handler behind us still waits for a request: telling it the
            // input ended makes it give up quietly (and close) instead of reporting an error.
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            context.close(promise: nil)
        }
    }
}

extension RelayTLSChannel: HTTPChannelHandler where BaseChannel: HTTPChannelHandler {
    public var responder: HTTPChannelHandler.Responder { baseChannel.responder }
}

extension Channel {
    /// The TLS facts of this connection (tenant from SNI, protocol) once the handshake is done.
    /// Must be called on the channel's event loop.
    func tlsConnectionInfo() -> TLSConnectionInfo? {
        eventLoop.preconditionInEventLoop()
        return try? pipeline.syncOperations.handler(type: TLSServerHandler.self).connectionInfo
    }
}

/// The last word on every HTTP/1.1 response head of a connection, below Hummingbird: adds the
/// security headers where a response lacks them (Hummingbird's own answers to a refused
/// WebSocket upgrade or a malformed request carry none) and, when the upgrade check refused a
/// request (`refusal`), replaces the generic 400 with its status (403 foreign Origin, 421
/// unknown host). Removed from the pipeline when a WebSocket upgrade is accepted. Lives on the
/// channel's event loop.
final class ResponseGuard: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Set by the upgrade check (on the event loop) for the next response.
    var refusal: HTTPResponseStatus?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .head(var head) = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        if let refusal {
            head.status = refusal
            self.refusal = nil
        }
        for (name, value) in SecurityHeaders.all where !head.headers.contains(name: name) {
            head.headers.add(name: name, value: value)
        }
        if !head.headers.contains(name: "Content-Security-Policy") {
            head.headers.add(name: "Content-Security-Policy", value: SecurityHeaders.contentSecurityPolicy)
        }
        context.write(wrapOutboundOut(.head(head)), promise: promise)
    }
}

extension SocketAddress {
    /// The client's IP address as the per-address limits count it: an IPv4 client reaching a
    /// dual-stack `[::]` listener (`::ffff:a.b.c.d`) is the same client as on an IPv4 listener.
    var clientAddress: String? {
        guard let ip = ipAddress else { return nil }
        let mapped = "::ffff:"
        if ip.lowercased().hasPrefix(mapped), ip.dropFirst(mapped.count).contains(".") { return String(ip.dropFirst(mapped.count)) }
        return ip
    }
}
