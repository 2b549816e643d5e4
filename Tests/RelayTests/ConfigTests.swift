import Foundation
import Relay
import Sealing
import Testing
import TLS
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
        #expect(typo?.description == "relay.yaml:2: field 'listen.prot': unknown field (expected one of host, port, http_port, public_port)")
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
        try await SQLiteTranscriptStore(path: dir + "/data/transcripts.sqlite", masterKeys: ring).addTenant("shop1")
        let root = try DevelopmentCertificate(hostnames: [], commonName: "Test CA", isCertificateAuthority: true)
        let leaf = try DevelopmentCertificate(hostnames: ["chat.shop1.example"], issuer: root)
        try DevelopmentCertificate.writeChain([root], to: dir + "/root.pem")
        try DevelopmentCertificate.writeChain([leaf], to: dir + "/shop1.pem")
        try leaf.writePrivateKey(to: dir + "/shop1.key")
        try """
            version: 1
            listen: { host: 127.0.0.1, port: 0 }
            tenants:
              - id: shop1
                hostnames: [chat.shop1.example]
                certificate: shop1.pem
                private_key: shop1.key
                knowledge_base: demo
            """.write(toFile: dir + "/relay.yaml", atomically: true, encoding: .utf8)

        let config = try RelayConfigFile.load(path: dir + "/relay.yaml")
        let opened = try await RelayConfigured.open(config, file: dir + "/relay.yaml", masterKeys: ring)
        let server = try RelayServer(configuration: opened.server, tenants: TenantDirectory(opened.tenants), store: opened.store,
                                     logger: CapturedLogs().logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let group = server.makeServiceGroup(signals: []) { continuation.yield($0) }
        let run = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
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
        }
        await group.triggerGracefulShutdown()
        try await run.value
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
