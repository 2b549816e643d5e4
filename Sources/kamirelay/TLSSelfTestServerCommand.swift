import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import TLS

/// A small TLS server for scripts/check-tls.sh and `kamirelay bench tls`: the real handler and
/// server context, with a tiny HTTP, echo or discard application behind them. Hidden from --help.
struct TLSSelfTestServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls-selftest-server",
        abstract: "Run a TLS test server on 127.0.0.1 (for checks and benchmarks).",
        discussion: """
        Without --cert/--key it creates, in --dir, a test PKI: root.pem (trust this), server.pem + \
        server.key (ECDSA P-256 leaf for localhost/127.0.0.1 with its intermediate) and rsa.pem + \
        rsa.key (RSA-2048 leaf for rsa.selftest, served to that SNI name as tenant "rsa-demo"). \
        SIGHUP reloads the certificate files. Exits after --max-seconds.
        """,
        shouldDisplay: false
    )

    enum Application: String, ExpressibleByArgument { case http, echo, discard }

    @Option(help: "Directory for the generated test PKI and the port file.") var dir: String
    @Option(help: "Certificate chain to serve instead of generating one.") var cert: String?
    @Option(help: "Private key for --cert.") var key: String?
    @Option(help: "TCP port on 127.0.0.1 (0: any free port; written to DIR/port).") var port: Int = 0
    @Option(help: "Event-loop threads.") var threads: Int = 1
    @Option(help: "What to do with decrypted data: http, echo or discard.") var app: Application = .http
    @Option(help: "TLS profile: intermediate or modern.") var profile: String = "intermediate"
    @Option(help: "Exit after this many seconds.") var maxSeconds: Int = 300

    func run() throws {
        var configuration = TLSServerConfiguration()
        guard let profile = TLSProfile(rawValue: profile) else { throw ValidationError("unknown profile \(profile)") }
        configuration.profile = profile
        if let cert, let key {
            configuration.defaultCertificate = TLSCertificateFiles(certificateChainPath: cert, privateKeyPath: key)
        } else {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let root = try DevelopmentCertificate(hostnames: [], commonName: "KamiRelay self-test root", isCertificateAuthority: true)
            let intermediate = try DevelopmentCertificate(hostnames: [], commonName: "KamiRelay self-test intermediate",
                                                          issuer: root, isCertificateAuthority: true)
            let leaf = try DevelopmentCertificate(hostnames: ["localhost", "127.0.0.1"], issuer: intermediate)
            let rsa = try DevelopmentCertificate(hostnames: ["rsa.selftest"], keyType: .rsa(bits: 2048), issuer: intermediate)
            try DevelopmentCertificate.writeChain([root], to: dir + "/root.pem", overwrite: true)
            try DevelopmentCertificate.writeChain([leaf, intermediate], to: dir + "/server.pem", overwrite: true)
            try leaf.writePrivateKey(to: dir + "/server.key", overwrite: true)
            try DevelopmentCertificate.writeChain([rsa, intermediate], to: dir + "/rsa.pem", overwrite: true)
            try rsa.writePrivateKey(to: dir + "/rsa.key", overwrite: true)
            configuration.defaultCertificate = TLSCertificateFiles(certificateChainPath: dir + "/server.pem", privateKeyPath: dir + "/server.key")
            configuration.tenants = [TLSTenantCertificate(
                tenant: "rsa-demo", hostnames: ["rsa.selftest"],
                files: TLSCertificateFiles(certificateChainPath: dir + "/rsa.pem", privateKeyPath: dir + "/rsa.key"))]
        }
        var logger = Logger(label: "kamirelay.tls")
        logger.logLevel = app == .http ? .info : .warning
        let provider = try TLSServerContextProvider(configuration: configuration, logger: logger)
        let reloadHandle = provider.reloadOnHangupSignal()
        defer { reloadHandle.cancel() }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        defer { try? group.syncShutdownGracefully() }
        let application = app
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(provider.makeHandler())
                    switch application {
                    case .http: try channel.pipeline.syncOperations.addHandler(TinyHTTPResponder())
                    case .echo: try channel.pipeline.syncOperations.addHandler(EchoApplication())
                    case .discard: try channel.pipeline.syncOperations.addHandler(DiscardApplication())
                    }
                }
            }
            .bind(host: "127.0.0.1", port: port).wait()
        let boundPort = channel.localAddress?.port ?? port
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "\(boundPort)\n".write(toFile: dir + "/port", atomically: true, encoding: .utf8)
        print("listening on 127.0.0.1:\(boundPort) (\(app.rawValue), \(threads) event loop(s)); pid \(getpid())")
        fflush(nil)
        channel.eventLoop.scheduleTask(in: .seconds(Int64(maxSeconds))) { channel.close(promise: nil) }
        try channel.closeFuture.wait()
    }
}

/// Answers any HTTP/1.1 request with a one-line body naming the tenant and ALPN, then closes.
final class TinyHTTPResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var request = ByteBuffer()
    private var info: TLSConnectionInfo?
    private var answered = false

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let i) = event as? TLSEvent { info = i }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var chunk = unwrapInboundIn(data)
        request.writeBuffer(&chunk)
        guard request.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) != nil || request.readableBytes > 16_384 else { return }
        answered = true
        let body = "ok tenant=\(info?.tenant ?? "default") protocol=\(info?.protocolVersion ?? "?") alpn=\(info?.applicationProtocol ?? "none")\n"
        let response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // TLS errors are per connection and carry no secrets; the server keeps running.
        context.close(promise: nil)
    }
}

final class EchoApplication: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.write(data, promise: nil) }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

final class DiscardApplication: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
