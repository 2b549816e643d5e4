import Foundation
import Logging
import NIOConcurrencyHelpers
import Relay
import Sealing
import ServiceLifecycle
import TLSProbe
import TranscriptStore

/// Captures every log line (message + metadata) so tests can grep them for planted values.
final class CapturedLogs: Sendable {
    let lines = NIOLockedValueBox<[String]>([])

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            let all = self.metadata.merging(extra ?? [:]) { $1 }
            sink.lines.withLockedValue { $0.append("\(level) \(message) \(all)") }
        }
    }

    var logger: Logger { Logger(label: "test.relay") { _ in Handler(sink: self) } }
    var text: String { lines.withLockedValue { $0.joined(separator: "\n") } }
}

/// A demo relay on a loopback port, in a fresh data directory.
final class RelayHarness: Sendable {
    let directory: String
    let demo: RelayDemo
    let server: RelayServer
    let group: ServiceGroup
    let run: Task<Void, any Error>
    let port: Int
    let logs: CapturedLogs

    /// - Parameters:
    ///   - directory: an existing data directory to start on (a restart); a fresh one otherwise.
    ///   - httpPort: also run the plain-HTTP redirect listener (0: any free port).
    static func start(limits: RelayLimits = RelayLimits(), directory existing: String? = nil, httpPort: Int? = nil,
                      allowedOrigins: [String] = []) async throws -> RelayHarness {
        let directory: String
        if let existing {
            directory = existing
        } else {
            var template = Array((NSTemporaryDirectory() + "/kamirelay-relay-XXXXXX").utf8CString)
            guard let dir = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
            directory = String(cString: dir) + "/data"
        }
        let demo = try await RelayDemo.prepare(dataDirectory: directory, kdf: .minimumForTests)
        let logs = CapturedLogs()
        var configuration = RelayServerConfiguration(host: "127.0.0.1", port: 0, tls: demo.tls, httpPort: httpPort)
        configuration.limits = limits
        let runtime = demo.tenantRuntime
        let tenant = TenantRuntime(id: runtime.id, hostnames: Array(runtime.hostnames), redactor: runtime.redactor, bot: runtime.bot,
                                   allowedOrigins: allowedOrigins)
        let server = try RelayServer(configuration: configuration, tenants: TenantDirectory([tenant]),
                                     store: demo.store, state: demo.state, logger: logs.logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let group = server.makeServiceGroup(signals: []) { port in continuation.yield(port) }
        let run = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("server did not start") }
        return RelayHarness(directory: directory, demo: demo, server: server, group: group, run: run, port: port, logs: logs)
    }

    private init(directory: String, demo: RelayDemo, server: RelayServer, group: ServiceGroup, run: Task<Void, any Error>,
                 port: Int, logs: CapturedLogs) {
        self.directory = directory
        self.demo = demo
        self.server = server
        self.group = group
        self.run = run
        self.port = port
        self.logs = logs
    }

    /// Graceful shutdown, as on SIGTERM; waits until the server has stopped.
    func shutdown() async throws {
        await group.triggerGracefulShutdown()
        try await run.value
    }

    /// Stops the server and removes the data directory.
    func finish() async throws {
        try await shutdown()
        try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent)
    }

    func connect(hostHeader: String = "localhost", serverName: String? = "localhost") throws -> TestWebSocket {
        try TestWebSocket(port: port, rootCA: demo.rootCertificatePath, hostHeader: hostHeader, serverName: serverName)
    }

    /// A plain HTTPS request; returns the raw response.
    func httpGet(_ path: String, hostHeader: String = "localhost") throws -> String {
        let context = try TLSProbeContext(trustedCertificatesFile: demo.rootCertificatePath)
        let client = try BlockingTLSClient(port: port, context: context, serverName: "localhost", timeoutSeconds: 10)
        try client.write(Array("GET \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: close\r\n\r\n".utf8))
        var response: [UInt8] = []
        while let more = try? client.read() { response += more }
        return String(decoding: response, as: UTF8.self)
    }

    /// Every byte of every file in the data directory.
    func dataDirectoryBytes() throws -> [UInt8] {
        var bytes: [UInt8] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let name = enumerator?.nextObject() as? String {
            if let data = FileManager.default.contents(atPath: directory + "/" + name) { bytes += data }
        }
        return bytes
    }
}

extension Array where Element == UInt8 {
    func contains(_ text: String) -> Bool { firstRange(of: Array(text.utf8)) != nil }
}

/// Starts a chat: hello → welcome + greeting. Returns the session id.
@discardableResult
func startChat(_ ws: TestWebSocket, language: String = "zh") throws -> String {
    try ws.send(["type": "hello", "language": language])
    let welcome = try ws.receive()
    guard welcome["type"] as? String == "welcome", let session = welcome["session"] as? String else {
        throw TestFailure("expected welcome, got \(welcome["type"] ?? "nil")")
    }
    let greeting = try ws.receive()
    guard greeting["type"] as? String == "message", greeting["role"] as? String == "bot" else { throw TestFailure("expected the greeting") }
    return session
}
