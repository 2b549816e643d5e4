import AgentDesk
import Compliance
import Foundation
@testable import Relay
import Redaction
import Sealing
import ServiceLifecycle
import SupportBot
import SupportBotDemoStore
import Testing
import TLSProbe

/// A demo relay with the agent desk: tenant `demo` (Host localhost) and tenant `shop-b`
/// (Host shop-b.test, same bot), agents ann (demo, agent), sue (demo, supervisor), bob (shop-b, agent).
final class AgentRelayHarness: Sendable {
    let directory: String
    let demo: RelayDemo
    let hub: AgentHub
    let server: RelayServer
    let group: ServiceGroup
    let run: Task<Void, any Error>
    let port: Int
    let logs: CapturedLogs
    static let password = "correct horse battery"

    /// - Parameters:
    ///   - directory: an existing data directory to start on (a restart); a fresh one otherwise.
    ///   - clock: the agent desk's clock (waiting times, grace periods, service levels).
    static func start(policies: [String: AgentDeskPolicy] = [:], directory existing: String? = nil,
                      clock: @escaping @Sendable () -> Date = { Date() },
                      erasureCheck: Duration? = nil) async throws -> AgentRelayHarness {
        let directory: String
        if let existing {
            directory = existing
        } else {
            var template = Array((NSTemporaryDirectory() + "/kamirelay-agents-XXXXXX").utf8CString)
            guard let dir = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
            directory = String(cString: dir) + "/data"
        }
        let demo = try await RelayDemo.prepare(dataDirectory: directory, kdf: .minimumForTests)
        if existing == nil { try await demo.store.addTenant("shop-b") }
        let shopB = TenantRuntime(id: "shop-b", hostnames: ["shop-b.test"], redactor: demo.tenantRuntime.redactor, bot: demo.tenantRuntime.bot)
        let tenants = TenantDirectory([demo.tenantRuntime, shopB])
        let logs = CapturedLogs()
        let hub = try await AgentDeskSetup.open(dataDirectory: directory, store: demo.store, tenants: tenants, policies: policies,
                                                passwordParameters: .minimumForTests, clock: clock, logger: logs.logger, state: demo.state)
        for (tenant, name, role) in [("demo", "ann", AgentRole.agent), ("demo", "sue", .supervisor), ("shop-b", "bob", .agent)]
        where try hub.authenticator.store.account(tenant: tenant, username: name) == nil {
            try hub.authenticator.store.addAccount(tenant: tenant, username: name, role: role,
                                                   passwordHash: try PasswordHash.hash(Array(password.utf8), parameters: .minimumForTests))
        }
        var configuration = RelayServerConfiguration(host: "127.0.0.1", port: 0, tls: demo.tls)
        if let erasureCheck { configuration.erasureCheckInterval = erasureCheck }
        let server = try RelayServer(configuration: configuration,
                                     tenants: tenants, store: demo.store, state: demo.state, logger: logs.logger, agents: hub)
        let (group, run, port) = try await startServing(server)
        return AgentRelayHarness(directory: directory, demo: demo, hub: hub, server: server, group: group, run: run, port: port, logs: logs)
    }

    private init(directory: String, demo: RelayDemo, hub: AgentHub, server: RelayServer, group: ServiceGroup, run: Task<Void, any Error>,
                 port: Int, logs: CapturedLogs) {
        self.directory = directory
        self.demo = demo
        self.hub = hub
        self.server = server
        self.group = group
        self.run = run
        self.port = port
        self.logs = logs
    }

    /// Graceful shutdown, as on SIGTERM; the data directory stays (for a restart).
    func shutdown() async throws {
        await group.triggerGracefulShutdown()
        try await run.value
    }

    func finish() async throws {
        try await shutdown()
        try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent)
    }

    /// A customer's chat (SNI localhost for `demo`; no SNI for other hosts).
    func customer(host: String = "localhost") throws -> TestWebSocket {
        try TestWebSocket(port: port, rootCA: demo.rootCertificatePath, hostHeader: host, serverName: host == "localhost" ? "localhost" : nil)
    }

    struct Reply {
        var status: Int
        var headers: [String: String]
        var json: [String: Any]
    }

    /// One HTTPS request; `origin` defaults to the host's own.
    func request(_ method: String, _ path: String, host: String = "localhost", cookie: String? = nil, csrf: String? = nil,
                 origin: String?? = .none, bearer: String? = nil, body: [String: Any]? = nil) throws -> Reply {
        let context = try TLSProbeContext(trustedCertificatesFile: demo.rootCertificatePath)
        let client = try BlockingTLSClient(port: port, context: context, serverName: host == "localhost" ? "localhost" : nil, timeoutSeconds: clientTimeoutSeconds)
        let payload = body.map { try! JSONSerialization.data(withJSONObject: $0) } ?? Data()
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\nContent-Length: \(payload.count)\r\n"
        if !payload.isEmpty { head += "Content-Type: application/json\r\n" }
        let originValue: String? = origin ?? "https://\(host)"
        if let originValue { head += "Origin: \(originValue)\r\n" }
        if let cookie { head += "Cookie: \(AgentAuthenticator.cookieName)=\(cookie)\r\n" }
        if let csrf { head += "X-CSRF-Token: \(csrf)\r\n" }
        if let bearer { head += "Authorization: Bearer \(bearer)\r\n" }
        try client.write(Array((head + "\r\n").utf8) + [UInt8](payload))
        var raw: [UInt8] = []
        while let more = try? client.read() { raw += more }
        guard let split = raw.firstRange(of: Array("\r\n\r\n".utf8)) else { throw TestFailure("no HTTP response") }
        let lines = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        let json = (try? JSONSerialization.jsonObject(with: Data(raw[split.upperBound...]))) as? [String: Any] ?? [:]
        return Reply(status: status, headers: headers, json: json)
    }

    /// Logs in; returns the session token (from Set-Cookie) and the CSRF token.
    func login(_ username: String, host: String = "localhost") throws -> (token: String, csrf: String) {
        let reply = try request("POST", "/agent/api/login", host: host, body: ["username": username, "password": Self.password])
        guard reply.status == 200, let cookie = reply.headers["set-cookie"], let csrf = reply.json["csrf"] as? String,
              let token = AgentAuthenticator.token(fromCookieHeader: String(cookie.split(separator: ";")[0])) else {
            throw TestFailure("login failed: \(reply.status) \(reply.json)")
        }
        return (token, csrf)
    }

    /// The agent console's WebSocket.
    func agentSocket(token: String?, csrf: String?, host: String = "localhost", origin: String? = nil) throws -> TestWebSocket {
        var headers = ["Origin": origin ?? "https://\(host)"]
        if let token { headers["Cookie"] = "\(AgentAuthenticator.cookieName)=\(token)" }
        let path = "/agent/ws" + (csrf.map { "?csrf=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") } ?? "")
        return try TestWebSocket(port: port, rootCA: demo.rootCertificatePath, hostHeader: host,
                                 serverName: host == "localhost" ? "localhost" : nil, path: path, extraHeaders: headers)
    }

    func ledger() throws -> ComplianceLedger { try ComplianceLedger(path: directory + "/compliance.sqlite") }
}

/// Frames until one of `type` whose `key` is `value`; the ones before it are returned too.
func receive(_ ws: TestWebSocket, _ type: String, _ key: String, _ value: String) throws -> (frame: [String: Any], before: [[String: Any]]) {
    var before: [[String: Any]] = []
    while true {
        let frame = try ws.receive()
        if frame["type"] as? String == type, frame[key] as? String == value { return (frame, before) }
        before.append(frame)
    }
}

/// Sends a customer message and returns the frames up to its echo (inclusive).
@discardableResult
func say(_ ws: TestWebSocket, _ text: String, id: String) throws -> [String: Any] {
    try ws.send(["type": "message", "client_id": id, "text": text])
    while true {
        let frame = try ws.receive()
        if frame["type"] as? String == "message", frame["client_id"] as? String == id { return frame }
    }
}

@Suite("Human hand-off and the agent console", .serialized)
struct AgentHandoffTests {
    static let cardKey = "QWER-TYUI-PASD-FGHJ"
    static let phone = "13912345678"

    @Test("A hand-off queues the chat; an agent takes it, both sides talk, card keys stay masked, back to the bot; all audited")
    func handoffRoundTrip() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            try await offPool {
                let customer = try relay.customer()
                let session = try startChat(customer)
                try say(customer, "转人工", id: "c1")
                let handoff = try customer.receive(until: "handoff").frame
                #expect(handoff["state"] as? String == "queued" && handoff["reason"] as? String == "customer_asked")
                let told = try customer.receive(until: "queue")
                #expect(told.frame["position"] as? Int == 1)
                #expect((told.frame["expected_wait_seconds"] as? Int ?? 0) > 0)
                let notice = told.before.compactMap { $0["role"] as? String == "system" ? $0["text"] as? String : nil }
                #expect(notice.contains { $0.contains("人工客服") && $0.contains("预计等待") }, "told in Chinese: \(notice)")

                let (token, csrf) = try relay.login("ann")
                let agent = try relay.agentSocket(token: token, csrf: csrf)
                #expect(try agent.receive(until: "welcome").frame["agent"] as? String == "ann")
                let queue = try agent.receive(until: "queue").frame
                let queued = queue["queued"] as? [[String: Any]] ?? []
                #expect(queued.first?["session"] as? String == session)
                #expect(queued.first?["reason"] as? String == "customer_asked")
                let summary = queued.first?["summary"] as? String ?? ""
                #expect(summary.contains("转人工"), "the bot's summary")

                try agent.send(["type": "take", "session": session])
                let history = try agent.receive(until: "history").frame
                #expect((history["messages"] as? [[String: Any]] ?? []).contains { $0["text"] as? String == "转人工" })
                let joined = try customer.receive(until: "handoff").frame
                #expect(joined["state"] as? String == "agent_joined")

                // Customer → agent: typing, then a message with a card key and a phone number.
                try customer.send(["type": "typing"])
                #expect(try agent.receive(until: "typing").frame["session"] as? String == session)
                let echo = try say(customer, "卡密\(Self.cardKey)用不了，电话\(Self.phone)", id: "c2")
                #expect((echo["text"] as? String ?? "").contains("[CARD_KEY]"))
                let seen = try agent.receive(until: "message").frame
                let seenText = seen["text"] as? String ?? ""
                #expect(seen["role"] as? String == "customer")
                #expect(seenText.contains("[CARD_KEY]") && !seenText.contains(Self.cardKey) && !seenText.contains(Self.phone),
                        "the agent's screen shows the masked text: \(seenText)")

                // Agent → customer: a pasted card key is masked (this tenant does not let agents deliver keys).
                try agent.send(["type": "typing", "session": session])
                #expect(try customer.receive(until: "typing").frame["role"] as? String == "agent")
                try agent.send(["type": "reply", "session": session, "text": "新的卡密是 ZXCV-BNML-KJHG-FDSA，请查收"])
                let reply = try customer.receive(until: "message").frame
                #expect(reply["role"] as? String == "agent")
                #expect((reply["text"] as? String ?? "").contains("[CARD_KEY]") && !(reply["text"] as? String ?? "").contains("ZXCV-BNML"))

                // No bot answer while an agent has the chat.
                try say(customer, "好的谢谢", id: "c3")
                #expect(try receive(agent, "message", "role", "customer").frame["text"] as? String == "好的谢谢")

                // Back to the bot: the customer is told, and the bot answers the next message.
                try agent.send(["type": "return_to_bot", "session": session])
                #expect(try customer.receive(until: "handoff").frame["state"] as? String == "returned_to_bot")
                try say(customer, "怎么退款？", id: "c4")
                let bot = try customer.receive(until: "message").frame
                #expect(bot["role"] as? String == "bot")
                customer.close()
                agent.close()

                // The transcript keeps every key masked.
                let bytes = try relay.demoDataBytes()
                #expect(!bytes.contains(Self.cardKey) && !bytes.contains("ZXCV-BNML-KJHG-FDSA") && !bytes.contains(Self.phone))
                #expect(!relay.logs.text.contains(Self.cardKey) && !relay.logs.text.contains("ZXCV-BNML"))
            }
            // Login, take-over and transcript view are in the signed audit chain, by account id only.
            let ledger = try relay.ledger()
            let entries = try ledger.entries(tenant: "demo")
            let actions = Set(entries.map(\.action))
            for action in ["agent.login", "agent.take", "transcript.view", "agent.return_to_bot"] { #expect(actions.contains(action), "\(action)") }
            let ann = try #require(try relay.hub.authenticator.store.account(tenant: "demo", username: "ann"))
            #expect(entries.allSatisfy { $0.actor == ann.auditName }, "actors are account ids")
            #expect(!entries.contains { "\($0.detail)".contains("ann") || "\($0.detail)".contains(Self.phone) })
            let key = Ed25519SigningKey(seed: try await relay.demo.store.purposeKey(tenant: "demo", .complianceSigning))
            #expect(try ledger.verify(tenant: "demo", publicKey: key.publicKey).intact)
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("An agent of tenant B can neither list, read, take nor reply to tenant A's chats (API and WebSocket)")
    func crossTenant() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            try await offPool {
                let customer = try relay.customer()
                let session = try startChat(customer)
                try say(customer, "转人工", id: "c1")
                _ = try customer.receive(until: "queue")

                let (token, csrf) = try relay.login("bob", host: "shop-b.test")
                // API, on B's own host: A's chat does not exist for B.
                let queue = try relay.request("GET", "/agent/api/queue", host: "shop-b.test", cookie: token)
                #expect(queue.status == 200)
                #expect((queue.json["queued"] as? [Any])?.isEmpty == true, "B's queue is empty")
                for (method, path) in [("GET", "/agent/api/sessions/\(session)"), ("POST", "/agent/api/sessions/\(session)/take"),
                                       ("POST", "/agent/api/sessions/\(session)/reply")] {
                    let reply = try relay.request(method, path, host: "shop-b.test", cookie: token, csrf: csrf, body: ["text": "hi"])
                    #expect(reply.status == 404, "\(method) \(path) → \(reply.status)")
                }
                // B's cookie on A's host is no session at all.
                #expect(try relay.request("GET", "/agent/api/queue", host: "localhost", cookie: token).status == 401)
                #expect(try relay.request("POST", "/agent/api/sessions/\(session)/take", host: "localhost", cookie: token, csrf: csrf,
                                          origin: "https://localhost").status == 401)
                // WebSocket: B's cookie cannot open A's console socket …
                #expect(upgradeStatus { _ = try relay.agentSocket(token: token, csrf: csrf, host: "localhost") } == 401)
                // … and on B's socket A's chat is not found.
                let agent = try relay.agentSocket(token: token, csrf: csrf, host: "shop-b.test")
                let snapshot = try agent.receive(until: "queue").frame
                #expect((snapshot["queued"] as? [Any])?.isEmpty == true)
                for frame: [String: Any] in [["type": "take", "session": session], ["type": "open", "session": session],
                                             ["type": "reply", "session": session, "text": "hi"], ["type": "return_to_bot", "session": session],
                                             ["type": "close", "session": session, "resolution": "resolved"]] {
                    try agent.send(frame)
                    #expect(try agent.receive(until: "error").frame["code"] as? String == "not_found", "\(frame["type"]!)")
                }
                // Nothing reached A's customer.
                try say(customer, "还在吗", id: "c2")
                agent.close()
                customer.close()
            }
            #expect(try relay.ledger().entries(tenant: "demo").filter { $0.action == "agent.take" }.isEmpty)
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("State-changing requests need the CSRF token and the relay's own Origin; so does the console socket")
    func csrfAndOrigin() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            try await offPool {
                let customer = try relay.customer()
                let session = try startChat(customer)
                try say(customer, "转人工", id: "c1")
                _ = try customer.receive(until: "queue")
                // Login from another origin, or without one, is refused.
                #expect(try relay.request("POST", "/agent/api/login", origin: "https://evil.example",
                                          body: ["username": "ann", "password": AgentRelayHarness.password]).status == 403)
                #expect(try relay.request("POST", "/agent/api/login", origin: .some(nil),
                                          body: ["username": "ann", "password": AgentRelayHarness.password]).status == 403)
                let (token, csrf) = try relay.login("ann")
                let take = "/agent/api/sessions/\(session)/take"
                #expect(try relay.request("POST", take, cookie: token).json["error"] as? String == "csrf_failed")
                #expect(try relay.request("POST", take, cookie: token, csrf: (csrf.hasPrefix("A") ? "B" : "A") + csrf.dropFirst()).status == 403)
                #expect(try relay.request("POST", take, cookie: token, csrf: csrf, origin: "https://evil.example").json["error"] as? String == "bad_origin")
                #expect(try relay.request("POST", take, cookie: nil, csrf: csrf).status == 401)
                // Nothing was taken by the refused requests; the right one works.
                #expect(relay.hub.isWithHuman(tenant: "demo", session: session))
                let ok = try relay.request("POST", take, cookie: token, csrf: csrf)
                #expect(ok.status == 200 && ok.json["type"] as? String == "history")
                #expect(try customer.receive(until: "handoff").frame["state"] as? String == "agent_joined")
                // The socket: no CSRF token, a wrong one, or a foreign Origin → no upgrade.
                #expect(upgradeStatus { _ = try relay.agentSocket(token: token, csrf: nil) } == 401)
                #expect(upgradeStatus { _ = try relay.agentSocket(token: token, csrf: "x" + csrf) } == 401)
                #expect(upgradeStatus { _ = try relay.agentSocket(token: token, csrf: csrf, origin: "https://evil.example") } == 403)
                #expect(upgradeStatus { _ = try relay.agentSocket(token: nil, csrf: csrf) } == 401)
                // Logout ends the session, and the open console socket with it.
                let socket = try relay.agentSocket(token: token, csrf: csrf)
                _ = try socket.receive(until: "queue")
                #expect(try relay.request("POST", "/agent/api/logout", cookie: token, csrf: csrf).status == 200)
                #expect(try relay.request("GET", "/agent/api/me", cookie: token).status == 401)
                let sweep = DispatchSemaphore(value: 0)
                Task { await relay.hub.closeEndedSessions(); sweep.signal() }
                sweep.wait()
                #expect(try socket.receive(until: "error").frame["code"] as? String == "session_expired")
                #expect(try socket.receiveClose() == 1008)
                customer.close()
            }
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("Five wrong passwords over HTTPS lock the account (429); the cookie carries the strict attributes")
    func lockOutOverHTTP() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            try await offPool {
                for _ in 1...4 {
                    #expect(try relay.request("POST", "/agent/api/login", body: ["username": "ann", "password": "wrong password!!"]).status == 401)
                }
                #expect(try relay.request("POST", "/agent/api/login", body: ["username": "ann", "password": "wrong password!!"]).status == 429)
                #expect(try relay.request("POST", "/agent/api/login", body: ["username": "ann", "password": AgentRelayHarness.password]).status == 429)
                let ok = try relay.request("POST", "/agent/api/login", body: ["username": "sue", "password": AgentRelayHarness.password])
                let cookie = ok.headers["set-cookie"] ?? ""
                for attribute in ["__Host-kamirelay-agent=", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"] { #expect(cookie.contains(attribute)) }
                #expect(ok.headers["content-security-policy"] != nil && ok.headers["strict-transport-security"] != nil)
                let page = try relay.request("GET", "/agent")
                #expect(page.status == 200 && (page.headers["content-security-policy"] ?? "").contains("script-src 'self'"))
            }
            let failures = try relay.ledger().entries(tenant: "demo").filter { $0.action == "agent.login" }.map { $0.detail["outcome"] ?? "" }
            #expect(failures.filter { $0 == "invalid_credentials" }.count == 4 && failures.contains("locked_out") && failures.contains("success"))
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("Each bot reason that the chat can trigger queues it, urgent ones first")
    func handoffReasonsThroughTheRelay() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            let abnormal = try #require(relay.demo.orders.first { $0.status == .abnormal }).number
            let completed = try #require(relay.demo.orders.first { $0.status == .completed }).number
            let dialogues: [(reason: String, urgency: String, messages: [String])] = [
                ("customer_asked", "normal", ["转人工"]),
                ("complaint", "normal", ["我要投诉你们"]),
                ("paid_out_of_stock", "high", ["订单 \(abnormal) 付款了但是没收到卡密"]),
                ("fraud_report", "urgent", ["有人冒充你们客服找我要验证码"]),
                ("persistent_anger", "urgent", ["订单 \(completed) 卡密到底在哪 气死我了!!!", "快点!!! 搞什么 垃圾"]),
            ]
            let sessions = try await offPool { () -> [String: String] in
                var sessions: [String: String] = [:]
                for (index, dialogue) in dialogues.enumerated() {
                    let customer = try relay.customer()
                    let session = try startChat(customer)
                    for (n, text) in dialogue.messages.enumerated() { try say(customer, text, id: "m\(index)-\(n)") }
                    let handoff = try customer.receive(until: "handoff").frame
                    #expect(handoff["reason"] as? String == dialogue.reason, "\(dialogue.messages)")
                    _ = try customer.receive(until: "queue")
                    sessions[dialogue.reason] = session
                    customer.close()
                }
                return sessions
            }
            let (token, _) = try await offPool { try relay.login("sue") }
            let principal = try #require(relay.hub.authenticator.authenticate(tenant: "demo", token: token))
            let queued = relay.hub.queueSnapshot(principal)["queued"] as? [[String: Any]] ?? []
            #expect(queued.map { $0["reason"] as? String ?? "" } == ["fraud_report", "persistent_anger", "paid_out_of_stock", "customer_asked", "complaint"])
            for dialogue in dialogues {
                #expect(queued.first { $0["session"] as? String == sessions[dialogue.reason] }?["urgency"] as? String == dialogue.urgency)
            }
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("Every hand-off reason joins the queue with its class and a place for the customer", arguments: [
        Handoff.Reason.customerAsked, .complaint, .fraudReport, .persistentAnger, .paidOutOfStock, .paymentNeedsCheck, .cardInvalid,
        .rechargeFailed, .refundRequest, .orderFailed, .verificationFailed, .notUnderstood, .backendUnavailable,
    ])
    func everyReasonQueues(reason: Handoff.Reason) async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            let (token, _) = try await offPool { try relay.login("sue") }
            let principal = try #require(relay.hub.authenticator.authenticate(tenant: "demo", token: token))
            let handoff = try JSONDecoder().decode(Handoff.self, from: Data(#"{"reason":"\#(reason.rawValue)","priority":1,"summary":"intent: x","intent":"x"}"#.utf8))
            let placement = await relay.hub.enqueue(tenant: "demo", session: "s-\(reason.rawValue)", language: "en", handoff: handoff,
                                                    angerPersists: false, anger: [], customer: nil)
            #expect(placement == .queued(position: 1, expectedWait: 300))
            let queued = relay.hub.queueSnapshot(principal)["queued"] as? [[String: Any]] ?? []
            #expect(queued.count == 1 && queued[0]["reason"] as? String == reason.rawValue)
            #expect(queued[0]["urgency"] as? String == QueueUrgency(reason: reason, angerPersists: false).description)
            #expect(relay.hub.isWithHuman(tenant: "demo", session: "s-\(reason.rawValue)"))
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("Service level: a chat waiting too long notifies supervisors and tells the customer; closing asks for CSAT")
    func serviceLevelAndClose() async throws {
        var policy = AgentDeskPolicy.demo
        policy.serviceLevel = 0.5
        let relay = try await AgentRelayHarness.start(policies: ["demo": policy])
        do {
            try await offPool {
                let (token, csrf) = try relay.login("sue")
                let supervisor = try relay.agentSocket(token: token, csrf: csrf)
                _ = try supervisor.receive(until: "welcome")
                let customer = try relay.customer()
                let session = try startChat(customer, language: "en")
                try say(customer, "I want to talk to a human agent", id: "c1")
                let told = try customer.receive(until: "queue")
                #expect(told.before.contains { ($0["text"] as? String ?? "").contains("expected wait") }, "told in English")
                Thread.sleep(forTimeInterval: 0.6)
                let sla = DispatchSemaphore(value: 0)
                Task { await relay.hub.checkServiceLevels(); sla.signal() }
                sla.wait()
                #expect(try supervisor.receive(until: "escalation").frame["session"] as? String == session)
                let honest = try customer.receive(until: "message").frame
                #expect((honest["text"] as? String ?? "").contains("supervisor"), "the customer is told honestly")

                try supervisor.send(["type": "take", "session": session])
                _ = try supervisor.receive(until: "history")
                try supervisor.send(["type": "note", "session": session, "text": "VIP, phone \(Self.phone)"])
                let note = try supervisor.receive(until: "note").frame
                #expect(note["text"] as? String == "VIP, phone [PHONE]" || (note["text"] as? String ?? "").hasPrefix("VIP, phone [PHONE"))
                try supervisor.send(["type": "close", "session": session, "resolution": "bogus"])
                #expect(try supervisor.receive(until: "error").frame["code"] as? String == "invalid_request")
                try supervisor.send(["type": "close", "session": session, "resolution": "resolved"])
                let closed = try receive(customer, "handoff", "state", "closed")
                #expect(closed.frame["state"] as? String == "closed")
                let all = closed.before.compactMap { $0["text"] as? String }
                #expect(all.contains { $0.contains("rate this chat") }, "CSAT asked at close")
                #expect(!all.contains { $0.contains("VIP") }, "notes never reach the customer")
                try customer.send(["type": "feedback", "csat": 5])
                _ = try customer.receive(until: "feedback_received")
                supervisor.close()
                customer.close()
            }
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("An agent's open chats are capped; two agents taking one chat at once: exactly one gets it")
    func takeLimitAndRace() async throws {
        var policy = AgentDeskPolicy.demo
        policy.maxChatsPerAgent = 1
        let relay = try await AgentRelayHarness.start(policies: ["demo": policy])
        do {
            let hub = relay.hub
            for name in ["ali", "bo"] {
                try hub.authenticator.store.addAccount(tenant: "demo", username: name, role: .agent,
                                                       passwordHash: try PasswordHash.hash(Array(AgentRelayHarness.password.utf8), parameters: .minimumForTests))
            }
            let password = Array(AgentRelayHarness.password.utf8)
            let ann = try hub.authenticator.login(tenant: "demo", username: "ann", password: password).principal
            let ali = try hub.authenticator.login(tenant: "demo", username: "ali", password: password).principal
            let bo = try hub.authenticator.login(tenant: "demo", username: "bo", password: password).principal
            let handoff = try JSONDecoder().decode(Handoff.self, from: Data(#"{"reason":"customer_asked","priority":1,"summary":"s","intent":"human_agent"}"#.utf8))
            for id in ["s1", "s2", "s3"] {
                try await relay.demo.store.openSession(tenant: "demo", session: id, channel: "web", identifiers: [], at: Date())
                _ = await hub.enqueue(tenant: "demo", session: id, language: "zh", handoff: handoff, angerPersists: false, anger: [], customer: nil)
            }
            _ = try await hub.take(ann, session: "s1")
            await #expect(throws: AgentDeskError.invalid("you already have 1 chats open (the limit is 1)")) { _ = try await hub.take(ann, session: "s2") }
            async let first = try? hub.take(ali, session: "s3")
            async let second = try? hub.take(bo, session: "s3")
            let winners = [await first, await second].compactMap { $0 }
            #expect(winners.count == 1, "one agent gets the chat")
            let taken = try relay.ledger().entries(tenant: "demo").filter { $0.action == "agent.take" }
            #expect(taken.count == 2, "only real take-overs are audited")
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("Supervisors see every live chat and reassign; agents see only their own and cannot act on others'")
    func supervisorReassigns() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            let hub = relay.hub
            try hub.authenticator.store.addAccount(tenant: "demo", username: "ali", role: .agent,
                                                   passwordHash: try PasswordHash.hash(Array(AgentRelayHarness.password.utf8), parameters: .minimumForTests))
            let password = Array(AgentRelayHarness.password.utf8)
            let ann = try hub.authenticator.login(tenant: "demo", username: "ann", password: password)
            let ali = try hub.authenticator.login(tenant: "demo", username: "ali", password: password)
            let sue = try hub.authenticator.login(tenant: "demo", username: "sue", password: password)
            let annFrames = FrameBox(), aliFrames = FrameBox()
            _ = await hub.connect(ann.principal, token: ann.token, send: annFrames.append, close: {})
            _ = await hub.connect(ali.principal, token: ali.token, send: aliFrames.append, close: {})
            let handoff = try JSONDecoder().decode(Handoff.self, from: Data(#"{"reason":"complaint","priority":2,"summary":"s","intent":"complaint"}"#.utf8))
            try await relay.demo.store.openSession(tenant: "demo", session: "s1", channel: "web", identifiers: [], at: Date())
            _ = await hub.enqueue(tenant: "demo", session: "s1", language: "zh", handoff: handoff, angerPersists: false, anger: [], customer: nil)
            _ = try await hub.take(ann.principal, session: "s1")

            // Only ann and the supervisor see the live chat; ali can neither read nor reply to it.
            #expect((hub.queueSnapshot(ann.principal)["active"] as? [[String: Any]])?.count == 1)
            #expect((hub.queueSnapshot(ali.principal)["active"] as? [[String: Any]])?.isEmpty == true)
            #expect((hub.queueSnapshot(sue.principal)["active"] as? [[String: Any]])?.first?["agent"] as? String == "ann")
            await #expect(throws: AgentDeskError.notYours) { _ = try await hub.history(ali.principal, session: "s1") }
            await #expect(throws: AgentDeskError.notYours) { try await hub.reply(ali.principal, session: "s1", text: "hi") }
            await #expect(throws: AgentDeskError.notYours) { _ = try await hub.take(ali.principal, session: "s1") }
            await #expect(throws: AgentDeskError.notYours) { try await hub.transfer(ali.principal, session: "s1", to: "ali") }

            // The supervisor passes it to ali: ann is told, ali is assigned and can reply.
            try await hub.transfer(sue.principal, session: "s1", to: "ali")
            #expect(annFrames.contains(type: "chat_ended", "how", "transferred"))
            #expect(aliFrames.contains(type: "assigned", "session", "s1"))
            try await hub.reply(ali.principal, session: "s1", text: "我来处理")
            await #expect(throws: AgentDeskError.notYours) { try await hub.reply(ann.principal, session: "s1", text: "hi") }
            // … then takes it over herself.
            _ = try await hub.take(sue.principal, session: "s1")
            #expect(aliFrames.contains(type: "chat_ended", "how", "reassigned"))
            await #expect(throws: AgentDeskError.invalid("no such agent in this shop")) { try await hub.transfer(sue.principal, session: "s1", to: "bob") }
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("Round-robin: queued chats go to the online agents in turn, within the per-agent limit")
    func roundRobin() async throws {
        var policy = AgentDeskPolicy.demo
        policy.autoAssign = true
        policy.maxChatsPerAgent = 2
        let relay = try await AgentRelayHarness.start(policies: ["demo": policy])
        do {
            let hub = relay.hub
            try hub.authenticator.store.addAccount(tenant: "demo", username: "ali", role: .agent,
                                                   passwordHash: try PasswordHash.hash(Array(AgentRelayHarness.password.utf8), parameters: .minimumForTests))
            let password = Array(AgentRelayHarness.password.utf8)
            let ann = try hub.authenticator.login(tenant: "demo", username: "ann", password: password)
            let ali = try hub.authenticator.login(tenant: "demo", username: "ali", password: password)
            let sue = try hub.authenticator.login(tenant: "demo", username: "sue", password: password)
            let annFrames = FrameBox(), aliFrames = FrameBox()
            _ = await hub.connect(ann.principal, token: ann.token, send: annFrames.append, close: {})
            _ = await hub.connect(ali.principal, token: ali.token, send: aliFrames.append, close: {})
            _ = await hub.connect(sue.principal, token: sue.token, send: FrameBox().append, close: {})  // supervisors are not assigned
            let handoff = try JSONDecoder().decode(Handoff.self, from: Data(#"{"reason":"customer_asked","priority":1,"summary":"s","intent":"human_agent"}"#.utf8))
            for id in ["s1", "s2", "s3", "s4", "s5"] {
                try await relay.demo.store.openSession(tenant: "demo", session: id, channel: "web", identifiers: [], at: Date())
                _ = await hub.enqueue(tenant: "demo", session: id, language: "zh", handoff: handoff, angerPersists: false, anger: [], customer: nil)
            }
            let active = hub.queueSnapshot(sue.principal)["active"] as? [[String: Any]] ?? []
            let owners = Dictionary(uniqueKeysWithValues: active.map { ($0["session"] as? String ?? "", $0["agent"] as? String ?? "") })
            #expect(owners == ["s1": "ann", "s2": "ali", "s3": "ann", "s4": "ali"], "alternating, two each")
            #expect((hub.queueSnapshot(sue.principal)["queued"] as? [[String: Any]])?.map { $0["session"] as? String } == ["s5"])
            #expect(annFrames.contains(type: "assigned", "session", "s1") && aliFrames.contains(type: "assigned", "session", "s2"))
            // A closed chat frees a place: the waiting one is assigned at once.
            try await hub.close(ali.principal, session: "s2", resolution: "resolved")
            #expect((hub.queueSnapshot(sue.principal)["queued"] as? [[String: Any]])?.isEmpty == true)
            #expect(aliFrames.contains(type: "assigned", "session", "s5"))
            let assigns = try relay.ledger().entries(tenant: "demo").filter { $0.action == "agent.assign" }
            #expect(assigns.count == 5 && assigns.allSatisfy { $0.actor == "desk" })
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("A customer who reconnects while an agent has the chat gets the agent's replies (missed and new)")
    func resumeWhileWithAnAgent() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            try await offPool {
                let customer = try relay.customer()
                try customer.send(["type": "hello", "language": "zh"])
                let welcome = try customer.receive(until: "welcome").frame
                let session = try #require(welcome["session"] as? String)
                let token = try #require(welcome["resume_token"] as? String)
                try say(customer, "转人工", id: "c1")
                _ = try customer.receive(until: "queue")
                let (agentToken, csrf) = try relay.login("ann")
                let agent = try relay.agentSocket(token: agentToken, csrf: csrf)
                try agent.send(["type": "take", "session": session])
                _ = try agent.receive(until: "history")
                _ = try receive(customer, "handoff", "state", "agent_joined")
                customer.close()  // dropped, no bye

                try agent.send(["type": "reply", "session": session, "text": "您还在吗？"])
                _ = try receive(agent, "message", "role", "agent")  // stored
                // Resume (the server may take a moment to notice the drop and keep the chat resumable).
                var back: TestWebSocket?
                _ = try waitUntil(every: 0.1) {
                    let attempt = try relay.customer()
                    try attempt.send(["type": "hello", "resume": token])
                    let first = try attempt.receive()
                    if first["type"] as? String == "welcome", first["resumed"] as? Bool == true { back = attempt; return true }
                    attempt.close()
                    return false
                }
                let resumed = try #require(back)
                let missed = try receive(resumed, "message", "role", "agent").frame
                #expect(missed["text"] as? String == "您还在吗？", "missed agent reply delivered from the store")
                try agent.send(["type": "reply", "session": session, "text": "第二条"])
                #expect(try receive(resumed, "message", "role", "agent").frame["text"] as? String == "第二条", "new replies reach the new socket")
                try say(resumed, "在的", id: "c2")
                #expect(try receive(agent, "message", "role", "customer").frame["text"] as? String == "在的")
                resumed.close()
                agent.close()
            }
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("Outside business hours the customer is told when someone will answer, and the chat still waits in the queue")
    func outsideBusinessHours() async throws {
        let minute = Int(Date().timeIntervalSince1970 / 60) % 1_440
        var policy = AgentDeskPolicy.demo
        policy.businessHours = BusinessHours(opens: (minute + 120) % 1_440, closes: (minute + 180) % 1_440, utcOffsetSeconds: 0)
        #expect(policy.businessHours?.isOpen(at: Date()) == false)
        #expect(policy.businessHours?.isOpen(at: Date() + 150 * 60) == true)
        let relay = try await AgentRelayHarness.start(policies: ["demo": policy])
        let opening = try #require(policy.businessHours).opening
        do {
            try await offPool {
                let customer = try relay.customer()
                let session = try startChat(customer)
                try say(customer, "转人工", id: "c1")
                let told = try receive(customer, "message", "role", "system").frame["text"] as? String ?? ""
                #expect(told.contains("不在线") && told.contains(opening) && told.contains("留言"), "\(told)")
                #expect(relay.hub.isWithHuman(tenant: "demo", session: session))
                // A message left now waits for the agents (no bot answer).
                try say(customer, "我的卡密打不开，麻烦上线后处理", id: "c2")
                customer.close()
            }
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("When the tenant allows it, an agent's card key reaches the customer as typed; everything else stays masked")
    func keyDeliveryRendering() throws {
        let redactor = try Redactor(policy: .default, tokenizer: BLAKE2bKeyedHasher.random())
        let text = "卡密 QWER-TYUI-PASD-FGHJ，手机 13912345678"
        let result = redactor.redact(text)
        let delivered = AgentHub.keepingCardKeys(original: text, findings: result.findings)
        #expect(delivered.contains("QWER-TYUI-PASD-FGHJ"))
        #expect(!delivered.contains("13912345678") && delivered.contains("[PHONE]"))
        #expect(result.text.contains("[CARD_KEY]"), "the stored copy is masked")
    }
}

extension AgentRelayHarness {
    /// Every byte of every file in the data directory.
    func demoDataBytes() throws -> [UInt8] {
        var bytes: [UInt8] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let name = enumerator?.nextObject() as? String {
            if let data = FileManager.default.contents(atPath: directory + "/" + name) { bytes += data }
        }
        return bytes
    }
}

/// Frames an in-process console connection received.
/// `@unchecked Sendable` is sound: `frames` is only touched while holding `lock`.
final class FrameBox: @unchecked Sendable {
    private let lock = NSLock()
    private var frames: [[String: Any]] = []

    var append: AgentSender {
        { text in
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
            self.lock.withLock { self.frames.append(object) }
        }
    }

    func contains(type: String, _ key: String, _ value: String) -> Bool {
        lock.withLock { frames.contains { $0["type"] as? String == type && $0[key] as? String == value } }
    }
}

/// The HTTP status of a refused WebSocket upgrade (nil if it was accepted or failed otherwise).
func upgradeStatus(_ connect: () throws -> Void) -> Int? {
    do { try connect() } catch let refused as TestWebSocket.UpgradeRefused { return refused.status } catch { return nil }
    return nil
}
