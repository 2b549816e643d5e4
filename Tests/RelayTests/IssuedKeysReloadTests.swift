import Foundation
import Logging
import Redaction
import Relay
import Sealing
import ServiceLifecycle
import Testing

/// A shop whose orders live in its own backend tells the relay which card keys it issued
/// (`kamirelay tenants issued-keys add`); a running relay picks the digests up and masks those
/// keys in new chats whatever their shape, with no keyword near them.
@Suite struct IssuedKeysReloadTests {
    @Test func digestsAddedWhileRunningMaskTheKeysInNewChats() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        let hasher = BLAKE2bKeyedHasher(guardedKey: try await relay.demo.store.purposeKey(tenant: RelayDemo.tenant, .tokenisation))
        let reloader = IssuedKeysReloader(state: relay.demo.state, tenants: [.init(runtime: relay.tenant, hasher: hasher)],
                                          interval: .milliseconds(100))
        let group = ServiceGroup(services: [reloader], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        defer { running.cancel() }

        let text = "我买的是 silverfox77 不能用"
        func chat() async throws -> String {
            try await offPool {
                let ws = try TestWebSocket(port: port, rootCA: root)
                defer { ws.close() }
                try ws.send(["type": "hello"])
                _ = try ws.receive(until: "welcome")
                _ = try ws.receive(until: "message")  // the greeting
                try ws.send(["type": "message", "client_id": "k1", "text": text])
                let echo = try ws.receive(until: "message").frame
                return echo["text"] as? String ?? ""
            }
        }
        #expect(try await chat() == text, "not a key by shape alone")
        let digest = try #require(IssuedKeySet.digest(of: "SILVERFOX77", hasher: hasher))
        #expect(try await relay.demo.state.addIssuedKeys(tenant: RelayDemo.tenant, [digest]) == 1)
        #expect(try await relay.demo.state.addIssuedKeys(tenant: RelayDemo.tenant, [digest]) == 0, "idempotent")
        var masked = ""
        for _ in 0..<100 {
            masked = try await chat()
            if masked != text { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(masked == "我买的是 [CARD_KEY] 不能用")
        let disk = try relay.dataDirectoryBytes()
        #expect(!disk.contains("silverfox77") && !disk.contains("SILVERFOX77"))

        #expect(try await relay.demo.state.clearIssuedKeys(tenant: RelayDemo.tenant) == 1)
        var unmasked = ""
        for _ in 0..<100 {
            unmasked = try await chat()
            if unmasked == text { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(unmasked == text, "cleared digests stop matching")
        await group.triggerGracefulShutdown()
        try await relay.finish()
    }
}
