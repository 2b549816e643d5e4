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
        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
            sink.lines.withLockedValue { $0.append("\(event.level) \(event.message) \(all)") }
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
    /// The tenant the server runs (a copy of the demo runtime with the test's origins).
    let tenant: TenantRuntime

    /// - Parameters:
    ///   - directory: an existing data directory to start on (a restart); a fresh one otherwise.
    ///   - httpPort: also run the plain-HTTP redirect listener (0: any free port).
    ///   - addresses: the HTTPS listen addresses (default: 127.0.0.1, any free port).
    static func start(limits: RelayLimits = RelayLimits(), directory existing: String? = nil, httpPort: Int? = nil,
                      allowedOrigins: [String] = [], addresses: [RelayListenAddress]? = nil) async throws -> RelayHarness {
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
        if let addresses { configuration.addresses = addresses }
        let runtime = demo.tenantRuntime
        let tenant = TenantRuntime(id: runtime.id, hostnames: Array(runtime.hostnames), redactor: runtime.redactor, bot: runtime.bot,
                                   allowedOrigins: allowedOrigins)
        let server = try RelayServer(configuration: configuration, tenants: TenantDirectory([tenant]),
                                     store: demo.store, state: demo.state, logger: logs.logger)
        let (group, run, port) = try await startServing(server)
        return RelayHarness(directory: directory, demo: demo, server: server, group: group, run: run, port: port, logs: logs, tenant: tenant)
    }

    private init(directory: String, demo: RelayDemo, server: RelayServer, group: ServiceGroup, run: Task<Void, any Error>,
                 port: Int, logs: CapturedLogs, tenant: TenantRuntime) {
        self.directory = directory
        self.demo = demo
        self.server = server
        self.group = group
        self.run = run
        self.port = port
        self.logs = logs
        self.tenant = tenant
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
    func httpGet(_ path: String, hostHeader: String = "localhost", port: Int? = nil) throws -> String {
        let context = try TLSProbeContext(trustedCertificatesFile: demo.rootCertificatePath)
        let client = try BlockingTLSClient(port: port ?? self.port, context: context, serverName: "localhost", timeoutSeconds: clientTimeoutSeconds)
        try client.write(Array("GET \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: close\r\n\r\n".utf8))
        var response: [UInt8] = []
        while let more = try? client.read() { response += more }
        return String(decoding: response, as: UTF8.self)
    }

    typealias HTTPResult = (status: Int, head: String, body: [UInt8])

    /// An HTTPS request with an optional body; returns the status, the lower-cased head and the body.
    /// - Parameters: host, port: where to connect (default: 127.0.0.1 and the first listen port).
    func https(_ method: String, _ path: String, hostHeader: String = "localhost", headers: [String: String] = [:],
               body: [UInt8]? = nil, host: String = "127.0.0.1", port: Int? = nil) throws -> HTTPResult {
        let context = try TLSProbeContext(trustedCertificatesFile: demo.rootCertificatePath)
        let client = try BlockingTLSClient(host: host, port: port ?? self.port, context: context, serverName: "localhost", timeoutSeconds: clientTimeoutSeconds)
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        try client.write(Array((request + "\r\n").utf8) + (body ?? []))
        var response: [UInt8] = []
        while let more = try? client.read() { response += more }
        return try Self.parseHTTP(response)
    }

    /// Splits a raw HTTP/1.1 response (Content-Length or chunked body).
    static func parseHTTP(_ response: [UInt8]) throws -> (status: Int, head: String, body: [UInt8]) {
        guard let end = response.firstRange(of: Array("\r\n\r\n".utf8)) else { throw TestFailure("no HTTP response") }
        let head = String(decoding: response[..<end.lowerBound], as: UTF8.self).lowercased()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var body = Array(response[end.upperBound...])
        if head.contains("transfer-encoding: chunked") {
            var decoded: [UInt8] = [], rest = body[...]
            while let line = rest.firstRange(of: Array("\r\n".utf8)),
                  let size = Int(String(decoding: rest[rest.startIndex..<line.lowerBound], as: UTF8.self), radix: 16), size > 0 {
                decoded += rest[line.upperBound..<(line.upperBound + size)]
                rest = rest[(line.upperBound + size + 2)...]
            }
            body = decoded
        }
        return (status, head, body)
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

/// Runs `server`'s service group (no signals) and waits until it listens: the group, the task
/// running it, and the first address's port.
func startServing(_ server: RelayServer) async throws -> (group: ServiceGroup, run: Task<Void, any Error>, port: Int) {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let group = server.makeServiceGroup(signals: []) { port in continuation.yield(port) }
    let run = Task { try await group.run() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw TestFailure("server did not start") }
    return (group, run, port)
}

/// An IPv4 socket address (`ip` in network byte order, as `inet_addr` gives it).
func ipv4Address(_ ip: in_addr_t, port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = ip
    return address
}

/// A port free on every address right now, outside the kernel's ephemeral range, for a test
/// that must name a fixed port. Ports the kernel hands out (to `port: 0` listeners and to
/// client sockets of tests running in parallel) come from that range, so none of them can take
/// this one between the probe and the test's own bind.
func unusedPortOutsideEphemeralRange() throws -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
        .split(whereSeparator: \.isWhitespace).compactMap { Int($0) } ?? []
    let (low, high) = range.count == 2 ? (range[0], range[1]) : (32768, 60999)
    let candidates = low > 11_000 ? Array(10_000..<low) : Array((high + 1)...65_535)
    for port in candidates.shuffled().prefix(200) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        defer { close(fd) }
        var address = ipv4Address(INADDR_ANY, port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if bound { return port }
    }
    throw TestFailure("no free port outside the ephemeral range")
}

/// A socket bound to a free port on 127.0.0.1 (listening if asked); the caller closes it.
func bindLoopbackPort(listening: Bool) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket failed") }
    var address = ipv4Address(inet_addr("127.0.0.1"), port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && (!listening || listen(fd, 1) == 0) && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { close(fd); throw TestFailure("bind failed") }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A plain (no TLS) HTTP/1.1 exchange on loopback: the request as written, the raw response.
func plainHTTP(port: Int, _ request: String) throws -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket failed") }
    defer { close(fd) }
    var address = ipv4Address(inet_addr("127.0.0.1"), port: port)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw TestFailure("connect failed") }
    var timeout = timeval(tv_sec: clientTimeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let bytes = Array(request.utf8)
    guard write(fd, bytes, bytes.count) == bytes.count else { throw TestFailure("write failed") }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    return response
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
