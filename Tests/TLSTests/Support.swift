import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TLS
import TLSProbe

/// Certificates for one test, in a fresh temporary directory: a root CA, an intermediate, and
/// leaves issued by the intermediate (so servers send a real two-certificate chain).
final class TestPKI {
    let directory: String
    let root: DevelopmentCertificate
    let intermediate: DevelopmentCertificate

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/kamirelay-tls-XXXXXX").utf8CString)
        guard let dir = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        directory = String(cString: dir)
        root = try DevelopmentCertificate(hostnames: [], commonName: "Test Root CA", isCertificateAuthority: true)
        intermediate = try DevelopmentCertificate(hostnames: [], commonName: "Test Intermediate CA", issuer: root,
                                                  isCertificateAuthority: true)
        try DevelopmentCertificate.writeChain([root], to: rootPath)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    var rootPath: String { directory + "/root.pem" }

    /// Issues a leaf for `hostnames` and writes `<name>.pem` (leaf + intermediate) and `<name>.key`.
    @discardableResult
    func leaf(_ name: String, hostnames: [String], commonName: String? = nil,
              keyType: DevelopmentCertificate.KeyType = .ecdsaP256,
              notBeforeOffset: Int = -3600, lifetimeSeconds: Int = 86_400) throws -> TLSCertificateFiles {
        let leaf = try DevelopmentCertificate(hostnames: hostnames, commonName: commonName, keyType: keyType,
                                              issuer: intermediate, notBeforeOffset: notBeforeOffset,
                                              lifetimeSeconds: lifetimeSeconds)
        let files = TLSCertificateFiles(certificateChainPath: "\(directory)/\(name).pem", privateKeyPath: "\(directory)/\(name).key")
        try DevelopmentCertificate.writeChain([leaf, intermediate], to: files.certificateChainPath, overwrite: true)
        try leaf.writePrivateKey(to: files.privateKeyPath, overwrite: true)
        return files
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// What the server side saw, in order.
enum ServerEvent: Sendable, Equatable {
    case handshake(TLSConnectionInfo)
    case error(TLSError)
    case inputClosed
    case inactive
    /// Plaintext bytes delivered to the application in one read.
    case read(Int)
}

/// A loopback server: TLS handler + a small application handler; records every event.
final class TestServer: Sendable {
    enum Application: Sendable {
        /// Echo every byte; on half-close answer "bye" and close.
        case echo
        /// Write `greeting` as soon as the channel is active (before the handshake), then echo.
        case greet(String)
        /// Once the handshake completed, send `count` pattern bytes and close (close_notify).
        case send(count: Int)
    }

    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let events = NIOLockedValueBox<[ServerEvent]>([])
    var port: Int { channel.localAddress!.port! }

    init(provider: TLSServerContextProvider, application: Application = .echo, halfClosure: Bool = false,
         threads: Int = 1) async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let events = self.events
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: halfClosure)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(provider.makeHandler())
                    try channel.pipeline.syncOperations.addHandler(ApplicationHandler(application, events: events))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    var snapshot: [ServerEvent] { events.withLockedValue { $0 } }

    /// Waits until an event matches; nil if none did within `seconds`. The deadline only bounds
    /// a hang, so it is generous; and the polling runs on a thread of its own (see
    /// ``pollOnOwnThread(seconds:_:)``), so a busy concurrency pool cannot make it miss an event.
    @discardableResult
    func waitFor(seconds: Double = 60, _ match: @escaping @Sendable (ServerEvent) -> Bool) async -> ServerEvent? {
        await pollOnOwnThread(seconds: seconds) { self.snapshot.first(where: match) }
    }

    func lastHandshake() async -> TLSConnectionInfo? {
        guard case .handshake(let info) = await waitFor({ if case .handshake = $0 { true } else { false } }) else { return nil }
        return snapshot.reversed().compactMap { if case .handshake(let i) = $0 { i } else { nil } }.first ?? info
    }
}

final class ApplicationHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let application: TestServer.Application
    let events: NIOLockedValueBox<[ServerEvent]>

    init(_ application: TestServer.Application, events: NIOLockedValueBox<[ServerEvent]>) {
        self.application = application
        self.events = events
    }

    private func record(_ e: ServerEvent) { events.withLockedValue { $0.append(e) } }

    func channelActive(context: ChannelHandlerContext) {
        if case .greet(let text) = application {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        record(.read(unwrapInboundIn(data).readableBytes))
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? TLSEvent {
            record(.handshake(info))
            if case .send(let count) = application {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: pattern(count))), promise: nil)
                context.close(promise: nil)
            }
        } else if let e = event as? ChannelEvent, e == .inputClosed {
            record(.inputClosed)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "bye")), promise: nil)
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let e = error as? TLSError { record(.error(e)) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        record(.inactive)
    }
}

/// Polls `probe` every 10 ms until it returns a value or `seconds` pass (then nil), on a thread
/// of its own. Why not `Task.sleep` in a loop: the Swift concurrency pool has one thread per core
/// (two in CI), and tests that block it (blocking sockets, subprocesses, long CPU-bound loops) can
/// hold both threads for tens of seconds; a task polling there wakes up only after its deadline
/// and reports a timeout for an event that happened long before.
func pollOnOwnThread<T: Sendable>(seconds: Double, _ probe: @escaping @Sendable () -> T?) async -> T? {
    await withCheckedContinuation { continuation in
        Thread {
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            while true {
                if let value = probe() { return continuation.resume(returning: value) }
                if ContinuousClock.now >= deadline { return continuation.resume(returning: probe()) }
                Thread.sleep(forTimeInterval: 0.01)
            }
        }.start()
    }
}

/// How long a test client waits for the server before giving up. Only a bound on a hang: on a
/// loaded machine (CI, 2 cores, many tests in parallel) a server thread can be starved for
/// seconds, and a short socket timeout then fails tests whose server is merely slow.
let clientTimeoutSeconds = 60

/// A bare TCP connection (no TLS), for handshake-timeout and EOF tests.
final class RawTCPConnection {
    let fd: CInt
    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw TestFailure("connect failed") }
        var timeout = timeval(tv_sec: clientTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } }
    /// Blocks until the server closes (returns true) or `clientTimeoutSeconds` pass (false).
    func waitForServerClose() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }
    func close() { _ = Glibc.close(fd) }
}

/// `count` bytes of a fixed pattern that does not repeat at record-size periods, so lost,
/// duplicated or reordered records change the bytes.
func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        for i in 0..<count { buffer[i] = UInt8(truncatingIfNeeded: i &* 31 &+ (i >> 10) &+ Int(seed)) }
        initialized = count
    }
}

/// FNV-1a over `bytes` (order-sensitive), as `BlockingTLSClient.discard(count:)` computes it.
func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

func makeProvider(_ configure: (inout TLSServerConfiguration) -> Void) throws -> TLSServerContextProvider {
    var configuration = TLSServerConfiguration()
    // Generous server timers unless a test sets its own: a test client on a loaded machine can
    // be starved for seconds between two steps, and the product defaults (10 s to handshake,
    // 3 s for the peer's close_notify) would then close connections under the test's feet,
    // e.g. before the data a test sends after the server's close_notify was read.
    configuration.handshakeTimeoutSeconds = 60
    configuration.shutdownTimeoutSeconds = 60
    configure(&configuration)
    return try TLSServerContextProvider(configuration: configuration)
}
