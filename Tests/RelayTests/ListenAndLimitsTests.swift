import Foundation
import NIOConcurrencyHelpers
import Relay
import Testing
import TLSProbe

/// Several HTTPS listen addresses, the per-address connection cap (429 after TLS, closed before
/// TLS past the ceiling) and HEAD on every GET route — over real TLS on loopback.
@Suite(.serialized) struct ListenAndLimitsTests {
    /// Whether this machine can bind the IPv6 loopback (CI containers often have no IPv6).
    static let ipv6LoopbackWorks: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        } == 0
    }()

    /// `0.0.0.0` and `127.0.0.1` on different HTTPS ports share one redirect port: the wildcard's
    /// redirect listener serves both (a second one on 127.0.0.1 would collide with it).
    @Test func aWildcardAndAnAddressItCoversShareOneRedirectListener() async throws {
        // A fixed port for the redirect listener, so a collision would show.
        let httpPort = try unusedPortOutsideEphemeralRange()
        let relay = try await RelayHarness.start(httpPort: httpPort, addresses: [RelayListenAddress(host: "0.0.0.0", port: 0),
                                                                               RelayListenAddress(host: "127.0.0.1", port: 0)])
        let response = try await offPool {
            String(decoding: try plainHTTP(port: httpPort, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"), as: UTF8.self)
        }
        #expect(response.hasPrefix("HTTP/1.1 308"), "\(response)")
        try await relay.finish()
    }

    @Test func severalListenAddressesServeTheSameRelay() async throws {
        var addresses = [RelayListenAddress(host: "127.0.0.1", port: 0), RelayListenAddress(host: "127.0.0.1", port: 0)]
        if Self.ipv6LoopbackWorks { addresses.append(RelayListenAddress(host: "::1", port: 0)) }
        let relay = try await RelayHarness.start(addresses: addresses)
        let bound = relay.server.listeningAddresses
        #expect(bound.map(\.host) == addresses.map(\.host), "every address is bound, in order")
        #expect(bound.allSatisfy { $0.port > 0 } && Set(bound.map(\.port)).count == bound.count)
        #expect(relay.port == bound[0].port && relay.server.httpsPort == bound[0].port)
        let root = relay.demo.rootCertificatePath
        for address in bound {
            let (health, reply) = try await offPool { () -> (RelayHarness.HTTPResult, String) in
                let health = try relay.https("GET", "/healthz", host: address.host, port: address.port)
                let ws = try TestWebSocket(host: address.host, port: address.port, rootCA: root)
                defer { ws.close() }
                try startChat(ws)
                try ws.send(["type": "message", "client_id": "m1", "text": "怎么退款？"])
                var reply = try ws.receive(until: "message").frame
                while reply["role"] as? String != "bot" { reply = try ws.receive(until: "message").frame }
                try ws.send(["type": "bye"])
                return (health, reply["text"] as? String ?? "")
            }
            #expect(health.status == 200 && health.body == Array("ok\n".utf8), "\(address)")
            #expect(health.head.contains("strict-transport-security: max-age=31536000"), "\(address)")
            #expect(!reply.isEmpty, "the bot answers a chat over \(address)")
        }
        // One relay behind all of them: the chats over every address are counted together.
        let metrics = try await offPool { try relay.https("GET", "/metrics", port: bound[1].port) }
        #expect(String(decoding: metrics.body, as: UTF8.self).contains("kamirelay_chats_started_total \(bound.count)"))
        // A graceful shutdown closes every listener.
        try await relay.shutdown()
        for address in bound {
            let context = try TLSProbeContext(trustedCertificatesFile: root)
            #expect(throws: (any Error).self, "\(address) no longer accepts connections") {
                _ = try BlockingTLSClient(host: address.host, port: address.port, context: context, serverName: "localhost", timeoutSeconds: 5)
            }
        }
        try? FileManager.default.removeItem(atPath: (relay.directory as NSString).deletingLastPathComponent)
    }

    /// An address that cannot be bound stops the start with that address named.
    @Test func anAddressInUseIsNamed() async throws {
        // Hold a port: a listening socket of our own.
        let (fd, held) = try bindLoopbackPort(listening: true)
        defer { close(fd) }
        var template = Array((NSTemporaryDirectory() + "/kamirelay-relay-XXXXXX").utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let demo = try await RelayDemo.prepare(dataDirectory: directory + "/data", kdf: .minimumForTests)
        var configuration = RelayServerConfiguration(tls: demo.tls)
        configuration.addresses = [RelayListenAddress(host: "127.0.0.1", port: 0), RelayListenAddress(host: "127.0.0.1", port: held)]
        let server = try RelayServer(configuration: configuration, tenants: TenantDirectory([demo.tenantRuntime]), store: demo.store,
                                     state: demo.state, logger: CapturedLogs().logger)
        let listening = NIOLockedValueBox(false)
        do {
            try await server.makeServiceGroup(signals: []) { _ in listening.withLockedValue { $0 = true } }.run()
            Issue.record("the start should fail")
        } catch let error as RelayListenError {
            #expect(error.address == "https://127.0.0.1:\(held)")
            #expect(error.description == "cannot listen on https://127.0.0.1:\(held): Address already in use")
        }
        #expect(!listening.withLockedValue { $0 }, "not reported listening with an address missing")
    }

    /// A listen host name that does not resolve stops the start with the address named. (A name
    /// the resolver rejects without asking DNS, so the test needs no network.)
    @Test func anUnresolvableHostNameIsNamed() async throws {
        var template = Array((NSTemporaryDirectory() + "/kamirelay-relay-XXXXXX").utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let demo = try await RelayDemo.prepare(dataDirectory: directory + "/data", kdf: .minimumForTests)
        var configuration = RelayServerConfiguration(tls: demo.tls)
        configuration.addresses = [RelayListenAddress(host: "127.0.0.1", port: 0), RelayListenAddress(host: "no!such!host", port: 0)]
        let logs = CapturedLogs()
        let server = try RelayServer(configuration: configuration, tenants: TenantDirectory([demo.tenantRuntime]), store: demo.store,
                                     state: demo.state, logger: logs.logger)
        do {
            try await server.makeServiceGroup(signals: []) { _ in }.run()
            Issue.record("the start should fail")
        } catch let error as RelayListenError {
            #expect(error.description == "cannot listen on https://no!such!host:0: the host name does not resolve to an address")
        }
        // The drain the failed start cancelled ends without a false error: nothing was lost
        // (the WAL keeps every committed write), so the skipped checkpoint is a notice.
        #expect(logs.text.contains("relay.drained"))
        #expect(!logs.text.contains("relay.checkpoint_failed"), "\(logs.text)")
    }

    @Test func connectionsPastTheCapGet429AndPastTheCeilingAreClosedBeforeTLS() async throws {
        var limits = RelayLimits()
        limits.maxConnectionsPerIP = 2  // the hard ceiling is 4
        let relay = try await RelayHarness.start(limits: limits)
        let port = relay.port, root = relay.demo.rootCertificatePath
        struct Outcome: Sendable {
            var pastCeilingHandshake = true
            var plain: RelayHarness.HTTPResult?
            var upgrade: RelayHarness.HTTPResult?
            var overCapAfterwards: RelayHarness.HTTPResult?
            var acceptedAfterClose = false
        }
        let outcome = try await offPool { () -> Outcome in
            var outcome = Outcome()
            let context = try TLSProbeContext(trustedCertificatesFile: root)
            func connect() throws -> BlockingTLSClient {
                try BlockingTLSClient(port: port, context: context, serverName: "localhost", timeoutSeconds: clientTimeoutSeconds)
            }
            func exchange(_ client: BlockingTLSClient, _ request: String) throws -> RelayHarness.HTTPResult {
                try client.write(Array(request.utf8))
                var response: [UInt8] = []
                while let more = try? client.read() { response += more }  // until the server closes
                return try RelayHarness.parseHTTP(response)
            }
            // Two chats: the cap.
            let first = try TestWebSocket(port: port, rootCA: root)
            let second = try TestWebSocket(port: port, rootCA: root)
            defer { second.close() }
            try startChat(first)
            // Two more complete the handshake (past the cap, within the ceiling of 4) …
            let overPlain = try connect(), overUpgrade = try connect()
            // … a fifth is closed before TLS.
            outcome.pastCeilingHandshake = (try? connect()) != nil
            // The two past the cap get 429, whatever they ask for; the server closes them.
            outcome.plain = try exchange(overPlain, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            outcome.upgrade = try exchange(overUpgrade, "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                           + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            // With both chats still open, a new connection is past the cap again: 429 (to a HEAD
            // without the text), not a reset.
            _ = waitUntil(every: 0.05) {
                guard let client = try? connect(), let result = try? exchange(client, "HEAD /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                else { return false }
                outcome.overCapAfterwards = result
                return true
            }
            // Once a chat is closed, a new chat is accepted (the server frees the slot when it
            // sees the close; poll, with a deadline that only bounds a hang).
            first.close()
            outcome.acceptedAfterClose = waitUntil(every: 0.05) {
                guard let ws = try? TestWebSocket(port: port, rootCA: root) else { return false }
                ws.close()
                return true
            }
            return outcome
        }
        #expect(!outcome.pastCeilingHandshake, "past the ceiling the connection is closed before the handshake")
        for response in [outcome.plain, outcome.upgrade] {
            let response = try #require(response)
            #expect(response.status == 429, "\(response.head)")
            #expect(response.head.contains("retry-after: 10") && response.head.contains("connection: close"))
            #expect(response.head.contains("strict-transport-security: max-age=31536000")
                    && response.head.contains("content-security-policy: default-src 'none'"))
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(text.contains("连接过多") && text.contains("Too many connections"))
        }
        #expect(outcome.overCapAfterwards?.status == 429)
        #expect(outcome.overCapAfterwards?.body.isEmpty == true && outcome.overCapAfterwards?.head.contains("retry-after: 10") == true,
                "a HEAD gets the head only")
        #expect(outcome.acceptedAfterClose)
        // Once the server has seen the test's chats close, this connection is within the cap.
        let metrics = try await offPool { () -> String in
            var text = ""
            _ = waitUntil(every: 0.05) {
                guard let result = try? relay.https("GET", "/metrics"), result.status == 200 else { return false }
                text = String(decoding: result.body, as: UTF8.self)
                return true
            }
            return text
        }
        func counter(_ name: String) -> Int? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { $0.split(separator: " ").last }.flatMap { Int($0) }
        }
        #expect((counter("kamirelay_connections_over_cap_total") ?? 0) >= 3)
        #expect((counter("kamirelay_connections_refused_total") ?? 0) >= 1)
        try await relay.shutdown()
        // Logged without the client's address (or anything it sent).
        let refusals = relay.logs.lines.withLockedValue { $0 }.filter { $0.contains("relay.connection_refused") }
        #expect(refusals.contains { $0.contains("429") } && refusals.contains { $0.contains("closed_before_tls") })
        #expect(!refusals.contains { $0.contains("127.0.0.1") || $0.contains("healthz") || $0.contains("/chat") })
        #expect(!relay.logs.text.contains("Error handling upgrade result"), "a refused connection is no error in the WebSocket layer")
        try? FileManager.default.removeItem(atPath: (relay.directory as NSString).deletingLastPathComponent)
    }

    /// HEAD answers like GET without the body, for every GET route — auth and limits included.
    @Test func everyGETRouteAnswersHEAD() async throws {
        let relay = try await RelayHarness.start()
        let key = try await relay.demo.state.createAPIKey(tenant: RelayDemo.tenant, label: "head").key
        let auth = ["Authorization": "Bearer \(key)"]
        let session = try HTTPAPITests.json(try await offPool {
            try relay.https("POST", "/v1/messages", headers: auth, body: try HTTPAPITests.body(["client_message_id": "h-1", "text": "你好"]))
        }.body)["session"] as? String
        let history = "/v1/sessions/\(try #require(session))/messages"
        let results = try await offPool { () -> [(String, RelayHarness.HTTPResult, RelayHarness.HTTPResult)] in
            try [("/healthz", [:]), ("/readyz", [:]), ("/metrics", [:]), ("/widget.js", [:]), ("/", [:]), (history, auth), (history, [:]),
                 ("/no-such-page", [:])].map { path, headers in
                (path, try relay.https("GET", path, headers: headers), try relay.https("HEAD", path, headers: headers))
            }
        }
        try await relay.finish()
        for (path, get, head) in results {
            #expect(head.status == get.status, "\(path): HEAD \(head.status), GET \(get.status)")
            #expect(head.body.isEmpty, "\(path): no body on HEAD")
            #expect(head.head.contains("strict-transport-security: max-age=31536000"), "\(path)")
            if get.status == 200, path != "/metrics" {  // the metrics change between the two requests
                #expect(head.head.contains("content-length: \(get.body.count)"), "\(path): the GET body's length")
            }
        }
        let statuses = Dictionary(results.map { ($0.0 + ($0.1.status == 401 ? "#noauth" : ""), $0.2.status) }, uniquingKeysWith: { a, _ in a })
        #expect(statuses["/healthz"] == 200 && statuses["/readyz"] == 200 && statuses["/metrics"] == 200 && statuses["/widget.js"] == 200)
        #expect(statuses[history] == 200 && statuses[history + "#noauth"] == 401, "HEAD to the API needs the key, like GET")
        #expect(statuses["/no-such-page"] == 404)
    }
}
