import Foundation
import Hummingbird
import Relay
import Sealing
import Testing
import TLS
import TLSProbe
import TranscriptStore

@Suite struct RelayConfigFileTests {
    static let valid = """
        version: 1
        listen: { host: 0.0.0.0, port: 9443 }
        data_dir: /var/lib/kamirelay
        tls: { profile: modern }
        limits: { message_burst: 3, messages_per_second: 0.5 }
        tenants:
          - id: shop1
            hostnames: [Chat.Shop1.example]
            certificate: tls/shop1.pem
            private_key: tls/shop1.key
            knowledge_base: demo
            orders: demo
        """

    @Test func readsEveryField() throws {
        let config = try RelayConfigFile.parse(yaml: Self.valid, file: "relay.yaml", baseDirectory: "/etc/kamirelay")
        #expect(config.host == "0.0.0.0" && config.port == 9443)
        #expect(config.dataDirectory == "/var/lib/kamirelay")
        #expect(config.keysDirectory == "/etc/kamirelay/keys", "relative to the file by default")
        #expect(config.profile == .modern)
        #expect(config.limits.messageBurst == 3 && config.limits.messagesPerSecond == 0.5)
        #expect(config.tenants == [.init(id: "shop1", hostnames: ["chat.shop1.example"], certificate: "/etc/kamirelay/tls/shop1.pem",
                                         privateKey: "/etc/kamirelay/tls/shop1.key", policy: nil, knowledgeBase: "demo", orders: .demo)])
    }

    func error(_ yaml: String) -> RelayConfigError? {
        do { _ = try RelayConfigFile.parse(yaml: yaml, file: "relay.yaml", baseDirectory: "/etc"); return nil } catch { return error }
    }

    @Test func brokenFilesNameFileLineAndField() {
        let typo = error(Self.valid.replacingOccurrences(of: "listen: { host: 0.0.0.0, port: 9443 }", with: "listen: { host: 0.0.0.0, prot: 9443 }"))
        #expect(typo?.description == "relay.yaml:2: field 'listen.prot': unknown field (expected one of host, port, addresses, http_port, public_port)")
        let port = error(Self.valid.replacingOccurrences(of: "9443", with: "99999"))
        #expect(port?.line == 2 && port?.field == "listen.port")
        let missing = error(Self.valid.replacingOccurrences(of: "    private_key: tls/shop1.key\n", with: ""))
        #expect(missing?.field == "tenants[0].private_key" && missing?.line == 7)
        let orders = error(Self.valid.replacingOccurrences(of: "orders: demo", with: "orders: https://x"))
        #expect(orders?.field == "tenants[0].orders" && orders?.line == 12)
        #expect(error("version: 2\ntenants: []")?.field == "version")
        #expect(error("version: 1\n")?.field == "tenants")
        #expect(error("version: 1\ntenants: [\n")?.reason == "not valid YAML")
        let twice = Self.valid + """

              - id: shop2
                hostnames: [chat.shop1.example]
                certificate: a.pem
                private_key: a.key
                knowledge_base: demo
            """
        #expect(error(twice)?.reason == "chat.shop1.example is used by two tenants")
    }
}

extension RelayConfigFileTests {
    @Test func readsListenersOriginsLimitsAndTheHTTPOrderBackend() throws {
        var template = Array((NSTemporaryDirectory() + "/kamirelay-config-XXXXXX").utf8CString)
        let dir = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "secret-token\n".write(toFile: dir + "/orders.token", atomically: true, encoding: .utf8)
        let yaml = """
            version: 1
            listen: { host: 0.0.0.0, port: 8443, http_port: 8080, public_port: 443 }
            limits: { idle_timeout_seconds: 120, write_timeout_seconds: 5, api_burst: 7, api_requests_per_second: 2, api_state_seconds: 3600 }
            tenants:
              - id: shop1
                hostnames: [chat.shop1.example]
                certificate: tls/shop1.pem
                private_key: tls/shop1.key
                knowledge_base: demo
                orders: { url: "https://shop1.example/api/kamirelay", token_file: orders.token, timeout_seconds: 2 }
                allowed_origins: [HTTPS://www.Shop1.example, "https://shop1.example:8443"]
            """
        let config = try RelayConfigFile.parse(yaml: yaml, file: "relay.yaml", baseDirectory: dir)
        #expect(config.httpPort == 8080 && config.publicPort == 443)
        #expect(config.limits.idleTimeout == .seconds(120) && config.limits.writeTimeout == .seconds(5))
        #expect(config.limits.apiBurst == 7 && config.limits.apiRequestsPerSecond == 2 && config.limits.apiStateLifetime == 3600)
        #expect(config.tenants[0].orders == .http(url: URL(string: "https://shop1.example/api/kamirelay")!,
                                                  tokenFile: dir + "/orders.token", timeoutSeconds: 2))
        #expect(config.tenants[0].allowedOrigins == ["https://www.shop1.example", "https://shop1.example:8443"])

        func error(_ from: String, _ to: String) -> RelayConfigError? {
            do { _ = try RelayConfigFile.parse(yaml: yaml.replacingOccurrences(of: from, with: to), file: "relay.yaml", baseDirectory: dir); return nil }
            catch { return error }
        }
        let noToken = error("token_file: orders.token", "token_file: missing.token")
        #expect(noToken?.line == 10 && noToken?.field == "tenants[0].orders.token_file")
        #expect(noToken?.description.hasPrefix("relay.yaml:10: field 'tenants[0].orders.token_file': cannot read") == true)
        #expect(error("https://shop1.example/api/kamirelay", "http://shop1.example/api")?.field == "tenants[0].orders.url",
                "plain http only to localhost")
        #expect(error("https://shop1.example/api/kamirelay", "http://127.0.0.1:9000/api") == nil)
        #expect(error(", timeout_seconds: 2", ", timeout: 2")?.field == "tenants[0].orders.timeout")
        let origin = error("HTTPS://www.Shop1.example", "https://www.shop1.example/widget")
        #expect(origin?.line == 11 && origin?.field == "tenants[0].allowed_origins")
        #expect(error("HTTPS://www.Shop1.example", "http://www.shop1.example")?.field == "tenants[0].allowed_origins")
        #expect(error("idle_timeout_seconds: 120", "idle_timeout_seconds: 1")?.field == "limits.idle_timeout_seconds")
        #expect(error("http_port: 8080", "http_port: 8443")?.field == "listen.http_port")
    }
}

extension RelayConfigFileTests {
    @Test func listenTakesSeveralAddressesAndNamesTheBadEntry() throws {
        let several = Self.valid.replacingOccurrences(of: "listen: { host: 0.0.0.0, port: 9443 }", with: """
            listen:
              addresses:
                - 10.0.0.5:8443
                - "[2001:db8::5]:8443"
                - "[::1]:9443"
                - 127.0.0.1:0
                - 127.0.0.1:0
              http_port: 8080
            """)
        let config = try RelayConfigFile.parse(yaml: several, file: "relay.yaml", baseDirectory: "/etc")
        #expect(config.addresses == [.init(host: "10.0.0.5", port: 8443), .init(host: "2001:db8::5", port: 8443), .init(host: "::1", port: 9443),
                                     .init(host: "127.0.0.1", port: 0), .init(host: "127.0.0.1", port: 0)])
        #expect(config.addresses.map(\.description) == ["10.0.0.5:8443", "[2001:db8::5]:8443", "[::1]:9443", "127.0.0.1:0", "127.0.0.1:0"])
        #expect(config.httpPort == 8080 && config.host == "10.0.0.5" && config.port == 8443)
        // The one-address form still works (and is what the default is).
        let single = try RelayConfigFile.parse(yaml: Self.valid, file: "relay.yaml", baseDirectory: "/etc")
        #expect(single.addresses == [.init(host: "0.0.0.0", port: 9443)])
        #expect(try RelayConfigFile.parse(yaml: Self.valid.replacingOccurrences(of: "listen: { host: 0.0.0.0, port: 9443 }\n", with: ""),
                                          file: "relay.yaml", baseDirectory: "/etc").addresses == [.init(host: "127.0.0.1", port: 8443)])

        func error(_ entries: String, extra: String = "") -> RelayConfigError? {
            self.error(Self.valid.replacingOccurrences(of: "listen: { host: 0.0.0.0, port: 9443 }",
                                                       with: "listen:\n  addresses: [\(entries)]\(extra)"))
        }
        let badPort = error("10.0.0.5:8443, 10.0.0.6:70000")
        #expect(badPort?.line == 3 && badPort?.field == "listen.addresses[1]", "\(String(describing: badPort))")
        #expect(badPort?.reason.contains("port from 0 to 65535") == true)
        #expect(error("10.0.0.5")?.field == "listen.addresses[0]", "a port is required")
        #expect(error("\"::1:8443\"")?.field == "listen.addresses[0]", "IPv6 needs brackets")
        #expect(error("\"[::1]\"")?.field == "listen.addresses[0]")
        #expect(error("\":8443\"")?.field == "listen.addresses[0]", "a host is required")
        let twice = error("10.0.0.5:8443, \"[::1]:8443\", 10.0.0.5:8443")
        #expect(twice?.field == "listen.addresses[2]" && twice?.reason == "10.0.0.5:8443 is listed twice")
        let wildcard = error("0.0.0.0:8443, 127.0.0.1:8443")
        #expect(wildcard?.field == "listen.addresses[1]" && wildcard?.reason.contains("0.0.0.0:8443 already takes every address") == true)
        #expect(error("\"[::]:8443\", 0.0.0.0:8443")?.field == "listen.addresses[1]", "[::] takes IPv4 too on Linux")
        #expect(error("0.0.0.0:8443, \"[::1]:8443\"") == nil, "0.0.0.0 takes no IPv6 address")
        #expect(error("0.0.0.0:8443, 0.0.0.0:9443") == nil, "other ports do not collide")
        #expect(error("")?.field == "listen.addresses")
        let both = error("10.0.0.5:8443", extra: "\n  port: 9443")
        #expect(both?.field == "listen.port" && both?.line == 4 && both?.reason.contains("not both") == true)
        #expect(error("10.0.0.5:8443, 10.0.0.6:8080", extra: "\n  http_port: 8080")?.field == "listen.http_port")
        #expect(error("10.0.0.5:8443", extra: "\n  http_port: 8080") == nil)
    }
}

/// A configured tenant (not the demo) over real TLS: SNI picks the certificate and the tenant.
@Suite(.serialized) struct ConfiguredRelayTests {
    @Test func configuredTenantChatsAndUnknownSNIIsRefused() async throws {
        var template = Array((NSTemporaryDirectory() + "/kamirelay-config-XXXXXX").utf8CString)
        let dir = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // What an operator does first: keys init, tenants add, certificates.
        try FileManager.default.createDirectory(atPath: dir + "/keys", withIntermediateDirectories: true)
        let master = GuardedKey(randomCount: 32)
        try MasterKeyFile.create(at: dir + "/keys/master.key", masterKey: master, passphrase: Array("pw".utf8), parameters: .minimumForTests)
        let file = try MasterKeyFile(contentsOf: dir + "/keys/master.key")
        let ring = MasterKeyring(currentID: file.keyID, key: try file.unlock(passphrase: Array("pw".utf8)))
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        let initial = try SQLiteTranscriptStore(path: dir + "/data/transcripts.sqlite", masterKeys: ring)
        try await initial.addTenant("shop1")
        try await initial.addTenant("shop2")
        let root = try DevelopmentCertificate(hostnames: [], commonName: "Test CA", isCertificateAuthority: true)
        try DevelopmentCertificate.writeChain([root], to: dir + "/root.pem")
        for shop in ["shop1", "shop2"] {
            let leaf = try DevelopmentCertificate(hostnames: ["chat.\(shop).example"], issuer: root)
            try DevelopmentCertificate.writeChain([leaf], to: dir + "/\(shop).pem")
            try leaf.writePrivateKey(to: dir + "/\(shop).key")
        }
        try """
            version: 1
            listen: { host: 127.0.0.1, port: 0 }
            tenants:
              - id: shop1
                hostnames: [chat.shop1.example]
                certificate: shop1.pem
                private_key: shop1.key
                knowledge_base: demo
              - id: shop2
                hostnames: [chat.shop2.example]
                certificate: shop2.pem
                private_key: shop2.key
                knowledge_base: demo
            """.write(toFile: dir + "/relay.yaml", atomically: true, encoding: .utf8)

        let config = try RelayConfigFile.load(path: dir + "/relay.yaml")
        let opened = try await RelayConfigured.open(config, file: dir + "/relay.yaml", masterKeys: ring)
        let server = try RelayServer(configuration: opened.server, tenants: TenantDirectory(opened.tenants), store: opened.store,
                                     logger: CapturedLogs().logger)
        let (group, run, port) = try await startServing(server)
        let rootPath = dir + "/root.pem"

        try await offPool {
            let ws = try TestWebSocket(port: port, rootCA: rootPath, hostHeader: "chat.shop1.example", serverName: "chat.shop1.example")
            defer { ws.close() }
            try ws.send(["type": "hello"])
            let welcome = try ws.receive()
            #expect(welcome["tenant"] as? String == "shop1")
            _ = try ws.receive()
            // No order source configured: the bot cannot look orders up and says so or hands off.
            try ws.send(["type": "message", "client_id": "c1", "text": "怎么退款？"])
            #expect(try ws.receive()["role"] as? String == "customer")
            #expect(try ws.receive()["role"] as? String == "bot")
            // Unknown SNI: refused in the TLS handshake, before any HTTP.
            #expect(throws: (any Error).self) {
                _ = try TestWebSocket(port: port, rootCA: rootPath, hostHeader: "chat.shop1.example", serverName: "other.example")
            }
            // Tenant B's Host over tenant A's certificate (SNI): 421, for chats and plain requests.
            #expect(throws: (any Error).self) {
                _ = try TestWebSocket(port: port, rootCA: rootPath, hostHeader: "chat.shop2.example", serverName: "chat.shop1.example")
            }
            func status(sni: String, host: String) throws -> Int {
                let client = try BlockingTLSClient(port: port, context: try TLSProbeContext(trustedCertificatesFile: rootPath),
                                                   serverName: sni, timeoutSeconds: clientTimeoutSeconds)
                try client.write(Array("GET /healthz HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8))
                var response: [UInt8] = []
                while let more = try? client.read() { response += more }
                return try RelayHarness.parseHTTP(response).status
            }
            #expect(try status(sni: "chat.shop1.example", host: "chat.shop2.example") == 421)
            #expect(try status(sni: "chat.shop2.example", host: "chat.shop2.example") == 200)
        }
        await group.triggerGracefulShutdown()
        try await run.value
    }

    /// `orders: { url, token_file }`: the bot looks orders up in the shop's own HTTP backend
    /// (here a local Hummingbird server that checks the bearer token).
    @Test func configuredHTTPOrderBackendAnswersOrderQuestions() async throws {
        var template = Array((NSTemporaryDirectory() + "/kamirelay-config-XXXXXX").utf8CString)
        let dir = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/keys", withIntermediateDirectories: true)
        try MasterKeyFile.create(at: dir + "/keys/master.key", masterKey: GuardedKey(randomCount: 32), passphrase: Array("pw".utf8),
                                 parameters: .minimumForTests)
        let file = try MasterKeyFile(contentsOf: dir + "/keys/master.key")
        let ring = MasterKeyring(currentID: file.keyID, key: try file.unlock(passphrase: Array("pw".utf8)))
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        try await SQLiteTranscriptStore(path: dir + "/data/transcripts.sqlite", masterKeys: ring).addTenant("shop1")
        let root = try DevelopmentCertificate(hostnames: [], commonName: "Test CA", isCertificateAuthority: true)
        let leaf = try DevelopmentCertificate(hostnames: ["chat.shop1.example"], issuer: root)
        try DevelopmentCertificate.writeChain([root], to: dir + "/root.pem")
        try DevelopmentCertificate.writeChain([leaf], to: dir + "/shop1.pem")
        try leaf.writePrivateKey(to: dir + "/shop1.key")
        try "t0ken-for-orders\n".write(toFile: dir + "/orders.token", atomically: true, encoding: .utf8)

        // The shop's backend: one order, only with the right token.
        let router = Router()
        router.get("api/orders/:number") { request, context -> Response in
            guard request.headers[.authorization] == "Bearer t0ken-for-orders" else { return Response(status: .unauthorized) }
            guard context.parameters.get("number") == "K7Q2M9X4B1C8D3F5" else { return Response(status: .notFound) }
            let body = #"{"order_sn":"K7Q2M9X4B1C8D3F5","status":4,"product":{"zh":"测试会员","en":"Test membership"},"amount_cents":1000,"created_at":1764000000}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let (backendPorts, backendContinuation) = AsyncStream.makeStream(of: Int.self)
        let backend = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { backendContinuation.yield($0.localAddress?.port ?? 0) })
        let backendRun = Task { try await backend.runService() }
        var backendIterator = backendPorts.makeAsyncIterator()
        let backendPort = try #require(await backendIterator.next())

        try """
            version: 1
            listen: { host: 127.0.0.1, port: 0 }
            tenants:
              - id: shop1
                hostnames: [chat.shop1.example]
                certificate: shop1.pem
                private_key: shop1.key
                knowledge_base: demo
                orders: { url: "http://127.0.0.1:\(backendPort)/api", token_file: orders.token }
            """.write(toFile: dir + "/relay.yaml", atomically: true, encoding: .utf8)
        let opened = try await RelayConfigured.open(try RelayConfigFile.load(path: dir + "/relay.yaml"), file: dir + "/relay.yaml", masterKeys: ring)
        let server = try RelayServer(configuration: opened.server, tenants: TenantDirectory(opened.tenants), store: opened.store,
                                     state: opened.state, logger: CapturedLogs().logger)
        let (group, run, port) = try await startServing(server)
        let rootPath = dir + "/root.pem"
        let reply = try await offPool { () -> String in
            let ws = try TestWebSocket(port: port, rootCA: rootPath, hostHeader: "chat.shop1.example", serverName: "chat.shop1.example")
            defer { ws.close() }
            try ws.send(["type": "hello"])
            _ = try ws.receive()
            _ = try ws.receive()
            try ws.send(["type": "message", "client_id": "o1", "text": "我的订单K7Q2M9X4B1C8D3F5发货了吗？"])
            #expect(try ws.receive()["role"] as? String == "customer")
            return try ws.receive()["text"] as? String ?? ""
        }
        #expect(reply.contains("K7Q2M9X4B1C8D3F5") && reply.contains("已完成"), "the status came from the backend: \(reply)")
        await group.triggerGracefulShutdown()
        try await run.value
        backendRun.cancel()
    }

    @Test func tenantMissingFromTheStoreIsAClearError() async throws {
        var template = Array((NSTemporaryDirectory() + "/kamirelay-config-XXXXXX").utf8CString)
        let dir = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try RelayConfigFile.parse(yaml: RelayConfigFileTests.valid.replacingOccurrences(of: "data_dir: /var/lib/kamirelay\n", with: ""),
                                               file: "relay.yaml", baseDirectory: dir)
        let ring = MasterKeyring(currentID: "k1", key: GuardedKey(randomCount: 32))
        await #expect(throws: RelayConfigError(file: "relay.yaml", line: nil, field: "tenants[0].id",
                                               reason: "tenant shop1 is not in the store at \(dir)/data; run `kamirelay tenants add shop1`")) {
            _ = try await RelayConfigured.open(config, file: "relay.yaml", masterKeys: ring)
        }
    }
}
