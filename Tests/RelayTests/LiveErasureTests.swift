import AgentDesk
import Compliance
import Foundation
@testable import Relay
import Sealing
import Testing
import TranscriptStore

/// `kamirelay erase` while the relay serves the same data directory: the running relay notices
/// and ends what it still holds of the erased chats (customer socket, queue, agent consoles,
/// memory, relay.sqlite); other chats go on.
@Suite("Erasure of a live chat: the running relay ends it", .serialized)
struct LiveErasureTests {
    /// The erasure as `kamirelay erase` runs it (``RelaySubjectErasure``), on store, ledger and
    /// relay-state connections of its own, as another process has.
    static func eraseLikeTheCLI(_ relay: AgentRelayHarness, email: String, request: String) async throws -> RelaySubjectErasure.Result {
        let file = try MasterKeyFile(contentsOf: relay.directory + "/keys/master.key")
        let ring = MasterKeyring(currentID: file.keyID, key: try file.unlock(passphrase: Array(RelayDemo.developmentPassphrase.utf8)))
        let store = try SQLiteTranscriptStore(path: relay.directory + "/transcripts.sqlite", masterKeys: ring)
        let compliance = Compliance(store: store, ledger: try relay.ledger())
        let result = try await RelaySubjectErasure.erase(compliance, dataDirectory: relay.directory, tenant: "demo", subject: .email(email),
                                                         requestID: request, actor: "test-compliance", dryRun: false)
        guard case .erased(let signed) = result.outcome, signed.receipt.outcome == "erased" else { throw TestFailure("nothing was erased") }
        return result
    }

    /// Polls an async condition (up to 30 s; only a bound on a hang).
    static func poll(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<300 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Every session id the console's queue frame lists (queued and active).
    static func listed(_ queue: [String: Any]) -> [String] {
        ((queue["queued"] as? [[String: Any]] ?? []) + (queue["active"] as? [[String: Any]] ?? [])).compactMap { $0["session"] as? String }
    }

    /// A customer who gives their e-mail (linking the session to them) and asks for a person;
    /// the socket stays open. Returns it, the session and its resume token.
    static func queuedCustomer(_ relay: AgentRelayHarness, email: String) throws -> (ws: TestWebSocket, session: String, token: String) {
        let ws = try relay.customer()
        let (session, token) = try helloForToken(ws)
        try say(ws, "转人工", id: "h1")
        _ = try ws.receive(until: "queue")
        try say(ws, "我的邮箱是 \(email)", id: "h2")
        return (ws, session, token)
    }

    /// Frames of a console socket until one of `type` for `session`; fails on a timeout.
    static func consoleFrame(_ ws: TestWebSocket, _ type: String, session: String) throws -> [String: Any] {
        try receive(ws, type, "session", session).frame
    }

    /// The next `queue` frame of a console socket.
    static func nextQueue(_ ws: TestWebSocket) throws -> [String: Any] { try ws.receive(until: "queue").frame }

    @Test("A hand-off an agent has taken: erasure closes the customer's chat, takes it off the agent's and the supervisor's consoles and out of relay.sqlite; another chat goes on")
    func takenHandoff() async throws {
        let relay = try await AgentRelayHarness.start(erasureCheck: .milliseconds(200))
        do {
            let alice = "alice.erase@example.com", bob = "bob.keep@example.com"
            let setup = try await offPool { () -> Handed<(a: (ws: TestWebSocket, session: String, token: String),
                                                          b: (ws: TestWebSocket, session: String, token: String),
                                                          ann: TestWebSocket, sue: TestWebSocket)> in
                let a = try Self.queuedCustomer(relay, email: alice)
                let b = try Self.queuedCustomer(relay, email: bob)
                let (annToken, annCSRF) = try relay.login("ann")
                let ann = try relay.agentSocket(token: annToken, csrf: annCSRF)
                _ = try ann.receive(until: "welcome")
                try ann.send(["type": "take", "session": a.session])
                let history = try ann.receive(until: "history").frame
                let texts = (history["messages"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
                guard texts.contains(where: { $0.hasPrefix("我的邮箱是") }), !texts.contains(where: { $0.contains(alice) }) else {
                    throw TestFailure("the agent should see the (masked) history")
                }
                _ = try a.ws.receive(until: "handoff")  // agent_joined
                let (sueToken, sueCSRF) = try relay.login("sue")
                let sue = try relay.agentSocket(token: sueToken, csrf: sueCSRF)
                let sueQueue = try sue.receive(until: "queue").frame
                guard Set(Self.listed(sueQueue)) == [a.session, b.session] else { throw TestFailure("the supervisor sees both chats first") }
                return Handed(value: (a, b, ann, sue))
            }
            let (a, b) = (setup.value.a, setup.value.b)
            let (session, other) = (a.session, b.session)
            defer { a.ws.close(); b.ws.close(); setup.value.ann.close(); setup.value.sue.close() }
            #expect(try await relay.demo.state.handoffCount() == 2)
            _ = b

            // Which side deletes the hand-off row first (the eraser, or the relay's check between
            // the eraser's two steps) is a race; that it is gone is checked below.
            _ = try await Self.eraseLikeTheCLI(relay, email: alice, request: "DSR-LIVE-1")

            // The running relay notices by itself: no frame from the customer is needed.
            let seen = try await offPool { () -> Handed<(customer: [String: Any], close: Int?, ann: [String: Any], annQueue: [String: Any],
                                                         sue: [String: Any], sueQueue: [String: Any])> in
                let (a, ann, sue) = (setup.value.a, setup.value.ann, setup.value.sue)
                let closed = try a.ws.receive(until: "error").frame
                let code = try a.ws.receiveClose()
                let annErased = try Self.consoleFrame(ann, "chat_erased", session: a.session)
                let annQueue = try Self.nextQueue(ann)
                let sueErased = try Self.consoleFrame(sue, "chat_erased", session: a.session)
                let sueQueue = try Self.nextQueue(sue)
                return Handed(value: (closed, code, annErased, annQueue, sueErased, sueQueue))
            }.value
            #expect(seen.customer["code"] as? String == "chat_closed", "the widget starts a new chat on this")
            #expect(seen.close == 1000)
            for frame in [seen.ann, seen.sue] {
                #expect(frame["notice"] as? String == AgentHub.erasedNotice)
                #expect(Set(frame.keys) == ["type", "session", "notice"], "no content in the notice")
            }
            #expect(!Self.listed(seen.annQueue).contains(session), "gone from the agent's list")
            #expect(Self.listed(seen.sueQueue) == [other], "the supervisor's queue lists only the other chat")

            // Nothing of it left in the relay: desk, memory, relay.sqlite.
            let sue = try relay.hub.authenticator.login(tenant: "demo", username: "sue", password: Array(AgentRelayHarness.password.utf8)).principal
            #expect(!relay.hub.isWithHuman(tenant: "demo", session: session))
            await #expect(throws: AgentDeskError.notFound) { _ = try await relay.hub.history(sue, session: session) }
            let rows = try await relay.demo.state.loadHandoffs(tenant: "demo")
            #expect(rows.chats.map(\.session) == [other] && rows.corrupt == 0, "only the other chat's hand-off row is left")
            #expect(relay.logs.text.contains("relay.erased_chat_ended"))
            #expect(!relay.logs.text.contains(alice) && !relay.logs.text.contains("alice.erase"), "no identifier in the logs")

            // The erased chat cannot be resumed; the other chat goes on with the humans.
            let after = try await offPool { () -> Handed<(resume: [String: Any], bEcho: [String: Any])> in
                let again = try relay.customer()
                defer { again.close() }
                try again.send(["type": "hello", "resume": setup.value.a.token])
                let refused = try again.receive(until: "error").frame
                let echo = try say(setup.value.b.ws, "还在吗？", id: "b3")
                _ = try Self.consoleFrame(setup.value.sue, "message", session: setup.value.b.session)
                return Handed(value: (refused, echo))
            }.value
            #expect(after.resume["code"] as? String == "resume_failed")
            #expect(after.bEcho["text"] as? String == "还在吗？")
            #expect(relay.hub.isWithHuman(tenant: "demo", session: other))
            #expect(try await relay.demo.store.transcript(tenant: "demo", session: other).last?.text == "还在吗？")
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("Queued hand-offs (not taken) of the erased subject: the connected customer gets chat_closed, the suspended one is forgotten, both leave the queue and relay.sqlite; another subject's queued chat stays")
    func queuedHandoff() async throws {
        let relay = try await AgentRelayHarness.start(erasureCheck: .milliseconds(200))
        do {
            let carol = "carol.erase@example.com", dave = "dave.keep@example.com"
            let setup = try await offPool { () -> Handed<(connected: (ws: TestWebSocket, session: String, token: String),
                                                          suspended: (session: String, token: String),
                                                          other: (ws: TestWebSocket, session: String, token: String), ann: TestWebSocket)> in
                let connected = try Self.queuedCustomer(relay, email: carol)
                // The same subject in a second chat whose socket dropped: it waits to be resumed.
                let dropped = try Self.queuedCustomer(relay, email: carol)
                dropped.ws.close()
                let other = try Self.queuedCustomer(relay, email: dave)
                let (token, csrf) = try relay.login("ann")
                let ann = try relay.agentSocket(token: token, csrf: csrf)
                let queue = try ann.receive(until: "queue").frame
                guard Set(Self.listed(queue)) == [connected.session, dropped.session, other.session] else { throw TestFailure("all three queued") }
                return Handed(value: (connected, (dropped.session, dropped.token), other, ann))
            }
            defer { setup.value.connected.ws.close(); setup.value.other.ws.close(); setup.value.ann.close() }
            let (suspended, other) = (setup.value.suspended, setup.value.other.session)
            let gone: Set = [setup.value.connected.session, suspended.session]
            #expect(relay.hub.isWithHuman(tenant: "demo", session: suspended.session))
            // The dropped chat is suspended: in memory and sealed in relay.sqlite.
            #expect(try await Self.poll { try await relay.demo.state.chatStateCount() == 1 })
            #expect(relay.server.resumes.liveSessions()["demo"] == [suspended.session])
            _ = try await Self.eraseLikeTheCLI(relay, email: carol, request: "DSR-LIVE-2")

            let seen = try await offPool { () -> Handed<(customer: [String: Any], erased: Set<String>, queue: [String: Any])> in
                let closed = try setup.value.connected.ws.receive(until: "error").frame
                var erased = Set<String>()
                var queue: [String: Any] = [:]
                while erased != gone || !Set(Self.listed(queue)).isDisjoint(with: gone) || queue.isEmpty {
                    let frame = try setup.value.ann.receive()
                    if frame["type"] as? String == "chat_erased", let session = frame["session"] as? String { erased.insert(session) }
                    if frame["type"] as? String == "queue" { queue = frame }
                }
                return Handed(value: (closed, erased, queue))
            }.value
            #expect(seen.customer["code"] as? String == "chat_closed")
            #expect(seen.erased == gone)
            #expect(Self.listed(seen.queue) == [other], "only the other subject's chat is queued")
            let queued = (seen.queue["queued"] as? [[String: Any]] ?? []).first
            #expect(queued?["position"] as? Int == 1, "the other chat moved up")

            // The suspended chat left memory and relay.sqlite: its token resumes nothing.
            #expect(try await relay.demo.state.chatStateCount() == 0)
            #expect(relay.server.resumes.liveSessions().isEmpty && relay.server.resumes.count == 0)
            #expect(try await relay.demo.state.loadHandoffs(tenant: "demo").chats.map(\.session) == [other])
            let resume = try await offPool { () -> Handed<[String: Any]> in
                let ws = try relay.customer()
                defer { ws.close() }
                try ws.send(["type": "hello", "resume": suspended.token])
                return Handed(value: try ws.receive(until: "error").frame)
            }.value
            #expect(resume["code"] as? String == "resume_failed")
            #expect(relay.hub.isWithHuman(tenant: "demo", session: other))
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("An HTTP-API chat queued for a person: erasure takes it off the desk and out of relay.sqlite; the next request is 404")
    func apiSessionHandoff() async throws {
        let relay = try await AgentRelayHarness.start(erasureCheck: .milliseconds(200))
        do {
            let hub = relay.hub
            let email = "erin.api@example.com"
            let key = try await relay.demo.state.createAPIKey(tenant: "demo", label: "test").key
            let post = { @Sendable (body: [String: String]) async throws -> AgentRelayHarness.Reply in
                try await offPool { Handed(value: try relay.request("POST", "/v1/messages", origin: .some(nil), bearer: key, body: body)) }.value
            }
            let first = try await post(["client_message_id": "m1", "text": "转人工"])
            let session = try #require(first.json["session"] as? String)
            #expect(try await post(["session": session, "client_message_id": "m2", "text": "我的邮箱是 \(email)"]).status == 200)
            let ann = try hub.authenticator.login(tenant: "demo", username: "ann", password: HandoffContinuityTests.password).principal
            let annFrames = FrameBox()
            _ = await hub.connect(ann, token: "unused", send: annFrames.append, close: {})
            #expect(hub.isWithHuman(tenant: "demo", session: session))
            #expect(try await relay.demo.state.chatStateCount() == 1)
            #expect(try await relay.demo.state.handoffCount() == 1)

            _ = try await Self.eraseLikeTheCLI(relay, email: email, request: "DSR-LIVE-3")
            try await annFrames.wait(type: "chat_erased", "session", session)
            #expect(!hub.isWithHuman(tenant: "demo", session: session))
            #expect(HandoffContinuityTests.queued(hub, ann).isEmpty)
            let after = try await post(["session": session, "client_message_id": "m3", "text": "还在吗？"])
            #expect(after.status == 404 && (after.json["error"] as? [String: Any])?["code"] as? String == "unknown_session")
            #expect(try await relay.demo.state.chatStateCount() == 0, "no state kept for it")
            #expect(try await relay.demo.state.handoffCount() == 0)
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("An agent replying to an erased chat before the relay's check noticed: nothing is sent, the chat leaves the desk at once; the check then ends the customer's chat")
    func replyBeforeTheCheck() async throws {
        let relay = try await AgentRelayHarness.start(erasureCheck: .seconds(3_600))  // checked by hand below
        do {
            let email = "fay.reply@example.com"
            let customer = try await offPool { Handed(value: try Self.queuedCustomer(relay, email: email)) }
            let session = customer.value.session
            defer { customer.value.ws.close() }
            let hub = relay.hub
            let ann = try hub.authenticator.login(tenant: "demo", username: "ann", password: HandoffContinuityTests.password).principal
            let annFrames = FrameBox()
            _ = await hub.connect(ann, token: "unused", send: annFrames.append, close: {})
            _ = try await hub.take(ann, session: session)
            _ = try await Self.eraseLikeTheCLI(relay, email: email, request: "DSR-LIVE-4")

            await #expect(throws: AgentDeskError.notFound) { try await hub.reply(ann, session: session, text: "您好，我来处理") }
            #expect(annFrames.contains(type: "chat_erased", "session", session))
            #expect(!hub.isWithHuman(tenant: "demo", session: session))
            #expect(try await relay.demo.state.handoffCount() == 0)

            let ended = await relay.server.erasures.check()
            #expect(ended == ["demo": [session]], "the open WebSocket chat was still there to end")
            let frames = try await offPool { () -> Handed<(before: [[String: Any]], closed: [String: Any])> in
                let got = try customer.value.ws.receive(until: "error")
                return Handed(value: (got.before, got.frame))
            }.value
            #expect(frames.closed["code"] as? String == "chat_closed")
            #expect(!frames.before.contains { $0["role"] as? String == "agent" }, "the reply never reached the customer")
            #expect(await relay.server.erasures.check().isEmpty, "nothing left to end")
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }

    @Test("A check cancelled mid-look-up (as at shutdown) is not a failure: no error line, no chat ended")
    func cancelledCheckIsQuiet() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            let customer = try await offPool { () -> Handed<(ws: TestWebSocket, session: String, token: String)> in
                Handed(value: try Self.queuedCustomer(relay, email: "carol.keep@example.com"))
            }.value
            defer { customer.ws.close() }
            let check = Task { () -> [String: Set<String>] in
                withUnsafeCurrentTask { $0?.cancel() }
                return await relay.server.erasures.check()
            }
            #expect(await check.value.isEmpty, "a cancelled look-up ends nothing")
            #expect(!relay.logs.text.contains("relay.erasure_check_failed"))
            #expect(relay.hub.isWithHuman(tenant: "demo", session: customer.session))
            // A real check afterwards still sees the chat as live and leaves it alone.
            #expect(await relay.server.erasures.check().isEmpty)
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }
}
