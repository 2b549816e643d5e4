import COpenSSL
import NIOConcurrencyHelpers
import Testing
@testable import TLS
import TLSProbe

@Suite("Server context details")
struct ServerContextUnitTests {
    @Test("hostname lookup: exact names first, one-label wildcards, case and trailing dot ignored")
    func hostnameLookup() throws {
        let pki = try TestPKI()
        let a = try pki.leaf("a", hostnames: ["a.test"])
        let context = try TLSServerContext(configuration: TLSServerConfiguration(tenants: [
            TLSTenantCertificate(tenant: "wild", hostnames: ["*.shop.test"], files: a),
            TLSTenantCertificate(tenant: "exact", hostnames: ["pay.shop.test"], files: a),
        ]))
        #expect(context.tenant(forServerName: "pay.shop.test") == "exact")
        #expect(context.tenant(forServerName: "PAY.Shop.Test.") == "exact")
        #expect(context.tenant(forServerName: "www.shop.test") == "wild")
        #expect(context.tenant(forServerName: "a.b.shop.test") == nil)
        #expect(context.tenant(forServerName: "shop.test") == nil)
        #expect(throws: TLSConfigurationError.invalidHostname("bad name.test")) {
            try TLSServerContext(configuration: TLSServerConfiguration(tenants: [
                TLSTenantCertificate(tenant: "x", hostnames: ["bad name.test"], files: a)]))
        }
    }

    @Test("ticket keys rotate on schedule; the previous key decrypts (and renews) for one interval")
    func ticketKeyRotation() {
        let now = NIOLockedValueBox<Int64>(1000)
        let keys = SessionTicketKeys(rotationInterval: 60, clock: { now.withLockedValue { $0 } })
        func encrypt() -> [UInt8] { run(keys, name: nil) .name }
        func decrypt(_ name: [UInt8]) -> CInt { run(keys, name: name).result }

        let first = encrypt()
        #expect(decrypt(first) == 1)
        now.withLockedValue { $0 += 59 }
        #expect(encrypt() == first)
        now.withLockedValue { $0 += 1 }  // interval reached: a new key encrypts
        let second = encrypt()
        #expect(second != first)
        #expect(decrypt(first) == 2)      // still accepted, ticket renewed
        #expect(decrypt(second) == 1)
        now.withLockedValue { $0 += 60 }
        _ = encrypt()
        #expect(decrypt(first) == 0)      // destroyed: full handshake
        #expect(decrypt(second) == 2)
    }

    /// Drives the ticket callback body with real OpenSSL cipher/MAC contexts.
    private func run(_ keys: SessionTicketKeys, name: [UInt8]?) -> (name: [UInt8], result: CInt) {
        var keyName = name ?? [UInt8](repeating: 0, count: 16)
        var iv = [UInt8](repeating: 0, count: 16)
        let cipher = EVP_CIPHER_CTX_new()!
        defer { EVP_CIPHER_CTX_free(cipher) }
        let macAlgorithm = EVP_MAC_fetch(nil, "HMAC", nil)!
        defer { EVP_MAC_free(macAlgorithm) }
        let mac = EVP_MAC_CTX_new(macAlgorithm)!
        defer { EVP_MAC_CTX_free(mac) }
        let result = keys.handle(keyName: &keyName, iv: &iv, cipher: cipher, mac: mac, encrypt: name == nil)
        return (keyName, result)
    }
}

@Suite("ALPN")
struct ALPNTests {
    @Test("a client offering only other protocols continues without ALPN")
    func noCommonProtocol() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files })
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(applicationProtocols: ["h2"]), timeoutSeconds: clientTimeoutSeconds)
        #expect(client.applicationProtocol == nil)
        try client.write([9])
        #expect(try client.read(exactly: 1) == [9])
        client.close()
    }
}
