import Foundation
import Relay
import Sealing
import SupportBotDemoStore
import Testing
import TranscriptStore

/// End to end over real TLS on loopback: the relay with the demo shop, and an independent
/// WebSocket client (hand-written frames over a blocking OpenSSL client).
@Suite(.serialized) struct RelayEndToEndTests {
    @Test func wholeConversationMasksSecretsEverywhere() async throws {
        let relay = try await RelayHarness.start()
        let completed = try #require(relay.demo.orders.first { $0.status == .completed && !$0.cardKeys.isEmpty })
        let cardKey = completed.cardKeys[0]
        let phone = "13912345678"
        let port = relay.port, root = relay.demo.rootCertificatePath

        let transcript = try await offPool { () -> (session: String, frames: [String]) in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            let session = try startChat(ws)
            var frames: [[String: Any]] = []
            // An order question in Chinese.
            try ws.send(["type": "message", "client_id": "m1", "text": "我的订单\(completed.number)发货了吗？"])
            let (reply1, before1) = try ws.receive(until: "message")
            frames += before1 + [reply1]
            #expect(reply1["role"] as? String == "customer")
            #expect(reply1["client_id"] as? String == "m1")
            #expect((reply1["text"] as? String)?.contains(completed.number) == true, "order numbers stay in clear")
            let bot1 = try ws.receive()
            frames.append(bot1)
            #expect(bot1["type"] as? String == "message")
            #expect(bot1["role"] as? String == "bot")
            #expect(!((bot1["text"] as? String) ?? "").isEmpty)

            // A message with a phone number and an issued card key.
            try ws.send(["type": "message", "client_id": "m2", "text": "卡密\(cardKey)用不了，我的手机\(phone)"])
            let echo = try ws.receive()
            frames.append(echo)
            #expect(echo["role"] as? String == "customer")
            let echoed = try #require(echo["text"] as? String)
            #expect(echoed.contains("[CARD_KEY]"))
            #expect(echoed.contains("[PHONE"))
            let notice = try ws.receive()
            frames.append(notice)
            #expect(notice["type"] as? String == "redacted")
            let types = try #require(notice["types"] as? [String])
            #expect(Set(types) == ["card_key", "phone"])
            #expect((notice["notice"] as? String)?.contains("卡密") == true)
            let bot2 = try ws.receive()
            frames.append(bot2)
            #expect(bot2["role"] as? String == "bot")
            try ws.send(["type": "bye"])
            #expect(try ws.receiveClose() == 1000)
            return (session, frames.map { String(decoding: try! JSONSerialization.data(withJSONObject: $0), as: UTF8.self) })
        }

        // What the client saw, what the logs say, what is on disk: never the planted values.
        let everythingSent = transcript.frames.joined(separator: "\n")
        #expect(transcript.frames.count == 5)
        for secret in [cardKey, phone] {
            #expect(!everythingSent.contains(secret))
            #expect(!relay.logs.text.contains(secret))
        }
        // Metrics count what happened, with no personal data in labels.
        let metrics = try await offPool { try relay.httpGet("/metrics") }
        #expect(metrics.hasPrefix("HTTP/1.1 200"))
        #expect(metrics.contains(#"kamirelay_redactions_total{type="card_key"} 1"#))
        #expect(metrics.contains(#"kamirelay_redactions_total{type="phone"} 1"#))
        #expect(metrics.contains(#"kamirelay_messages_total{channel="web",direction="in",role="customer"} 2"#))
        #expect(metrics.contains(#"kamirelay_messages_total{channel="web",direction="out",role="bot"} 3"#))
        #expect(metrics.contains("kamirelay_chats_started_total 1"))
        #expect(metrics.contains("kamirelay_reply_seconds_count 2"))
        #expect(metrics.contains("kamirelay_store_write_seconds_count 5"))
        for secret in [cardKey, phone, transcript.session, completed.number] { #expect(!metrics.contains(secret)) }
        try await relay.shutdown()
        let disk = try relay.dataDirectoryBytes()
        #expect(disk.count > 10_000)
        for secret in [cardKey, phone, "用不了"] { #expect(!disk.contains(secret), "the store is sealed") }

        // The sealed transcript decrypts to the redacted conversation, in order.
        let stored = try await relay.demo.store.transcript(tenant: RelayDemo.tenant, session: transcript.session)
        #expect(stored.map(\.role) == [.bot, .customer, .bot, .customer, .bot])
        #expect(stored[3].text.contains("[CARD_KEY]") && stored[3].text.contains("用不了"))
        for message in stored { #expect(!message.text.contains(cardKey) && !message.text.contains(phone)) }
        try? FileManager.default.removeItem(atPath: (relay.directory as NSString).deletingLastPathComponent)
    }

    @Test func resentMessageIsStoredAndAnsweredOnce() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        let session = try await offPool { () -> String in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            let session = try startChat(ws)
            try ws.send(["type": "message", "client_id": "same-1", "text": "怎么退款？"])
            #expect(try ws.receive()["role"] as? String == "customer")
            #expect(try ws.receive()["role"] as? String == "bot")
            try ws.send(["type": "message", "client_id": "same-1", "text": "怎么退款？"])
            let again = try ws.receive()
            #expect(again["type"] as? String == "duplicate")
            #expect(again["client_id"] as? String == "same-1")
            // The chat goes on normally afterwards.
            try ws.send(["type": "message", "client_id": "same-2", "text": "谢谢"])
            #expect(try ws.receive()["client_id"] as? String == "same-2")
            #expect(try ws.receive()["role"] as? String == "bot")
            // CSAT at the end is stored in the transcript as a system record.
            try ws.send(["type": "feedback", "csat": 5])
            #expect(try ws.receive()["type"] as? String == "feedback_received")
            return session
        }
        try await relay.shutdown()
        let stored = try await relay.demo.store.transcript(tenant: RelayDemo.tenant, session: session)
        #expect(stored.filter { $0.role == .customer }.map(\.text) == ["怎么退款？", "谢谢"])
        #expect(stored.filter { $0.role == .bot }.count == 3)  // greeting + one answer each
        #expect(stored.last?.role == .system && stored.last?.text == "feedback: csat 5")
        try? FileManager.default.removeItem(atPath: (relay.directory as NSString).deletingLastPathComponent)
    }

    @Test func resumeAfterReconnectDeliversMissedMessagesAndKeepsIdempotency() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        // First connection: greeting (id 0), then a message whose answer the client never reads.
        let (session, token) = try await offPool { () -> (String, String) in
            let ws = try TestWebSocket(port: port, rootCA: root)
            try ws.send(["type": "hello", "language": "zh"])
            let welcome = try ws.receive()
            #expect(welcome["resumed"] as? Bool == false)
            let token = try #require(welcome["resume_token"] as? String)
            #expect(try ws.receive()["id"] as? Int == 0)
            try ws.send(["type": "message", "client_id": "r1", "text": "我的手机13812345678，怎么退款？"])
            ws.tls.closeAbruptly()  // the network drops
            return (try #require(welcome["session"] as? String), token)
        }
        // Wait until the server noticed and answered (it stores the answer even with nobody there).
        _ = try await eventually { relay.server.resumes.count > 0 }
        #expect(relay.server.resumes.count == 1)

        try await offPool {
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello", "resume": token, "last_id": 0])
            let welcome = try ws.receive()
            #expect(welcome["type"] as? String == "welcome")
            #expect(welcome["session"] as? String == session)
            #expect(welcome["resumed"] as? Bool == true)
            #expect(welcome["resume_token"] as? String != token, "a token works once")
            let missedCustomer = try ws.receive()
            #expect(missedCustomer["role"] as? String == "customer")
            #expect(missedCustomer["id"] as? Int == 1)
            let text = try #require(missedCustomer["text"] as? String)
            #expect(text.contains("[PHONE") && !text.contains("13812345678"), "redacted text only")
            let missedBot = try ws.receive()
            #expect(missedBot["role"] as? String == "bot")
            #expect(missedBot["id"] as? Int == 2)
            // The resent message is recognised across the reconnect.
            try ws.send(["type": "message", "client_id": "r1", "text": "我的手机13812345678，怎么退款？"])
            #expect(try ws.receive()["type"] as? String == "duplicate")
        }
        // The old token is spent; an unknown one starts a new chat with a clear error first.
        try await offPool {
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try ws.send(["type": "hello", "resume": token])
            #expect(try ws.receive()["code"] as? String == "resume_failed")
            let welcome = try ws.receive()
            #expect(welcome["resumed"] as? Bool == false)
            #expect(welcome["session"] as? String != session)
        }
        try await relay.finish()
    }

    @Test func protocolErrorsAreTypedAndTheChatGoesOn() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        try await offPool {
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try ws.sendText("{not json")
            #expect(try ws.receive()["code"] as? String == "invalid_json")
            try ws.send(["type": "message", "client_id": "x", "text": "hi"])
            #expect(try ws.receive()["code"] as? String == "hello_required")
            try ws.send(["type": "launch_missiles"])
            #expect(try ws.receive()["code"] as? String == "unknown_type")
            try ws.sendFrame(opcode: 2, payload: [1, 2, 3])
            #expect(try ws.receive()["code"] as? String == "binary_not_supported")
            try startChat(ws)
            try ws.send(["type": "message", "client_id": "bad id!", "text": "hi"])
            #expect(try ws.receive()["code"] as? String == "invalid_client_id")
            try ws.send(["type": "message", "client_id": "long", "text": String(repeating: "长", count: 2_001)])
            #expect(try ws.receive()["code"] as? String == "message_too_long")
            try ws.send(["type": "message", "client_id": "ok", "text": "你好"])
            #expect(try ws.receive()["role"] as? String == "customer")
        }
        try await relay.finish()
    }

    @Test func oversizedFrameClosesWith1009() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        let code = try await offPool { () -> Int? in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try startChat(ws)
            try ws.sendText(String(repeating: "a", count: 20_000))
            return try ws.receiveClose()
        }
        #expect(code == 1009)
        try await relay.finish()
    }

    @Test func invalidUTF8ClosesWith1007() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        let code = try await offPool { () -> Int? in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try startChat(ws)
            try ws.sendFrame(opcode: 1, payload: Array(#"{"type":"message","client_id":"u","text":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8))
            return try ws.receiveClose()
        }
        #expect(code == 1007)
        try await relay.finish()
    }

    @Test func rateLimitRefusesWithAnErrorFrame() async throws {
        var limits = RelayLimits()
        limits.messageBurst = 2
        limits.messagesPerSecond = 0.01
        let relay = try await RelayHarness.start(limits: limits)
        let port = relay.port, root = relay.demo.rootCertificatePath
        try await offPool {
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            try startChat(ws)
            for i in 1...2 {
                try ws.send(["type": "message", "client_id": "r\(i)", "text": "你好"])
                #expect(try ws.receive()["role"] as? String == "customer")
                #expect(try ws.receive()["role"] as? String == "bot")
            }
            try ws.send(["type": "message", "client_id": "r3", "text": "你好"])
            #expect(try ws.receive()["code"] as? String == "rate_limited")
        }
        try await relay.finish()
    }

    @Test func chatsPerAddressAreCapped() async throws {
        var limits = RelayLimits()
        limits.maxSessionsPerIP = 1
        let relay = try await RelayHarness.start(limits: limits)
        let port = relay.port, root = relay.demo.rootCertificatePath
        let (refusal, closeCode) = try await offPool { () -> (String?, Int?) in
            let first = try TestWebSocket(port: port, rootCA: root)
            defer { first.close() }
            try startChat(first)
            let second = try TestWebSocket(port: port, rootCA: root)
            defer { second.close() }
            let error = try second.receive()
            return (error["code"] as? String, try second.receiveClose())
        }
        #expect(refusal == "too_many_chats")
        #expect(closeCode == 1008)
        try await relay.finish()
    }

    @Test func unknownHostIsRefusedBeforeAnyChat() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        let status = try await offPool { () -> Int in
            do {
                _ = try TestWebSocket(port: port, rootCA: root, hostHeader: "evil.example")
                return 101
            } catch let refused as TestWebSocket.UpgradeRefused { return refused.status }
        }
        #expect(status == 421)
        let http = try await offPool { try relay.httpGet("/healthz", hostHeader: "evil.example") }
        #expect(http.hasPrefix("HTTP/1.1 421"))
        try await relay.finish()
    }

    @Test func healthWithSecurityHeaders() async throws {
        let relay = try await RelayHarness.start()
        let response = try await offPool { try relay.httpGet("/healthz") }.lowercased()
        #expect(response.hasPrefix("http/1.1 200"))
        #expect(response.contains("strict-transport-security: max-age=31536000"))
        #expect(response.contains("content-security-policy: default-src 'none'"))
        #expect(response.contains("x-content-type-options: nosniff"))
        let ready = try await offPool { try relay.httpGet("/readyz") }
        #expect(ready.hasPrefix("HTTP/1.1 200"))
        try await relay.finish()
    }

    @Test func gracefulShutdownFinishesInFlightMessageAndSends1001() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        let (session, botRole, closeCode) = try await offPool { () -> (String, String?, Int?) in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            let session = try startChat(ws)
            try ws.send(["type": "message", "client_id": "last", "text": "订单什么时候发货？"])
            #expect(try ws.receive()["client_id"] as? String == "last")  // acknowledged: stored
            // Shut down (as on SIGTERM) while the bot's answer to "last" may still be in flight.
            Task { await relay.group.triggerGracefulShutdown() }
            let reply = try ws.receive()
            return (session, reply["role"] as? String, try ws.receiveClose())
        }
        try await relay.run.value
        #expect(botRole == "bot")
        #expect(closeCode == 1001)
        // New connections are no longer accepted.
        let refused = try await offPool { () -> Bool in
            do { _ = try TestWebSocket(port: port, rootCA: root); return false } catch { return true }
        }
        #expect(refused)
        // Reopen the store from disk: everything acknowledged is there.
        let file = try MasterKeyFile(contentsOf: relay.demo.keysDirectory + "/master.key")
        let ring = MasterKeyring(currentID: file.keyID, key: try file.unlock(passphrase: Array(RelayDemo.developmentPassphrase.utf8)))
        let reopened = try SQLiteTranscriptStore(path: relay.directory + "/transcripts.sqlite", masterKeys: ring)
        let stored = try await reopened.transcript(tenant: RelayDemo.tenant, session: session)
        #expect(stored.map(\.role) == [.bot, .customer, .bot])
        #expect(stored[1].text == "订单什么时候发货？")
        try? FileManager.default.removeItem(atPath: (relay.directory as NSString).deletingLastPathComponent)
    }
}

@Suite(.serialized) struct WidgetServingTests {
    @Test func widgetPageHasAStrictPolicyAndNoThirdPartyResources() async throws {
        let relay = try await RelayHarness.start()
        let page = try await offPool { try relay.httpGet("/") }
        let script = try await offPool { try relay.httpGet("/widget.js") }
        let heads = try await offPool { try ["/", "/widget.js"].map { try relay.https("HEAD", $0) } }
        try await relay.finish()
        for head in heads {
            #expect(head.status == 200 && head.body.isEmpty && head.head.contains("content-security-policy: default-src 'none'"), "\(head.status) \(head.head)")
        }
        let head = page.lowercased()
        #expect(head.hasPrefix("http/1.1 200"))
        #expect(head.contains("content-type: text/html; charset=utf-8"))
        #expect(head.contains("content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'"))
        #expect(!head.contains("unsafe-inline") && !head.contains("unsafe-eval"))
        #expect(head.contains("strict-transport-security: max-age=31536000"))
        #expect(page.contains(#"<script src="/widget.js"></script>"#))
        #expect(!page.contains("http://") && !page.contains("https://"), "no third-party resources")
        #expect(script.hasPrefix("HTTP/1.1 200"))
        #expect(script.contains("new WebSocket(wsURL)"))
        #expect(!script.contains("innerHTML"), "text is only ever set as text")
    }
}
