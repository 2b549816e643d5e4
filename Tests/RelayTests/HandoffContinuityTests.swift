import AgentDesk
import Foundation
import NIOConcurrencyHelpers
@testable import Relay
import Testing
import TranscriptStore

/// A clock the test moves by hand (waiting times, grace periods).
final class TestClock: Sendable {
    private let now = NIOLockedValueBox(Date())
    func advance(_ seconds: TimeInterval) { now.withLockedValue { $0 += seconds } }
    var read: @Sendable () -> Date { { self.now.withLockedValue { $0 } } }
}

/// `hello` on a fresh chat: (session id, resume token), greeting consumed.
func helloForToken(_ ws: TestWebSocket, language: String = "zh") throws -> (session: String, token: String) {
    try ws.send(["type": "hello", "language": language])
    let welcome = try ws.receive(until: "welcome").frame
    _ = try ws.receive(until: "message")
    guard let session = welcome["session"] as? String, let token = welcome["resume_token"] as? String else {
        throw TestFailure("no session / token in welcome")
    }
    return (session, token)
}

/// A value handed from the test's thread to a blocking helper thread and back.
/// `@unchecked Sendable` is sound: the test awaits each `offPool` call before the next one, so
/// only one thread uses the value at a time, and JSON objects are never mutated after parsing.
struct Handed<T>: @unchecked Sendable {
    let value: T
}

extension FrameBox {
    /// Waits (up to 10 s) until a frame of `type` with `key` = `value` has arrived.
    func wait(type: String, _ key: String, _ value: String) async throws {
        for _ in 0..<500 {
            if contains(type: type, key, value) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("no \(type) frame with \(key) \(value)")
    }
}

@Suite("Hand-off continuity: restarts, agents going offline, the HTTP API", .serialized)
struct HandoffContinuityTests {
    static let password = Array(AgentRelayHarness.password.utf8)

    static func queued(_ hub: AgentHub, _ principal: AgentPrincipal) -> [[String: Any]] {
        hub.queueSnapshot(principal)["queued"] as? [[String: Any]] ?? []
    }

    static func active(_ hub: AgentHub, _ principal: AgentPrincipal) -> [String: String] {
        (hub.queueSnapshot(principal)["active"] as? [[String: Any]] ?? []).reduce(into: [:]) {
            $0[$1["session"] as? String ?? ""] = $1["agent"] as? String
        }
    }

    /// A customer on the widget's protocol hands off with `text`; the socket is closed (the
    /// chat stays resumable). Returns the session and its resume token.
    static func handOff(_ relay: AgentRelayHarness, _ text: String) async throws -> (session: String, token: String) {
        try await offPool {
            let ws = try relay.customer()
            defer { ws.close() }
            let started = try helloForToken(ws)
            try say(ws, text, id: "h1")
            _ = try ws.receive(until: "queue")
            return started
        }
    }

    @Test("After a restart on the same data directory: queued chats keep class and waiting time, chats with agents return to them (or to the queue after the grace period), a resuming customer is still with the humans; nothing personal in clear")
    func queueSurvivesARestart() async throws {
        let clock = TestClock()
        let first = try await AgentRelayHarness.start(clock: clock.read)
        let directory = first.directory
        let phone = "13987654321"
        let (c1, token1) = try await Self.handOff(first, "转人工")
        clock.advance(10)
        let (c2, _) = try await Self.handOff(first, "有人冒充你们客服找我要验证码")
        clock.advance(10)
        let (c3, _) = try await Self.handOff(first, "转人工")
        let (c4, _) = try await Self.handOff(first, "转人工")
        var ann = try first.hub.authenticator.login(tenant: "demo", username: "ann", password: Self.password).principal
        var sue = try first.hub.authenticator.login(tenant: "demo", username: "sue", password: Self.password).principal
        _ = try await first.hub.take(ann, session: c3)
        _ = try await first.hub.take(sue, session: c4)
        try await first.hub.note(sue, session: c1, text: "客户电话 \(phone)，已核实")
        let before = Self.queued(first.hub, sue)
        #expect(before.map { $0["session"] as? String } == [c2, c1], "urgent first")
        #expect(before.map { $0["urgency"] as? String } == ["urgent", "normal"])
        #expect(try await first.demo.state.handoffCount() == 4)
        try await first.shutdown()

        // The rows are sealed: no session id, summary, note or phone number in clear.
        var relayBytes: [UInt8] = []
        for suffix in ["", "-wal", "-shm"] { relayBytes += FileManager.default.contents(atPath: directory + "/relay.sqlite" + suffix).map(Array.init) ?? [] }
        for planted in [phone, c1, c2, c3, c4, "转人工", "已核实", "冒充"] { #expect(!relayBytes.contains(planted), "\(planted) in relay.sqlite") }

        clock.advance(30)
        let second = try await AgentRelayHarness.start(directory: directory, clock: clock.read)
        do {
            let hub = second.hub
            ann = try hub.authenticator.login(tenant: "demo", username: "ann", password: Self.password).principal
            sue = try hub.authenticator.login(tenant: "demo", username: "sue", password: Self.password).principal
            let after = Self.queued(hub, sue)
            #expect(after.map { $0["session"] as? String } == [c2, c1], "same order")
            #expect(after.map { $0["urgency"] as? String } == ["urgent", "normal"], "same priority")
            #expect(after.map { $0["enqueued_at"] as? String } == before.map { $0["enqueued_at"] as? String }, "original queued-at")
            #expect(after.map { $0["reason"] as? String } == ["fraud_report", "customer_asked"])
            #expect(zip(after, before).allSatisfy { ($0["waiting_seconds"] as? Int ?? 0) == ($1["waiting_seconds"] as? Int ?? 0) + 30 },
                    "the waiting time goes on from where it was")
            #expect(Self.active(hub, sue) == [c3: "ann", c4: "sue"], "chats with agents are theirs again")
            let notes = try await hub.history(sue, session: c1)["notes"] as? [[String: Any]] ?? []
            let noteText = notes.first?["text"] as? String ?? ""
            #expect(notes.count == 1 && noteText.contains("[PHONE") && notes.first?["author"] as? String == "sue")
            #expect(noteText.range(of: phone) == nil, "the note was redacted before it was kept")

            // ann opens her console within the grace period; the queued customer resumes.
            let annFrames = FrameBox()
            _ = await hub.connect(ann, token: "unused", send: annFrames.append, close: {})
            let resumed = try await offPool { () -> Handed<(handoff: [String: Any], queue: [String: Any])> in
                let ws = try second.customer()
                defer { ws.close() }
                try ws.send(["type": "hello", "resume": token1])
                let welcome = try ws.receive(until: "welcome").frame
                guard welcome["resumed"] as? Bool == true else { throw TestFailure("not resumed: \(welcome)") }
                let handoff = try ws.receive(until: "handoff").frame
                let queue = try ws.receive(until: "queue").frame
                try say(ws, "还在吗？", id: "r1")
                try ws.send(["type": "typing"])  // handled after the message: the bot would have answered by then
                return Handed(value: (handoff, queue))
            }.value
            #expect(resumed.handoff["state"] as? String == "queued")
            #expect(resumed.queue["position"] as? Int == 2)
            try await annFrames.wait(type: "typing", "session", c1)
            #expect(annFrames.contains(type: "message", "text", "还在吗？"), "the message went to the agents")
            let transcript = try await second.demo.store.transcript(tenant: "demo", session: c1)
            #expect(transcript.last?.role == .customer && transcript.last?.text == "还在吗？", "and not to the bot")

            // sue did not come back: after the grace period her chat goes to the front of its class.
            clock.advance(119)
            await hub.checkAgentsOffline()
            #expect(Self.active(hub, sue)[c4] == "sue")
            clock.advance(2)
            await hub.checkAgentsOffline()
            #expect(Self.queued(hub, sue).map { $0["session"] as? String } == [c2, c4, c1], "front of the normal class")
            #expect(Self.active(hub, sue) == [c3: "ann"], "ann was online: hers stays")
            #expect(try await second.demo.state.handoffCount() == 4)

            // Back to the bot, close and erasure remove the rows.
            try await hub.returnToBot(ann, session: c3)
            #expect(try await second.demo.state.handoffCount() == 3)
            try await hub.close(sue, session: c1, resolution: "resolved")
            #expect(try await second.demo.state.handoffCount() == 2)
            #expect(try await second.demo.state.deleteChats(tenant: "demo", session: c2) >= 1)
            #expect(try await second.demo.state.handoffCount() == 1)
        }
        try await second.finish()
    }

    @Test("A hand-off row that does not open (sealed under another key) is reported, left in place and not restored")
    func corruptRowsAreNotGuessedAt() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            let state = relay.demo.state
            let (good, _) = try await Self.handOff(relay, "转人工")
            let wrongKeys = try await state.stateKeys(tenant: "shop-b")
            var forged = try #require(try await state.loadHandoffs(tenant: "demo").chats.first)
            forged.session = "0123456789abcdef0123456789abcdef"
            let row = forged
            try await state.writeHandoff(tenant: "demo", session: forged.session, keys: wrongKeys) { row }
            let loaded = try await state.loadHandoffs(tenant: "demo")
            #expect(loaded.chats.map(\.session) == [good] && loaded.corrupt == 1)
            #expect(try await state.handoffCount() == 2, "the bad row is kept for an operator to look at")
            #expect(await relay.hub.restore() == 1)
            #expect(relay.logs.text.contains("agents.handoff_state_corrupt"))
        }
        try await relay.finish()
    }

    @Test("An agent offline past the grace period: chats back to the front of their class, supervisors notified, the customer told")
    func agentOfflineGrace() async throws {
        let clock = TestClock()
        let relay = try await AgentRelayHarness.start(clock: clock.read)
        do {
            let hub = relay.hub
            let (c1, _) = try await Self.handOff(relay, "转人工")
            clock.advance(30)
            let ann = try hub.authenticator.login(tenant: "demo", username: "ann", password: Self.password).principal
            let sue = try hub.authenticator.login(tenant: "demo", username: "sue", password: Self.password).principal
            let sueFrames = FrameBox()
            _ = await hub.connect(sue, token: "unused", send: sueFrames.append, close: {})
            var annConnection = await hub.connect(ann, token: "unused", send: FrameBox().append, close: {})
            // The second customer stays connected, to hear what happens.
            let socket = Handed(value: try relay.customer())
            defer { socket.value.close() }
            let c2 = try await offPool { () -> String in
                let customer = socket.value
                let session = try startChat(customer)
                try say(customer, "转人工", id: "h1")
                _ = try customer.receive(until: "queue")
                return session
            }
            _ = try await hub.take(ann, session: c2)

            // Gone and back within the grace period: the chat stays hers.
            await hub.disconnect(annConnection)
            clock.advance(60)
            await hub.checkAgentsOffline()
            annConnection = await hub.connect(ann, token: "unused", send: FrameBox().append, close: {})
            clock.advance(100)
            await hub.checkAgentsOffline()
            #expect(Self.active(hub, sue)[c2] == "ann")

            // Gone for good: the grace period counts from the last disconnect.
            await hub.disconnect(annConnection)
            clock.advance(119)
            await hub.checkAgentsOffline()
            #expect(Self.active(hub, sue)[c2] == "ann")
            clock.advance(2)
            await hub.checkAgentsOffline()
            #expect(Self.active(hub, sue).isEmpty)
            #expect(Self.queued(hub, sue).map { $0["session"] as? String } == [c2, c1], "ahead of the longer-waiting chat of its class")
            try await sueFrames.wait(type: "agent_offline", "session", c2)
            #expect(sueFrames.contains(type: "agent_offline", "agent", "ann"))
            await #expect(throws: AgentDeskError.invalid("take the chat first")) { try await hub.reply(ann, session: c2, text: "hi") }
            let told = try await offPool { () -> (text: String, handoff: String?, position: Int?) in
                let customer = socket.value
                var notice: [String: Any] = [:]
                while !(notice["text"] as? String ?? "").contains("断开连接") { notice = try receive(customer, "message", "role", "system").frame }
                let handoff = try customer.receive(until: "handoff").frame
                let queue = try customer.receive(until: "queue").frame
                return (notice["text"] as? String ?? "", handoff["state"] as? String, queue["position"] as? Int)
            }
            #expect(told.text.contains("断开连接") && told.text.contains("重新排队"), "told honestly: \(told.text)")
            #expect(told.handoff == "queued" && told.position == 1)
            // Taken without a console open (the HTTP API): the grace period runs from the take.
            _ = try await hub.take(ann, session: c1)
            clock.advance(121)
            await hub.checkAgentsOffline()
            #expect(Self.active(hub, sue).isEmpty && Self.queued(hub, sue).count == 2)
            let ledger = try relay.ledger()
            #expect(try ledger.entries(tenant: "demo", action: "agent.offline_requeue").count == 2)
        }
        try await relay.finish()
    }

    @Test("HTTP API chats join the agent queue: the response says so, later messages go to the agent, agent replies are in the history")
    func apiChatsHandOff() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            let hub = relay.hub
            let key = try await relay.demo.state.createAPIKey(tenant: "demo", label: "test").key
            let first = try await offPool { Handed(value: try relay.request("POST", "/v1/messages", origin: .some(nil), bearer: key,
                                                                body: ["client_message_id": "m1", "text": "转人工"])) }.value
            #expect(first.status == 200)
            let session = try #require(first.json["session"] as? String)
            let handoff = try #require(first.json["handoff"] as? [String: Any])
            #expect(handoff["state"] as? String == "queued" && handoff["reason"] as? String == "customer_asked")
            #expect(handoff["position"] as? Int == 1 && (handoff["expected_wait_seconds"] as? Int ?? 0) > 0)
            #expect(hub.isWithHuman(tenant: "demo", session: session))
            let notices = first.json["notices"] as? [[String: Any]] ?? []
            #expect(notices.contains { ($0["text"] as? String ?? "").contains("预计等待") }, "the customer's notice: \(notices)")
            #expect((first.json["reply"] as? [String: Any])?["role"] as? String == "bot", "the reply is the bot's, not the notice")

            let ann = try hub.authenticator.login(tenant: "demo", username: "ann", password: Self.password).principal
            let annFrames = FrameBox()
            _ = await hub.connect(ann, token: "unused", send: annFrames.append, close: {})
            #expect(Self.queued(hub, ann).map { $0["session"] as? String } == [session])
            _ = try await hub.take(ann, session: session)

            let second = try await offPool { Handed(value: try relay.request("POST", "/v1/messages", origin: .some(nil), bearer: key,
                                                                 body: ["session": session, "client_message_id": "m2", "text": "订单还没到账"])) }.value
            #expect(second.status == 200)
            #expect(second.json["reply"] == nil, "no bot reply while with an agent")
            #expect((second.json["handoff"] as? [String: Any])?["state"] as? String == "agent_joined")
            try await annFrames.wait(type: "message", "text", "订单还没到账")
            let resent = try await offPool { Handed(value: try relay.request("POST", "/v1/messages", origin: .some(nil), bearer: key,
                                                                 body: ["session": session, "client_message_id": "m2", "text": "订单还没到账"])) }.value
            #expect(resent.json["duplicate"] as? Bool == true)
            #expect((resent.json["handoff"] as? [String: Any])?["state"] as? String == "agent_joined", "a resend says where the chat stands too")

            try await hub.reply(ann, session: session, text: "我来帮您查一下")
            let history = try await offPool { Handed(value: try relay.request("GET", "/v1/sessions/\(session)/messages", origin: .some(nil), bearer: key)) }.value
            let messages = history.json["messages"] as? [[String: Any]] ?? []
            #expect(history.status == 200)
            #expect(messages.contains { $0["role"] as? String == "system" && ($0["text"] as? String ?? "").contains("人工客服已接入") })
            let tail = messages.suffix(2).map { ($0["role"] as? String ?? "", $0["text"] as? String ?? "") }
            #expect(tail.map(\.0) == ["customer", "agent"] && tail.last?.1 == "我来帮您查一下", "\(tail)")

            // Back to the bot: the next API message gets a bot reply and no hand-off.
            try await hub.returnToBot(ann, session: session)
            let third = try await offPool { Handed(value: try relay.request("POST", "/v1/messages", origin: .some(nil), bearer: key,
                                                                body: ["session": session, "client_message_id": "m3", "text": "怎么退款？"])) }.value
            #expect((third.json["reply"] as? [String: Any])?["role"] as? String == "bot")
            #expect(third.json["handoff"] == nil)
        }
        try await relay.finish()
    }
}
