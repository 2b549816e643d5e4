import NIOCore

/// Events the TLS handler sends up the pipeline (`userInboundEventTriggered`).
public enum TLSEvent: Sendable, Hashable {
    /// The handshake finished; tells the layers above the tenant (from SNI), the protocol and ALPN.
    /// Sent before any application data is read.
    case handshakeCompleted(TLSConnectionInfo)
}

/// Server-side TLS for one channel, over the system OpenSSL through memory BIOs.
///
/// Put it first in a child channel's pipeline:
/// ```swift
/// try channel.pipeline.syncOperations.addHandler(TLSServerHandler(context: provider.current))
/// ```
/// Inbound it turns ciphertext into plaintext `ByteBuffer`s; outbound it encrypts. Writes made
/// before the handshake completes are held and sent after it. The handler:
/// - closes connections whose handshake does not finish within the configured timeout;
/// - raises `TLSError.uncleanShutdown` (then `channelInactive`) when the peer drops TCP without
///   close_notify, and `TLSError.eofDuringHandshake` / `.handshakeFailed` on handshake problems;
/// - on `close()`, sends close_notify and waits (bounded) for the peer's;
/// - when the channel has `allowRemoteHalfClosure`, turns the peer's close_notify into
///   `ChannelEvent.inputClosed` and keeps the output open; otherwise answers it and closes;
/// - stops reading and encrypting while the channel is not writable.
///
/// Lifecycle: idle → handshaking → active → closing → closed.
public final class TLSServerHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State { case idle, handshaking, active, closing, closed }

    private struct PendingWrite {
        var data: ByteBuffer
        var promise: EventLoopPromise<Void>?
    }

    private var state: State = .idle
    private let connection: OpenSSLServerConnection
    private var pendingWrites = CircularBuffer<PendingWrite>()
    /// How many of `pendingWrites` (from the front) have been flushed by the layer above.
    private var flushedWrites = 0
    private var handshakeTimeout: Scheduled<Void>?
    private var shutdownTimeout: Scheduled<Void>?
    private var shutdownTimerArmed = false
    private var closeNotifySent: EventLoopFuture<Void>?
    private var closePromise: EventLoopPromise<Void>?
    private var receivedCloseNotify = false
    private var sentCloseNotify = false
    private var readHeldForWritability = false
    private var encrypting = false
    private var encryptAgain = false
    private var allowRemoteHalfClosure = false

    /// Set once the handshake completed (also sent as `TLSEvent.handshakeCompleted`).
    public private(set) var connectionInfo: TLSConnectionInfo?

    /// A handler that handshakes with `context`'s certificates and settings.
    public init(context: TLSServerContext) throws {
        connection = try OpenSSLServerConnection(context: context)
    }

    private var configuration: TLSServerConfiguration { connection.serverContext.configuration }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        allowRemoteHalfClosure = (try? context.channel.syncOptions?.getOption(.allowRemoteHalfClosure)) ?? false
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        failPendingWrites(ChannelError.ioOnClosedChannel)
        state = .closed
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshake(context: context)
        context.fireChannelActive()
    }

    private func startHandshake(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .handshaking
        let seconds = configuration.handshakeTimeoutSeconds
        handshakeTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(seconds)) { [self] in
            guard state == .handshaking else { return }
            fail(context: context, error: TLSError.handshakeTimedOut)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .idle, .handshaking:
            state = .closed
            context.fireErrorCaught(TLSError.eofDuringHandshake)
        case .active:
            state = .closed
            if !receivedCloseNotify { context.fireErrorCaught(TLSError.uncleanShutdown) }
        case .closing, .closed:
            state = .closed
        }
        cancelTimers()
        failPendingWrites(ChannelError.ioOnClosedChannel)
        if let promise = closePromise {
            closePromise = nil
            promise.succeed(())
        }
        context.fireChannelInactive()
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard state != .closed else { return }
        connection.feed(buffer)
        switch state {
        case .idle:
            startHandshake(context: context)
            advanceHandshake(context: context)
        case .handshaking:
            advanceHandshake(context: context)
        case .active, .closing:
            readApplicationData(context: context)
        case .closed:
            break
        }
        writeOutput(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        writeOutput(context: context)
        connection.releaseIdleBuffers()
        context.fireChannelReadComplete()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // TCP FIN from the peer while the channel allows half-closure.
        if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed {
            switch state {
            case .idle, .handshaking:
                fail(context: context, error: TLSError.eofDuringHandshake)
            case .active:
                if receivedCloseNotify { return }  // already reported as inputClosed
                fail(context: context, error: TLSError.uncleanShutdown)
            case .closing:
                closeNow(context: context)
            case .closed:
                break
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        switch connection.handshake() {
        case .wantRead:
            return
        case .failed(let reasons):
            let error: TLSError = connection.rejectedServerName
                ? .handshakeFailed(reasons: ["unrecognized server name"]) : .handshakeFailed(reasons: reasons)
            fail(context: context, error: error)
        case .complete:
            handshakeTimeout?.cancel()
            handshakeTimeout = nil
            state = .active
            let info = connection.info()
            connectionInfo = info
            // The server's handshake call returns with session tickets still in the write BIO.
            writeOutput(context: context)
            context.fireUserInboundEventTriggered(TLSEvent.handshakeCompleted(info))
            guard state == .active else { return }  // the layer above may have closed
            encryptFlushedWrites(context: context)
            readApplicationData(context: context)
        }
    }

    private func readApplicationData(context: ChannelHandlerContext) {
        // Plaintext is never longer than the ciphertext it came from: size the buffer once.
        let capacity = min(max(connection.pendingCiphertext, 2048), 256 * 1024)
        var buffer = context.channel.allocator.buffer(capacity: capacity)
        var peerClosedNow = false
        // Bounded by the ciphertext already fed in: every iteration consumes input or stops.
        loop: while true {
            switch connection.read(into: &buffer) {
            case .bytes:
                if buffer.writableBytes < 1024 {
                    context.fireChannelRead(wrapInboundOut(buffer))
                    // The layer above may have closed the connection while handling the data.
                    guard state == .active || state == .closing else { return }
                    buffer = context.channel.allocator.buffer(capacity: min(max(connection.pendingCiphertext, 2048), 256 * 1024))
                }
            case .wantRead:
                break loop
            case .closeNotify:
                peerClosedNow = !receivedCloseNotify
                receivedCloseNotify = true
                break loop
            case .failed(let reasons):
                if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
                fail(context: context, error: TLSError.ioFailed(reasons: reasons))
                return
            }
        }
        if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
        if peerClosedNow, state == .active || state == .closing { peerSentCloseNotify(context: context) }
    }

    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        switch state {
        case .closing:
            // Both close_notify alerts exchanged.
            closeNow(context: context)
        case .active:
            if allowRemoteHalfClosure {
                context.fireChannelReadComplete()
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            } else {
                encryptFlushedWrites(context: context, ignoringWritability: true)
                sendCloseNotify(context: context)
                closeNow(context: context)
            }
        case .idle, .handshaking, .closed:
            break
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard state != .closed, !sentCloseNotify else {
            promise?.fail(TLSError.writeAfterClose)
            return
        }
        pendingWrites.append(PendingWrite(data: unwrapOutboundIn(data), promise: promise))
    }

    public func flush(context: ChannelHandlerContext) {
        flushedWrites = pendingWrites.count
        if state == .active || state == .closing { encryptFlushedWrites(context: context) }
    }

    public func read(context: ChannelHandlerContext) {
        // Backpressure: do not read (and so decrypt or answer handshakes) while our output is stuck.
        if context.channel.isWritable {
            context.read()
        } else {
            readHeldForWritability = true
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            if state == .active || state == .closing { encryptFlushedWrites(context: context) }
            if readHeldForWritability {
                readHeldForWritability = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            context.close(mode: .input, promise: promise)
            return
        case .output:
            guard state == .active else {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            encryptFlushedWrites(context: context, ignoringWritability: true)
            sendCloseNotify(context: context)
            // Those writes can find the connection gone and close it at once (channelInactive ran).
            guard state != .closed else { promise?.succeed(()); return }
            state = .closing
            if receivedCloseNotify { closeNow(context: context) }
            promise?.succeed(())
        case .all:
            switch state {
            case .idle, .handshaking:
                state = .closed
                cancelTimers()
                failPendingWrites(ChannelError.ioOnClosedChannel)
                context.close(promise: promise)
            case .active, .closing:
                if state == .active {
                    encryptFlushedWrites(context: context, ignoringWritability: true)
                    sendCloseNotify(context: context)
                    // Those writes can find the connection gone and close it at once
                    // (channelInactive ran): nothing is left to wait for.
                    guard state != .closed else {
                        promise?.succeed(())
                        return
                    }
                    state = .closing
                }
                if let existing = closePromise {
                    if let promise { existing.futureResult.cascade(to: promise) }
                } else {
                    closePromise = promise ?? context.eventLoop.makePromise()
                }
                if receivedCloseNotify {
                    closeNow(context: context)
                } else if !shutdownTimerArmed {
                    shutdownTimerArmed = true
                    // The clock starts once our close_notify (and so all data before it) left:
                    // a slow reader still gets everything we wrote.
                    afterCloseNotifySent(context: context) { [self] in
                        guard state == .closing else { return }
                        shutdownTimeout = context.eventLoop.assumeIsolated().scheduleTask(
                            in: .seconds(configuration.shutdownTimeoutSeconds)
                        ) { [self] in
                            guard state == .closing else { return }
                            closeNow(context: context)
                        }
                    }
                }
            case .closed:
                promise?.fail(ChannelError.alreadyClosed)
            }
        }
    }

    /// Encrypts flushed plaintext while the channel is writable (or unconditionally, before close).
    private func encryptFlushedWrites(context: ChannelHandlerContext, ignoringWritability: Bool = false) {
        if encrypting {  // re-entered from a writability change during our own write/flush
            encryptAgain = true
            return
        }
        encrypting = true
        defer { encrypting = false }
        var wroteSomething = false
        repeat {
            encryptAgain = false
            while flushedWrites > 0, ignoringWritability || context.channel.isWritable {
                var write = pendingWrites.removeFirst()
                flushedWrites -= 1
                var failure: [String]? = nil
                while write.data.readableBytes > 0, failure == nil {
                    let count = min(write.data.readableBytes, OpenSSLServerConnection.writeChunk)
                    failure = write.data.withUnsafeReadableBytes { connection.write(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
                    write.data.moveReaderIndex(forwardBy: count)
                    if write.data.readableBytes > 0, let cipher = connection.takeOutput(allocator: context.channel.allocator) {
                        context.write(wrapOutboundOut(cipher), promise: nil)
                        wroteSomething = true
                        if !ignoringWritability, !context.channel.isWritable { break }
                    }
                }
                if let failure {
                    write.promise?.fail(TLSError.ioFailed(reasons: failure))
                    fail(context: context, error: TLSError.ioFailed(reasons: failure))
                    return
                }
                if write.data.readableBytes > 0 {
                    // Not writable mid-buffer: keep the rest, in front, for the next writability change.
                    pendingWrites.prepend(write)
                    flushedWrites += 1
                    break
                }
                if let cipher = connection.takeOutput(allocator: context.channel.allocator) {
                    context.write(wrapOutboundOut(cipher), promise: write.promise)
                    wroteSomething = true
                } else {
                    write.promise?.succeed(())  // an empty write
                }
            }
            if wroteSomething {
                wroteSomething = false
                context.flush()
            }
        } while encryptAgain && flushedWrites > 0
    }

    private func sendCloseNotify(context: ChannelHandlerContext) {
        guard !sentCloseNotify else { return }
        sentCloseNotify = true
        connection.shutdown()
        if let cipher = connection.takeOutput(allocator: context.channel.allocator) {
            let promise = context.eventLoop.makePromise(of: Void.self)
            closeNotifySent = promise.futureResult
            context.writeAndFlush(wrapOutboundOut(cipher), promise: promise)
        }
    }

    /// Sends whatever OpenSSL produced (handshake messages, tickets, alerts).
    private func writeOutput(context: ChannelHandlerContext) {
        guard let cipher = connection.takeOutput(allocator: context.channel.allocator) else { return }
        context.writeAndFlush(wrapOutboundOut(cipher), promise: nil)
    }

    private func closeNow(context: ChannelHandlerContext) {
        guard state != .closed else { return }
        state = .closed
        cancelTimers()
        failPendingWrites(TLSError.writeAfterClose)
        let promise = closePromise
        closePromise = nil
        // Closing the socket drops unsent writes: let our close_notify (and everything before
        // it) leave first, but not for longer than the write timeout.
        afterCloseNotifySent(context: context) {
            context.close(promise: promise)
        }
    }

    /// Runs `body` once our close_notify was written to the socket, or when the close write
    /// timeout expires (a peer that stopped reading must not pin the connection), whichever is first.
    private func afterCloseNotifySent(context: ChannelHandlerContext, _ body: @escaping () -> Void) {
        guard let sent = closeNotifySent else { return body() }
        var done = false
        let loop = context.eventLoop.assumeIsolated()
        let timer = loop.scheduleTask(in: .seconds(configuration.closeWriteTimeoutSeconds)) {
            guard !done else { return }
            done = true
            body()
        }
        sent.assumeIsolated().whenComplete { _ in
            timer.cancel()
            guard !done else { return }
            done = true
            body()
        }
    }

    private func fail(context: ChannelHandlerContext, error: TLSError) {
        guard state != .closed else { return }
        writeOutput(context: context)  // e.g. the alert explaining a failed handshake
        state = .closed
        cancelTimers()
        failPendingWrites(error)
        context.fireErrorCaught(error)
        let promise = closePromise
        closePromise = nil
        context.close(promise: promise)
    }

    private func cancelTimers() {
        handshakeTimeout?.cancel()
        handshakeTimeout = nil
        shutdownTimeout?.cancel()
        shutdownTimeout = nil
    }

    private func failPendingWrites(_ error: Error) {
        flushedWrites = 0
        while let write = pendingWrites.popFirst() {
            write.promise?.fail(error)
        }
    }
}

@available(*, unavailable)
extension TLSServerHandler: Sendable {}
