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
        if let connections, let address = channel.remoteAddress?.ipAddress {
            // Over the cap: closed before the TLS handshake, so it costs no crypto.
            guard connections.open(address) else {
                logger.notice("relay.connection_refused", metadata: ["reason": "too_many_connections_from_address"])
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(ConnectionLimiter.Refused())
            }
            channel.closeFuture.whenComplete { _ in connections.close(address) }
        }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(provider.makeHandler())
        }.flatMap {
            self.baseChannel.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(ResponseGuard())
            return value
        }
    }

    public func handle(value: BaseChannel.Value, logger: Logger) async {
        await baseChannel.handle(value: value, logger: logger)
    }
}

/// Open connections per client IP address (TLS, before any HTTP): a client cannot hold more
/// than `limit` at once, whatever it does with them (slow handshakes, idle keep-alives, chats).
public final class ConnectionLimiter: Sendable {
    struct Refused: Error {}
    let limit: Int
    let metrics: RelayMetrics?
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    public init(limit: Int, metrics: RelayMetrics? = nil) {
        self.limit = limit
        self.metrics = metrics
    }

    /// Counts a new connection from `address`; false (not counted) when it is over the limit.
    func open(_ address: String) -> Bool {
        let opened = counts.withLockedValue { counts -> Bool in
            guard counts[address, default: 0] < limit else { return false }
            counts[address, default: 0] += 1
            return true
        }
        if opened { metrics?.connectionsOpen.increment() } else { metrics?.connectionsRefused.increment() }
        return opened
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
