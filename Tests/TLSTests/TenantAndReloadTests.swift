import Foundation
import NIOCore
import Testing
@testable import TLS
import TLSProbe

@Suite("SNI → tenant certificates, strict mode, hot reload, session tickets")
struct TenantAndReloadTests {
    @Test("SNI picks the tenant's certificate and tells the layers above which tenant it is")
    func sniPicksTenant() async throws {
        let pki = try TestPKI()
        let fallback = try pki.leaf("default", hostnames: ["relay.test"])
        let a = try pki.leaf("a", hostnames: ["shop-a.test", "*.a.test"])
        let b = try pki.leaf("b", hostnames: ["shop-b.test"])
        let server = try await TestServer(provider: makeProvider {
            $0.defaultCertificate = fallback
            $0.tenants = [
                TLSTenantCertificate(tenant: "tenant-a", hostnames: ["shop-a.test", "*.a.test"], files: a),
                TLSTenantCertificate(tenant: "tenant-b", hostnames: ["SHOP-B.test"], files: b),
            ]
        })
        defer { Task { await server.shutdown() } }
        let context = try TLSProbeContext(trustedCertificatesFile: pki.rootPath)

        let cases: [(sni: String?, cn: String, tenant: String?)] = [
            ("shop-a.test", "shop-a.test", "tenant-a"),
            ("www.a.test", "shop-a.test", "tenant-a"),
            ("Shop-B.Test", "shop-b.test", "tenant-b"),
            ("deep.www.a.test", "relay.test", nil),  // wildcards cover one label only
            ("unknown.test", "relay.test", nil),
            (nil, "relay.test", nil),
        ]
        for c in cases {
            let before = server.snapshot.count
            let client = try BlockingTLSClient(port: server.port, context: context, serverName: c.sni, timeoutSeconds: clientTimeoutSeconds)
            #expect(client.peerCertificateCommonNames.first == c.cn, "SNI \(c.sni ?? "none")")
            try client.write([1])
            _ = try client.read(exactly: 1)
            let info = await server.waitFor { _ in server.snapshot.count > before }.flatMap { _ in
                server.snapshot.dropFirst(before).compactMap { if case .handshake(let i) = $0 { i } else { nil } }.first
            }
            #expect(info?.tenant == c.tenant, "SNI \(c.sni ?? "none")")
            client.close()
        }
    }

    @Test("strict mode rejects unknown and missing server names, accepts known ones")
    func strictMode() async throws {
        let pki = try TestPKI()
        let fallback = try pki.leaf("default", hostnames: ["relay.test"])
        let a = try pki.leaf("a", hostnames: ["shop-a.test"])
        let server = try await TestServer(provider: makeProvider {
            $0.defaultCertificate = fallback
            $0.unknownServerName = .reject
            $0.tenants = [TLSTenantCertificate(tenant: "tenant-a", hostnames: ["shop-a.test"], files: a)]
        })
        defer { Task { await server.shutdown() } }
        let context = try TLSProbeContext()
        #expect(throws: TLSProbeError.self) { try BlockingTLSClient(port: server.port, context: context, serverName: "other.test", timeoutSeconds: clientTimeoutSeconds) }
        #expect(throws: TLSProbeError.self) { try BlockingTLSClient(port: server.port, context: context, timeoutSeconds: clientTimeoutSeconds) }
        #expect(await server.waitFor { $0 == .error(.handshakeFailed(reasons: ["unrecognized server name"])) } != nil)
        let ok = try BlockingTLSClient(port: server.port, context: context, serverName: "shop-a.test", timeoutSeconds: clientTimeoutSeconds)
        #expect(ok.peerCertificateCommonNames.first == "shop-a.test")
        ok.close()
    }

    @Test("hot reload: live connections continue, new ones get the new certificate, a bad one is rejected")
    func hotReload() async throws {
        let pki = try TestPKI()
        let a = try pki.leaf("a", hostnames: ["shop-a.test"], commonName: "shop-a v1")
        let configuration = { (c: inout TLSServerConfiguration) in
            c.tenants = [TLSTenantCertificate(tenant: "tenant-a", hostnames: ["shop-a.test"], files: a)]
        }
        let provider = try makeProvider(configuration)
        let server = try await TestServer(provider: provider)
        defer { Task { await server.shutdown() } }
        let context = try TLSProbeContext(trustedCertificatesFile: pki.rootPath)

        let live = try BlockingTLSClient(port: server.port, context: context, serverName: "shop-a.test", timeoutSeconds: clientTimeoutSeconds)
        #expect(live.peerCertificateCommonNames.first == "shop-a v1")
        try live.write(Array("before".utf8))
        #expect(try live.read(exactly: 6) == Array("before".utf8))

        try pki.leaf("a", hostnames: ["shop-a.test"], commonName: "shop-a v2")  // same paths, new files
        try provider.reload()
        #expect(provider.generation == 2)

        let fresh = try BlockingTLSClient(port: server.port, context: context, serverName: "shop-a.test", timeoutSeconds: clientTimeoutSeconds)
        #expect(fresh.peerCertificateCommonNames.first == "shop-a v2")
        try live.write(Array("after".utf8))
        #expect(try live.read(exactly: 5) == Array("after".utf8))

        // A key that does not match: the reload fails and v2 stays in service.
        let other = try DevelopmentCertificate(hostnames: ["x.test"])
        try other.writePrivateKey(to: a.privateKeyPath, overwrite: true)
        #expect(throws: TLSConfigurationError.keyDoesNotMatchCertificate(certificatePath: a.certificateChainPath,
                                                                         keyPath: a.privateKeyPath)) {
            try provider.reload()
        }
        #expect(provider.generation == 2)
        let third = try BlockingTLSClient(port: server.port, context: context, serverName: "shop-a.test", timeoutSeconds: clientTimeoutSeconds)
        #expect(third.peerCertificateCommonNames.first == "shop-a v2")
        try live.write(Array("still".utf8))
        #expect(try live.read(exactly: 5) == Array("still".utf8))
        live.close(); fresh.close(); third.close()
    }

    @Test("SIGHUP triggers a reload")
    func sighupReload() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["relay.test"])
        let provider = try makeProvider { $0.defaultCertificate = files }
        let handle = provider.reloadOnHangupSignal()
        defer { handle.cancel() }
        kill(getpid(), SIGHUP)
        let reloaded = await pollOnOwnThread(seconds: 60) { provider.generation >= 2 ? true : nil }
        #expect(reloaded == true)
        #expect(provider.generation >= 2)
    }

    @Test("sessions resume from tickets; rotated-out ticket keys and disabled tickets force full handshakes")
    func sessionTickets() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["relay.test"])
        let provider = try makeProvider { $0.defaultCertificate = files }
        let server = try await TestServer(provider: provider)
        defer { Task { await server.shutdown() } }
        let context = try TLSProbeContext()

        func connect(_ session: TLSProbeSession?) throws -> (reused: Bool, session: TLSProbeSession?) {
            let c = try BlockingTLSClient(port: server.port, context: context, session: session, timeoutSeconds: clientTimeoutSeconds)
            try c.write([7])
            _ = try c.read(exactly: 1)  // TLS 1.3 tickets arrive after the handshake
            defer { c.close() }
            return (c.sessionReused, c.session)
        }
        let first = try connect(nil)
        #expect(!first.reused)
        let second = try connect(first.session)
        #expect(second.reused)

        provider.current.ticketKeys?.rotate()  // previous key still accepted (and renewed)
        #expect(try connect(second.session).reused)
        provider.current.ticketKeys?.rotate()
        provider.current.ticketKeys?.rotate()  // now the ticket's key is gone
        #expect(try !connect(second.session).reused)

        var disabled = TLSServerConfiguration(defaultCertificate: files)
        disabled.sessionTickets = .disabled
        try provider.reload(disabled)
        let d1 = try connect(nil)
        #expect(try !connect(d1.session).reused)
    }
}

@Suite("Certificate loading errors")
struct CertificateLoadingTests {
    @Test("a missing file is a clear unreadable-file error")
    func missingFile() throws {
        let files = TLSCertificateFiles(certificateChainPath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key.pem")
        #expect(throws: TLSConfigurationError.unreadableFile(path: "/nonexistent/cert.pem", reason: "No such file or directory")) {
            try TLSServerContext(configuration: TLSServerConfiguration(defaultCertificate: files))
        }
    }

    @Test("a key that does not match the certificate is refused")
    func mismatchedKey() throws {
        let pki = try TestPKI()
        let files = try pki.leaf("a", hostnames: ["a.test"])
        try DevelopmentCertificate(hostnames: ["b.test"]).writePrivateKey(to: files.privateKeyPath, overwrite: true)
        #expect(throws: TLSConfigurationError.keyDoesNotMatchCertificate(certificatePath: files.certificateChainPath,
                                                                         keyPath: files.privateKeyPath)) {
            try TLSServerContext(configuration: TLSServerConfiguration(defaultCertificate: files))
        }
    }

    @Test("an expired certificate is refused, or loaded with a warning when configured")
    func expired() throws {
        let pki = try TestPKI()
        let files = try pki.leaf("old", hostnames: ["old.test"], notBeforeOffset: -10 * 86_400, lifetimeSeconds: 86_400)
        var configuration = TLSServerConfiguration(defaultCertificate: files)
        #expect {
            try TLSServerContext(configuration: configuration)
        } throws: { error in
            if case TLSConfigurationError.certificateExpired(let path, _) = error { return path == files.certificateChainPath }
            return false
        }
        configuration.expiredCertificates = .warn
        let context = try TLSServerContext(configuration: configuration)
        #expect(context.warnings.count == 1)
    }

    @Test("RSA keys under 2048 bits, garbage PEM and empty configurations are refused")
    func badInputs() throws {
        let pki = try TestPKI()
        let weak = try pki.leaf("weak", hostnames: ["weak.test"], keyType: .rsa(bits: 1024))
        #expect(throws: TLSConfigurationError.unsupportedKey(path: weak.privateKeyPath, detail: "RSA-1024")) {
            try TLSServerContext(configuration: TLSServerConfiguration(defaultCertificate: weak))
        }
        let garbage = pki.directory + "/garbage.pem"
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: garbage))
        #expect(throws: TLSConfigurationError.noCertificateInFile(path: garbage)) {
            try TLSServerContext(configuration: TLSServerConfiguration(
                defaultCertificate: TLSCertificateFiles(certificateChainPath: garbage, privateKeyPath: weak.privateKeyPath)))
        }
        #expect(throws: TLSConfigurationError.noCertificates) {
            try TLSServerContext(configuration: TLSServerConfiguration())
        }
        let good = try pki.leaf("good", hostnames: ["good.test"])
        #expect(throws: TLSConfigurationError.duplicateHostname("a.test")) {
            try TLSServerContext(configuration: TLSServerConfiguration(tenants: [
                TLSTenantCertificate(tenant: "x", hostnames: ["a.test"], files: good),
                TLSTenantCertificate(tenant: "y", hostnames: ["a.test"], files: good),
            ]))
        }
    }

    @Test("the development certificate is a P-256 self-signed server certificate with a 0600 key")
    func developmentCertificate() async throws {
        let pki = try TestPKI()
        let cert = try DevelopmentCertificate(hostnames: ["localhost", "127.0.0.1"])
        let files = TLSCertificateFiles(certificateChainPath: pki.directory + "/dev.pem", privateKeyPath: pki.directory + "/dev.key")
        try DevelopmentCertificate.writeChain([cert], to: files.certificateChainPath)
        try cert.writePrivateKey(to: files.privateKeyPath)
        var st = stat()
        stat(files.privateKeyPath, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(throws: CertificateGenerationError.fileExists(path: files.privateKeyPath)) {
            try cert.writePrivateKey(to: files.privateKeyPath)
        }
        // It serves, and a client trusting exactly this certificate verifies it.
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files })
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port,
                                           context: TLSProbeContext(trustedCertificatesFile: files.certificateChainPath),
                                           serverName: "localhost", timeoutSeconds: clientTimeoutSeconds)
        #expect(client.verifyResult == 0)
        #expect(client.cipher.hasPrefix("TLS_"))
        client.close()
    }
}
