import Foundation
import NIOCore
import Testing
import TLS
import TLSProbe

@Suite("TLS shutdown: close_notify, half-close, truncation, timeouts")
struct ShutdownTests {
    @Test("client close_notify: the server answers with close_notify and reports no error")
    func clientCloseNotify() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files })
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: clientTimeoutSeconds)
        try client.write(Array("x".utf8))
        #expect(try client.read(exactly: 1) == Array("x".utf8))
        client.sendCloseNotify()
        #expect(try client.read() == nil)  // the server's close_notify
        #expect(await server.waitFor { $0 == .inactive } != nil)
        #expect(!server.snapshot.contains(.error(.uncleanShutdown)))
    }

    @Test("half-close: after the client's close_notify the server can still send, then closes cleanly")
    func halfClose() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files }, halfClosure: true)
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: clientTimeoutSeconds)
        try client.write(Array("abc".utf8))
        #expect(try client.read(exactly: 3) == Array("abc".utf8))
        client.sendCloseNotify()
        #expect(try client.read(exactly: 3) == Array("bye".utf8))
        #expect(try client.read() == nil)
        #expect(await server.waitFor { $0 == .inactive } != nil)
        #expect(server.snapshot.contains(.inputClosed))
        #expect(!server.snapshot.contains { if case .error = $0 { true } else { false } })
    }

    @Test("an EOF without close_notify is reported as an unclean shutdown", arguments: [false, true])
    func abruptEOF(halfClosure: Bool) async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files }, halfClosure: halfClosure)
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: clientTimeoutSeconds)
        try client.write(Array("data".utf8))
        #expect(try client.read(exactly: 4) == Array("data".utf8))
        client.closeAbruptly()
        #expect(await server.waitFor { $0 == .error(.uncleanShutdown) } != nil)
        #expect(await server.waitFor { $0 == .inactive } != nil)
    }

    @Test("an EOF during the handshake is a handshake failure")
    func eofDuringHandshake() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files })
        defer { Task { await server.shutdown() } }
        let raw = try RawTCPConnection(port: server.port)
        raw.send([0x16, 0x03, 0x01, 0x00, 0x80, 0x01])  // the start of a ClientHello
        raw.close()
        #expect(await server.waitFor { $0 == .error(.eofDuringHandshake) } != nil)
        #expect(!server.snapshot.contains { if case .handshake = $0 { true } else { false } })
    }

    @Test("garbage instead of a ClientHello fails the handshake with OpenSSL's reason")
    func garbageHandshake() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files })
        defer { Task { await server.shutdown() } }
        let raw = try RawTCPConnection(port: server.port)
        raw.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(raw.waitForServerClose())
        raw.close()
        let event = await server.waitFor { if case .error(.handshakeFailed) = $0 { true } else { false } }
        guard case .error(.handshakeFailed(let reasons)) = event else { Issue.record("no handshake failure"); return }
        #expect(!reasons.isEmpty)
    }

    @Test("an idle connection that never handshakes is closed after the handshake timeout")
    func handshakeTimeout() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider {
            $0.defaultCertificate = files
            $0.handshakeTimeoutSeconds = 1
        })
        defer { Task { await server.shutdown() } }
        let raw = try RawTCPConnection(port: server.port)
        raw.send([0x16, 0x03, 0x01])  // a slowloris: a few bytes, then nothing
        let start = ContinuousClock.now
        #expect(raw.waitForServerClose())
        let elapsed = ContinuousClock.now - start
        // Fired, not precise: after the configured second, and before the 10 s default would
        // have (a loaded machine can run the timer seconds late, so no tighter bound).
        #expect(elapsed >= .milliseconds(900))
        #expect(elapsed < .seconds(TLSServerConfiguration().handshakeTimeoutSeconds))
        #expect(await server.waitFor { $0 == .error(.handshakeTimedOut) } != nil)
        raw.close()
    }
}

@Suite("Server-initiated close")
struct ServerCloseTests {
    @Test("data arriving after the server's close_notify is still read until the peer's close_notify")
    func readsWhileClosing() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files },
                                          application: .send(count: 10))
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: clientTimeoutSeconds)
        #expect(try client.read(exactly: 10) == pattern(10))
        try client.write(Array("late".utf8))  // the server has already sent close_notify
        #expect(try client.read() == nil)
        client.sendCloseNotify()
        #expect(await server.waitFor { $0 == .read(4) } != nil)
        #expect(await server.waitFor { $0 == .inactive } != nil)
        #expect(!server.snapshot.contains { if case .error = $0 { true } else { false } })
    }

    @Test("a peer that never answers close_notify is disconnected after the shutdown timeout")
    func shutdownTimeout() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider {
            $0.defaultCertificate = files
            $0.shutdownTimeoutSeconds = 1
        }, application: .send(count: 10))
        defer { Task { await server.shutdown() } }
        // The server's shutdown clock starts after its close_notify left, so certainly after
        // this: measuring from here (not from when the client got to read the close_notify,
        // which on a loaded machine can be later than the timer's start) gives a sound lower bound.
        let start = ContinuousClock.now
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: clientTimeoutSeconds)
        #expect(try client.read(exactly: 10) == pattern(10))
        #expect(try client.read() == nil)  // close_notify; the client stays silent
        #expect(await server.waitFor { $0 == .inactive } != nil)
        #expect(ContinuousClock.now - start >= .milliseconds(990))
        client.closeAbruptly()
    }
}

@Suite("Backpressure")
struct BackpressureTests {
    @Test("a client that writes without reading an echo is stopped by TCP, not buffered by the server")
    func serverStopsReadingWhenItCannotWrite() async throws {
        let pki = try TestPKI()
        let files = try pki.leaf("default", hostnames: ["default.test"])
        let server = try await TestServer(provider: makeProvider { $0.defaultCertificate = files })
        defer { Task { await server.shutdown() } }
        let client = try BlockingTLSClient(port: server.port, context: TLSProbeContext(), timeoutSeconds: 2)
        let chunk = pattern(65_536)
        var written = 0
        let limit = 96 * 1_048_576
        do {
            while written < limit {
                try client.write(chunk)
                written += chunk.count
            }
        } catch {
            // The send timed out: the server stopped reading once its echoes could not be sent.
        }
        // Socket buffers on both sides hold some megabytes; without backpressure the server would
        // read (and queue in memory) everything the client sends.
        #expect(written < limit, "the server kept reading \(written) bytes it could not echo")
        client.closeAbruptly()
    }
}
