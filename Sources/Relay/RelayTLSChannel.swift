import HummingbirdCore
import Logging
import NIOCore
import TLS

/// Puts our OpenSSL ``TLSServerHandler`` in front of another Hummingbird child channel (HTTP/1.1
/// with WebSocket upgrade), the way HummingbirdTLS's `TLSChannel` does with swift-nio-ssl.
/// Each connection gets a handler from the provider's current context, so a certificate reload
/// applies to new connections.
public struct RelayTLSChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    public typealias Value = BaseChannel.Value

    let baseChannel: BaseChannel
    let provider: TLSServerContextProvider

    public init(_ baseChannel: BaseChannel, provider: TLSServerContextProvider) {
        self.baseChannel = baseChannel
        self.provider = provider
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(provider.makeHandler())
        }.flatMap {
            self.baseChannel.setup(channel: channel, logger: logger)
        }
    }

    public func handle(value: BaseChannel.Value, logger: Logger) async {
        await baseChannel.handle(value: value, logger: logger)
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
