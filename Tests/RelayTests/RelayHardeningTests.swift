import Compliance
import Foundation
import Relay
import Sealing
import Testing
import TLSProbe
import TranscriptStore

/// Origin check, the plain-HTTP redirect, subject linking, resume across a restart, idle timeout.
@Suite(.serialized) struct RelayHardeningTests {
    @Test func foreignOriginsAreRefusedBeforeTheUpgrade() async throws {
        let relay = try await RelayHarness.start(allowedOrigins: ["https://www.shop.example"])
        let port = relay.port, root = relay.demo.rootCertificatePath
        func upgrade(origin: String?) async throws -> (status: Int, head: String) {
            try await offPool { () -> (Int, String) in
                do {
                    let ws = try TestWebSocket(port: port, rootCA: root, origin: origin)
                    ws.close()
                    return (101, ws.responseHead.lowercased())
                } catch let refused as TestWebSocket.UpgradeRefused { return (refused.status, refused.head.lowercased()) }
            }
        }
        #expect(try await upgrade(origin: nil).status == 101, "clients that are not browsers send no Origin")
        #expect(try await upgrade(origin: "https://localhost:\(port)").status == 101, "the widget served by the relay itself")
        #expect(try await upgrade(origin: "HTTPS://LOCALHOST:\(port)").status == 101)
        #expect(try await upgrade(origin: "https://www.shop.example").status == 101, "a configured embedding site")
        let evil = try await upgrade(origin: "https://evil.example")
        #expect(evil.status == 403)
        #expect(evil.head.contains("strict-transport-security: max-age=31536000"), "security headers on the refusal too")
        #expect(evil.head.contains("content-security-policy: default-src 'none'"))
        #expect(try await upgrade(origin: "https://localhost").status == 403, "the port is part of the origin")
        #expect(try await upgrade(origin: "http://localhost:\(port)").status == 403)
        #expect(try await upgrade(origin: "null").status == 403)
        #expect(try await upgrade(origin: "https://www.shop.example.evil.example").status == 403)
        try await relay.shutdown()
        #expect(relay.logs.text.contains("relay.origin_refused"))
        #expect(!relay.logs.text.contains("evil.example"), "refusals are logged without request content")
        try? FileManager.default.removeItem(atPath: (relay.directory as NSString).deletingLastPathComponent)
    }

    @Test func plainHTTPOnlyRedirectsToHTTPS() async throws {
        let relay = try await RelayHarness.start(httpPort: 0)
        #expect(try await eventually { relay.server.httpPort != nil }, "the redirect listener started")
        let port = try #require(relay.server.httpPort), httpsPort = relay.port
        let redirect = try RelayHarness.parseHTTP(try await offPool {
            try plainHTTP(port: port, "GET /chat/x?a=1 HTTP/1.1\r\nHost: LOCALHOST:\(port)\r\nConnection: close\r\n\r\n")
        })
        #expect(redirect.status == 308)
        #expect(redirect.head.contains("location: https://localhost:\(httpsPort)/chat/x?a=1"))
        #expect(redirect.head.contains("x-content-type-options: nosniff") && redirect.head.contains("content-security-policy"))
        // The redirect target is always a tenant host: an absolute-form URI cannot pick another.
        let absolute = try RelayHarness.parseHTTP(try await offPool {
            try plainHTTP(port: port, "GET http://evil.example//evil.example/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        })
        #expect(absolute.status == 308)
        #expect(absolute.head.contains("location: https://localhost:\(httpsPort)/"))
        #expect(!absolute.head.contains("location: https://evil.example"))
        let post = try RelayHarness.parseHTTP(try await offPool {
            try plainHTTP(port: port, "POST /v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        })
        #expect(post.status == 308, "308 keeps the method: the client repeats it over HTTPS")
        let unknown = try RelayHarness.parseHTTP(try await offPool {
            try plainHTTP(port: port, "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        })
        #expect(unknown.status == 421 && !unknown.head.contains("location:"))
        try await relay.finish()
    }

    /// Identifiers the redactor finds link the chat to its data subject; an erasure of the
    /// subject then removes the chat.
    @Test func identifiersInAChatLinkTheSessionSoErasureFindsIt() async throws {
        let relay = try await RelayHarness.start()
        let order = try #require(relay.demo.orders.first { $0.status == .completed })
        let port = relay.port, root = relay.demo.rootCertificatePath
        let (session, token) = try await offPool { () -> (String, String) in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello"])
            let welcome = try ws.receive()
            _ = try ws.receive()
            let session = try #require(welcome["session"] as? String)
            try ws.send(["type": "message", "client_id": "l1", "text": "我的手机是 138-1234-5678，邮箱 Alice.Doe@Example.com"])
            _ = try ws.receive(until: "message")
            _ = try ws.receive(until: "message")  // the bot's answer
            try ws.send(["type": "message", "client_id": "l2", "text": "订单号 \(order.number)"])
            _ = try ws.receive(until: "message")
            _ = try ws.receive(until: "message")
            return (session, try #require(welcome["resume_token"] as? String))
        }
        try await relay.shutdown()
        let store = relay.demo.store
        for subject in [SubjectIdentifier.phone("+86 138 1234 5678"), .email("alice.doe@example.com"), .orderNumber(order.number)] {
            #expect(try await store.sessions(tenant: RelayDemo.tenant, subject: subject).map(\.id) == [session], "\(subject.kind.name)")
        }
        #expect(try await store.sessions(tenant: RelayDemo.tenant, subject: .phone("13900000000")).isEmpty)
        // Neither identifier is on disk in clear (blind indexes only).
        let disk = try relay.dataDirectoryBytes()
        for secret in ["13812345678", "138-1234-5678", "Alice.Doe@Example.com", "alice.doe@example.com"] { #expect(!disk.contains(secret)) }

        let compliance = Compliance(store: store, ledger: try ComplianceLedger(path: relay.directory + "/compliance.sqlite"))
        _ = try await compliance.erase(tenant: RelayDemo.tenant, subject: .email("alice.doe@example.com"), requestID: "DSR-1",
                                       actor: "test", dryRun: false)
        await #expect(throws: (any Error).self) { _ = try await store.transcript(tenant: RelayDemo.tenant, session: session) }
        #expect(try await store.sessions(tenant: RelayDemo.tenant, subject: .phone("13812345678")).isEmpty)
        // The erased chat cannot be resumed; its sealed resume state is deleted on the attempt.
        let restarted = try await RelayHarness.start(directory: relay.directory)
        let port2 = restarted.port
        let resumed = try await offPool { () -> (String?, Bool?) in
            let ws = try TestWebSocket(port: port2, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello", "resume": token])
            let error = try ws.receive()
            let welcome = try ws.receive()
            return (error["code"] as? String, welcome["resumed"] as? Bool)
        }
        #expect(resumed.0 == "resume_failed" && resumed.1 == false)
        #expect(try await restarted.demo.state.deleteChats(tenant: RelayDemo.tenant, session: session) == 0)
        try await restarted.finish()
    }

    /// A phone number typed in Chinese numerals, or split over two messages, links the chat to
    /// its subject just like a plainly written one, so erasure by that number finds the chat.
    @Test func obfuscatedAndSplitPhoneNumbersLinkTheSession() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        let sessions = try await offPool { () -> [String] in
            var sessions: [String] = []
            for messages in [["我的手机是 一三九 八七六五 四三二一"], ["我的手机是137 0000", "1111 麻烦回电"], ["my number is +44 7700", "900123 thanks"]] {
                let ws = try TestWebSocket(port: port, rootCA: root)
                defer { ws.close() }
                try ws.send(["type": "hello"])
                sessions.append(try #require(try ws.receive()["session"] as? String))
                _ = try ws.receive()
                for (i, text) in messages.enumerated() {
                    try ws.send(["type": "message", "client_id": "o\(i)", "text": text])
                    _ = try ws.receive(until: "message")
                    _ = try ws.receive(until: "message")
                }
            }
            return sessions
        }
        try await relay.shutdown()
        let store = relay.demo.store
        #expect(try await store.sessions(tenant: RelayDemo.tenant, subject: .phone("13987654321")).map(\.id) == [sessions[0]])
        #expect(try await store.sessions(tenant: RelayDemo.tenant, subject: .phone("+86 137 0000 1111")).map(\.id) == [sessions[1]])
        #expect(try await store.sessions(tenant: RelayDemo.tenant, subject: .phone("+44 7700 900123")).map(\.id) == [sessions[2]])
        let disk = try relay.dataDirectoryBytes()
        for secret in ["13987654321", "13700001111", "一三九 八七六五"] { #expect(!disk.contains(secret)) }
    }

    /// A subject erased while their chat is open: the chat's next message is not stored, the
    /// erased session is not re-created by the link step, and the chat ends (not resumable).
    @Test func aChatErasedWhileOpenEndsWithoutRecreatingTheSession() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        let store = relay.demo.store
        let compliance = Compliance(store: store, ledger: try ComplianceLedger(path: relay.directory + "/compliance.sqlite"))
        let outcome = try await offPool { () -> (session: String, code: String?, closed: Bool) in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello"])
            let session = try #require(try ws.receive()["session"] as? String)
            _ = try ws.receive()
            try ws.send(["type": "message", "client_id": "e1", "text": "我的邮箱 erased.while.open@example.com"])
            _ = try ws.receive(until: "message")
            _ = try ws.receive(until: "message")
            let erased = DispatchSemaphore(value: 0)
            Task {
                _ = try? await compliance.erase(tenant: RelayDemo.tenant, subject: .email("erased.while.open@example.com"),
                                                requestID: "DSR-OPEN", actor: "test", dryRun: false)
                erased.signal()
            }
            erased.wait()
            // Names a phone: the link step must not bring the erased session back.
            try ws.send(["type": "message", "client_id": "e2", "text": "电话 13912345678"])
            let error = try ws.receive(until: "error").frame
            return (session, error["code"] as? String, try ws.receiveClose() != nil)
        }
        #expect(outcome.code == "chat_closed")
        #expect(outcome.closed, "the chat ends")
        await #expect(throws: (any Error).self) { _ = try await store.session(tenant: RelayDemo.tenant, session: outcome.session) }
        #expect(try await store.sessions(tenant: RelayDemo.tenant, subject: .phone("13912345678")).isEmpty)
        try await relay.finish()
    }

    /// A graceful shutdown tells clients 1001 "reconnect shortly": after a real restart on the
    /// same data directory the resume token still works.
    @Test func resumeTokenSurvivesARestart() async throws {
        let first = try await RelayHarness.start()
        let port = first.port, root = first.demo.rootCertificatePath
        let (session, token, closeCode) = try await offPool { () -> (String, String, Int?) in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello", "language": "en"])
            let welcome = try ws.receive()
            _ = try ws.receive()
            try ws.send(["type": "message", "client_id": "k1", "text": "my phone is 13812345678, how do refunds work?"])
            _ = try ws.receive(until: "message")
            _ = try ws.receive(until: "message")
            // The server restarts (SIGTERM): close 1001.
            Task { await first.group.triggerGracefulShutdown() }
            return (try #require(welcome["session"] as? String), try #require(welcome["resume_token"] as? String), try ws.receiveClose())
        }
        try await first.run.value
        #expect(closeCode == 1001)
        // The token and the phone number are not on disk in clear; the state is sealed.
        let disk = try first.dataDirectoryBytes()
        #expect(!disk.contains(token) && !disk.contains("13812345678"))
        #expect(try await first.demo.state.chatStateCount() == 1)

        let second = try await RelayHarness.start(directory: first.directory)
        let port2 = second.port
        try await offPool {
            let ws = try TestWebSocket(port: port2, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello", "resume": token, "last_id": 0])
            let welcome = try ws.receive()
            #expect(welcome["resumed"] as? Bool == true)
            #expect(welcome["session"] as? String == session)
            #expect(welcome["language"] as? String == "en")
            let missed = try ws.receive()
            #expect(missed["id"] as? Int == 1 && (missed["text"] as? String)?.contains("[PHONE") == true)
            #expect(try ws.receive()["id"] as? Int == 2)
            // Answered client ids survived too.
            try ws.send(["type": "message", "client_id": "k1", "text": "my phone is 13812345678, how do refunds work?"])
            #expect(try ws.receive()["type"] as? String == "duplicate")
        }
        // The token worked once.
        try await offPool {
            let ws = try TestWebSocket(port: port2, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello", "resume": token])
            #expect(try ws.receive()["code"] as? String == "resume_failed")
            _ = try ws.receive(until: "message")
            try ws.send(["type": "bye"])
            _ = try ws.receiveClose()
        }
        try await second.shutdown()
        // All sealed state of one session can be removed (what an erasure of it needs).
        #expect(try await second.demo.state.deleteChats(tenant: RelayDemo.tenant, session: session) == 1)
        #expect(try await second.demo.state.chatStateCount() == 0)
        try? FileManager.default.removeItem(atPath: (second.directory as NSString).deletingLastPathComponent)
    }

    /// A client that stops reading cannot make the server buffer its frames without bound: the
    /// write that does not complete within the write timeout ends the connection. The flood
    /// here is a resume of a chat with 12 MB of stored messages that the client never reads.
    @Test func aClientThatStopsReadingIsDisconnected() async throws {
        signal(SIGPIPE, SIG_IGN)  // the test client may write into the closed connection
        var limits = RelayLimits()
        limits.writeTimeout = .milliseconds(300)
        let relay = try await RelayHarness.start(limits: limits)
        let port = relay.port, root = relay.demo.rootCertificatePath
        let (session, token) = try await offPool { () -> (String, String) in
            let ws = try TestWebSocket(port: port, rootCA: root)
            try ws.send(["type": "hello"])
            let welcome = try ws.receive()
            ws.tls.closeAbruptly()
            return (try #require(welcome["session"] as? String), try #require(welcome["resume_token"] as? String))
        }
        _ = try await eventually { relay.server.resumes.count > 0 }
        let big = String(repeating: "长", count: 2_000)  // 6 KB per message frame
        _ = try await relay.demo.store.append((0..<2_000).map { _ in
            PendingMessage(tenant: RelayDemo.tenant, session: session, role: .bot, text: big)
        })
        let (gaveUp, received, readEnd) = try await offPool { () -> (Bool, Int, String) in
            let ws = try TestWebSocket(port: port, rootCA: root, receiveBufferBytes: 4_096)
            defer { ws.close() }
            try ws.send(["type": "hello", "resume": token])
            // Do not read: the server's write stalls and it gives up on us. Wait for that event,
            // not for a fixed time (on a loaded machine the server may not even have started
            // writing within a second or two, and then would never need to give up).
            let gaveUp = waitUntil { relay.logs.text.contains("chat.slow_reader_closed") }
            // Then read what is left: the stream ends early instead of delivering all 12 MB.
            var total = 0
            do {
                while let more = try ws.tls.read() { total += more.count }
                return (gaveUp, total, "close_notify")
            } catch TLSProbeError.timedOut {
                return (gaveUp, total, "timed out")  // the server kept the connection open
            } catch {
                return (gaveUp, total, "closed")
            }
        }
        #expect(gaveUp, "the server gave up on the stalled write")
        #expect(received < 8_000_000, "the server stopped sending and closed (got \(received) bytes of ~12 MB)")
        #expect(readEnd != "timed out", "the server closed the connection")
        let metrics = try await offPool { try relay.httpGet("/metrics") }
        #expect(metrics.contains("kamirelay_slow_readers_total 1"))
        _ = try await eventually { relay.server.resumes.count > 0 }
        #expect(relay.server.resumes.count == 1, "the chat stays resumable")
        try await relay.shutdown()
        #expect(relay.logs.text.contains("chat.slow_reader_closed"))
        try? FileManager.default.removeItem(atPath: (relay.directory as NSString).deletingLastPathComponent)
    }

    @Test func idleChatsAreClosedAndStayResumable() async throws {
        var limits = RelayLimits()
        limits.idleTimeout = .milliseconds(300)
        let relay = try await RelayHarness.start(limits: limits)
        let port = relay.port, root = relay.demo.rootCertificatePath
        let (session, token, error, code) = try await offPool { () -> (String, String, (type: String?, code: String?), Int?) in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello"])
            let welcome = try ws.receive()
            _ = try ws.receive()
            // Nothing more is sent: after the idle timeout the server says so and closes.
            let error = try ws.receive()
            return (try #require(welcome["session"] as? String), try #require(welcome["resume_token"] as? String),
                    (error["type"] as? String, error["code"] as? String), try ws.receiveClose())
        }
        #expect(error.type == "error" && error.code == "idle_timeout")
        #expect(code == 1000)
        _ = try await eventually { relay.server.resumes.count > 0 }
        let resumed = try await offPool { () -> (resumed: Bool?, session: String?) in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello", "resume": token])
            let welcome = try ws.receive()
            return (welcome["resumed"] as? Bool, welcome["session"] as? String)
        }
        #expect(resumed.resumed == true && resumed.session == session)
        try await relay.finish()
    }
}
