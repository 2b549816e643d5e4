import Foundation
import NIOCore
import Testing
import TLS
import TLSProbe

@Suite("TLS handshake and data over loopback with a real OpenSSL client")
struct HandshakeAndDataTests {
    @Test("TLS 1.3 handshake: protocol, ALPN http/1.1, chain served and verifiable")
    func tls13() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files })
        defer { Task { await server.shutdown() } }

        let client = try BlockingTLSClient(
            port: server.port,
            context: TLSProbeContext(trustedCertificatesFile: pki.rootPath, applicationProtocols: ["h2", "http/1.1"]),
            serverName: "default.test", timeoutSeconds: clientTimeoutSeconds)
        #expect(client.protocolVersion == "TLSv1.3")
        #expect(client.applicationProtocol == "http/1.1")
        #expect(client.verifyResult == 0)
        #expect(client.peerCertificateCommonNames == ["default.test", "Test Intermediate CA"])
        try client.write([42])
        #expect(try client.read(exactly: 1) == [42])

        let info = try #require(await server.lastHandshake())
        #expect(info.protocolVersion == "TLSv1.3")
        #expect(info.applicationProtocol == "http/1.1")
        #expect(info.tenant == nil)
        #expect(info.serverName == "default.test")
        client.close()
    }

    @Test("TLS 1.2 handshake with ECDSA and with RSA certificates uses ECDHE + AEAD")
    func tls12() async throws {
        let pki = try TestPKI()
        let ecdsa = try pki.leaf("ecdsa", hostnames: ["ec.test"])
        let rsa = try pki.leaf("rsa", hostnames: ["rsa.test"], keyType: .rsa(bits: 2048))
        let server = try await TestServer(provider: makeProvider {
            $0.defaultCertificate = ecdsa
            $0.tenants = [TLSTenantCertificate(tenant: "rsa-shop", hostnames: ["rsa.test"], files: rsa)]
        })
        defer { Task { await server.shutdown() } }
        let tls12 = try TLSProbeContext(versions: .tls1_2 ... .tls1_2, trustedCertificatesFile: pki.rootPath)

        let a = try BlockingTLSClient(port: server.port, context: tls12, serverName: "ec.test", timeoutSeconds: clientTimeoutSeconds)
        #expect(a.protocolVersion == "TLSv1.2")
        #expect(a.cipher.hasPrefix("ECDHE-ECDSA-"))
        #expect(a.cipher.contains("GCM") || a.cipher.contains("CHACHA20"))
        try a.write(Array("ping".utf8))
        #expect(try a.read(exactly: 4) == Array("ping".utf8))

        let b = try BlockingTLSClient(port: server.port, context: tls12, serverName: "rsa.test", timeoutSeconds: clientTimeoutSeconds)
        #expect(b.protocolVersion == "TLSv1.2")
        #expect(b.cipher.hasPrefix("ECDHE-RSA-"))
        #expect(b.verifyResult == 0)
        try b.write(Array("pong".utf8))
        #expect(try b.read(exactly: 4) == Array("pong".utf8))
        a.close(); b.close()
    }

    @Test("TLS 1.0/1.1, CBC suites, RSA key exchange and DHE are refused")
    func weakProtocolsRefused() async throws {
        let pki = try TestPKI()
        let ecdsa = try pki.leaf("ecdsa", hostnames: ["ec.test"])
        let rsa = try pki.leaf("rsa", hostnames: ["rsa.test"], keyType: .rsa(bits: 2048))
        let server = try await TestServer(provider: makeProvider {
            $0.defaultCertificate = ecdsa
            $0.tenants = [TLSTenantCertificate(tenant: "rsa-shop", hostnames: ["rsa.test"], files: rsa)]
        })
        defer { Task { await server.shutdown() } }

        let old = try TLSProbeContext(versions: .tls1 ... .tls1_1, tls12Ciphers: "ALL:@SECLEVEL=0")
        #expect(throws: TLSProbeError.self) { try BlockingTLSClient(port: server.port, context: old, serverName: "ec.test", timeoutSeconds: clientTimeoutSeconds) }

        for ciphers in ["ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA",
                        "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA",
                        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-CHACHA20-POLY1305"] {
            let weak = try TLSProbeContext(versions: .tls1_2 ... .tls1_2, tls12Ciphers: ciphers)
            for name in ["ec.test", "rsa.test"] {
                #expect(throws: TLSProbeError.self, "\(ciphers) to \(name)") {
                    try BlockingTLSClient(port: server.port, context: weak, serverName: name, timeoutSeconds: clientTimeoutSeconds)
                }
            }
        }
        let failure = await server.waitFor { if case .error(.handshakeFailed) = $0 { true } else { false } }
        #expect(failure != nil)
    }

    @Test("TLS 1.2 renegotiation is refused")
    func renegotiationRefused() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files })
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(versions: .tls1_2 ... .tls1_2), timeoutSeconds: clientTimeoutSeconds)
        try client.write([1])
        #expect(try client.read(exactly: 1) == [1])
        #expect(!client.renegotiate())
        let handshakes = server.snapshot.filter { if case .handshake = $0 { true } else { false } }
        #expect(handshakes.count == 1)
        client.closeAbruptly()
    }

    @Test("the modern profile refuses TLS 1.2")
    func modernProfile() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files; $0.profile = .modern })
        defer { Task { await server.shutdown() } }
        let tls12 = try TLSProbeContext(versions: .tls1_2 ... .tls1_2)
        #expect(throws: TLSProbeError.self) { try BlockingTLSClient(port: server.port, context: tls12, timeoutSeconds: clientTimeoutSeconds) }
        let tls13 = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: clientTimeoutSeconds)
        #expect(tls13.protocolVersion == "TLSv1.3")
        tls13.close()
    }

    @Test("data both ways in many sizes, across record boundaries",
          arguments: [1, 2, 100, 16_383, 16_384, 16_385, 65_543, 1_048_579, 3 * 1_048_576 + 11])
    func echoSizes(size: Int) async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files })
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: clientTimeoutSeconds)
        let data = pattern(size, seed: UInt8(size % 251))
        // Write in slices and read each echo back, so neither side's socket buffer fills.
        var offset = 0
        while offset < size {
            let slice = Array(data[offset..<min(size, offset + 200_003)])
            try client.write(slice)
            #expect(try client.read(exactly: slice.count) == slice)
            offset += slice.count
        }
        client.close()
        #expect(await server.waitFor { $0 == .inactive } != nil)
        #expect(!server.snapshot.contains { if case .error = $0 { true } else { false } })
    }

    @Test("a large server write with a slow reader arrives intact, then close_notify")
    func serverBulkWriteAndCloseNotify() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let count = 4 * 1_048_576 + 5
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files },
                                          application: .send(count: count))
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: clientTimeoutSeconds)
        try await Task.sleep(for: .milliseconds(200))  // let the server hit backpressure
        let expected = fnv1a(pattern(count))
        #expect(try client.discard(count: count) == expected)
        // The server closes after its write: the client sees close_notify, a clean end.
        #expect(try client.read() == nil)
        client.sendCloseNotify()
        #expect(await server.waitFor { $0 == .inactive } != nil)
        #expect(!server.snapshot.contains { if case .error = $0 { true } else { false } })
    }

    @Test("writes made before the handshake completes are sent after it")
    func writesBeforeHandshake() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files },
                                          application: .greet("hello 你好\n"))
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: clientTimeoutSeconds)
        let greeting = Array("hello 你好\n".utf8)
        #expect(try client.read(exactly: greeting.count) == greeting)
        client.close()
    }
}
