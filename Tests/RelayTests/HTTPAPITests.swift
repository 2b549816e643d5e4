import Foundation
import Relay
import Testing
import TranscriptStore
import Yams

/// `POST /v1/messages` and `GET /v1/sessions/{id}/messages` over real TLS, with keys made the
/// way `kamirelay tenants api-key create` makes them.
@Suite(.serialized) struct HTTPAPITests {
    static func json(_ bytes: [UInt8]) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { throw TestFailure("not a JSON object") }
        return object
    }

    static func body(_ object: [String: Any]) throws -> [UInt8] { Array(try JSONSerialization.data(withJSONObject: object)) }

    @Test func postRunsThePipelineAndResendsAreAnsweredFromTheStore() async throws {
        let relay = try await RelayHarness.start()
        let key = try await relay.demo.state.createAPIKey(tenant: RelayDemo.tenant, label: "test").key
        let completed = try #require(relay.demo.orders.first { $0.status == .completed && !$0.cardKeys.isEmpty })
        let cardKey = completed.cardKeys[0], phone = "13912345678"
        let auth = ["Authorization": "Bearer \(key)"]
        let text = "卡密\(cardKey)用不了，我的手机\(phone)"

        // First message without a session: a new API session.
        let first = try await offPool {
            try relay.https("POST", "/v1/messages", headers: auth, body: try Self.body(["client_message_id": "ext-1", "text": text]))
        }
        #expect(first.status == 200)
        #expect(first.head.contains("content-type: application/json"))
        #expect(first.head.contains("strict-transport-security: max-age=31536000"))
        let answer = try Self.json(first.body)
        let session = try #require(answer["session"] as? String)
        #expect(answer["created"] as? Bool == true && answer["duplicate"] as? Bool == false)
        let customer = try #require(answer["customer_message"] as? [String: Any])
        let stored = try #require(customer["text"] as? String)
        #expect(stored.contains("[CARD_KEY]") && stored.contains("[PHONE") && !stored.contains(phone))
        #expect(customer["client_message_id"] as? String == "ext-1")
        let redaction = try #require(answer["redaction"] as? [String: Any])
        #expect(Set(redaction["types"] as? [String] ?? []) == ["card_key", "phone"])
        #expect((redaction["notice"] as? String)?.contains("卡密") == true)
        let reply = try #require(answer["reply"] as? [String: Any])
        #expect(reply["role"] as? String == "bot" && !((reply["text"] as? String) ?? "").isEmpty)

        // The same message again (a retry after a timeout): same answer, nothing stored twice.
        let again = try await offPool {
            try relay.https("POST", "/v1/messages", headers: auth, body: try Self.body(["client_message_id": "ext-1", "text": text]))
        }
        let replayed = try Self.json(again.body)
        #expect(again.status == 200 && replayed["duplicate"] as? Bool == true && replayed["session"] as? String == session)
        #expect((replayed["customer_message"] as? [String: Any])?["id"] as? Int == customer["id"] as? Int)
        #expect((replayed["reply"] as? [String: Any])?["text"] as? String == reply["text"] as? String)

        // A second message in the same session, in English; then the history, all and after an id.
        let second = try await offPool {
            try relay.https("POST", "/v1/messages", headers: auth,
                            body: try Self.body(["session": session, "client_message_id": "ext-2", "text": "How do I get a refund?", "language": "en"]))
        }
        let secondAnswer = try Self.json(second.body)
        #expect(second.status == 200 && secondAnswer["created"] as? Bool == false)
        let history = try await offPool { try relay.https("GET", "/v1/sessions/\(session)/messages", headers: auth) }
        #expect(history.status == 200)
        let messages = try #require(try Self.json(history.body)["messages"] as? [[String: Any]])
        #expect(messages.map { $0["role"] as? String } == ["customer", "bot", "customer", "bot"])
        let after = try await offPool { try relay.https("GET", "/v1/sessions/\(session)/messages?after=1", headers: auth) }
        let afterOne = try Self.json(after.body)["messages"] as? [[String: Any]]
        #expect(afterOne?.first?["id"] as? Int == 2)

        let transcript = try await relay.demo.store.transcript(tenant: RelayDemo.tenant, session: session)
        #expect(transcript.count == 4, "the resend stored nothing")
        #expect(try await relay.demo.store.session(tenant: RelayDemo.tenant, session: session).channel == "api")
        // The phone links the API session to its data subject, as in a WebSocket chat.
        #expect(try await relay.demo.store.sessions(tenant: RelayDemo.tenant, subject: .phone(phone)).map(\.id) == [session])
        let metrics = try await offPool { try relay.httpGet("/metrics") }
        #expect(metrics.contains(#"kamirelay_messages_total{channel="api",direction="in",role="customer"} 2"#))
        #expect(metrics.contains(#"route="/v1/messages",status="200""#))
        try await relay.shutdown()
        for secret in [cardKey, phone, key, "用不了"] {
            #expect(!relay.logs.text.contains(secret), "no content or key in the logs")
            #expect(!metrics.contains(secret))
            #expect(!(try relay.dataDirectoryBytes()).contains(secret), "nothing in clear on disk")
        }
        try? FileManager.default.removeItem(atPath: (relay.directory as NSString).deletingLastPathComponent)
    }

    @Test func refusalsAreJSONErrorsWithTheirStatus() async throws {
        var limits = RelayLimits()
        limits.apiBurst = 7
        limits.apiRequestsPerSecond = 0.01
        let relay = try await RelayHarness.start(limits: limits)
        let state = relay.demo.state
        let key = try await state.createAPIKey(tenant: RelayDemo.tenant, label: "a").key
        let revoked = try await state.createAPIKey(tenant: RelayDemo.tenant, label: "b")
        #expect(try await state.revokeAPIKey(tenant: RelayDemo.tenant, id: revoked.id))
        try await relay.demo.store.addTenant("other")
        let foreign = try await state.createAPIKey(tenant: "other", label: "c").key
        #expect(try await state.listAPIKeys(tenant: RelayDemo.tenant).map(\.id).count == 2)

        func call(_ method: String, _ path: String, key: String?, body: [UInt8]? = nil, host: String = "localhost") async throws
            -> (status: Int, code: String?, head: String) {
            let response = try await offPool {
                try relay.https(method, path, hostHeader: host, headers: key.map { ["Authorization": "Bearer \($0)"] } ?? [:], body: body)
            }
            let code = (try? Self.json(response.body)["error"] as? [String: Any])?["code"] as? String
            return (response.status, code, response.head)
        }
        let message = try Self.body(["client_message_id": "x1", "text": "你好"])
        let none = try await call("POST", "/v1/messages", key: nil, body: message)
        #expect(none.status == 401 && none.code == "unauthorized" && none.head.contains("www-authenticate: bearer"))
        #expect(none.head.contains("x-content-type-options: nosniff"))
        let tampered = String(key.dropLast()) + (key.hasSuffix("A") ? "B" : "A")
        #expect(try await call("POST", "/v1/messages", key: tampered, body: message).status == 401)
        #expect(try await call("POST", "/v1/messages", key: revoked.key, body: message).status == 401)
        let wrongTenant = try await call("POST", "/v1/messages", key: foreign, body: message)
        #expect(wrongTenant.status == 403 && wrongTenant.code == "wrong_tenant")
        #expect(try await call("POST", "/v1/messages", key: key, body: message, host: "evil.example").status == 421)
        // Seven requests of burst for `key`.
        let invalid = try await call("POST", "/v1/messages", key: key, body: Array("{not json".utf8))
        #expect(invalid.status == 400 && invalid.code == "invalid_json")
        let notUTF8 = try await call("POST", "/v1/messages", key: key,
                                     body: Array(#"{"client_message_id":"u1","text":"#.utf8) + [0x22, 0xC3, 0x28, 0x22, 0x7D])
        #expect(notUTF8.status == 400 && notUTF8.code == "invalid_utf8")
        let badID = try await call("POST", "/v1/messages", key: key, body: try Self.body(["client_message_id": "no spaces", "text": "hi"]))
        #expect(badID.status == 400 && badID.code == "invalid_client_message_id")
        let huge = try await call("POST", "/v1/messages", key: key, body: Array(repeating: UInt8(ascii: "a"), count: 20_000))
        #expect(huge.status == 413 && huge.code == "payload_too_large")
        let unknown = try await call("POST", "/v1/messages", key: key,
                                     body: try Self.body(["session": String(repeating: "ab", count: 16), "client_message_id": "x", "text": "hi"]))
        #expect(unknown.status == 404 && unknown.code == "unknown_session")
        // A WebSocket chat's session is not reachable through the API.
        let port = relay.port, root = relay.demo.rootCertificatePath
        let webSession = try await offPool { () -> String in
            let ws = try TestWebSocket(port: port, rootCA: root)
            defer { ws.close() }
            return try startChat(ws)
        }
        #expect(try await call("GET", "/v1/sessions/\(webSession)/messages", key: key).status == 404)
        #expect(try await call("GET", "/v1/sessions/\(webSession)/messages?after=x", key: key).code == "invalid_after")
        let limited = try await call("GET", "/v1/sessions/\(webSession)/messages", key: key)
        #expect(limited.status == 429 && limited.code == "rate_limited" && limited.head.contains("retry-after: 1"))
        try await relay.finish()
    }

    /// Docs/openapi.yaml describes exactly the routes the router serves, with every status.
    @Test func openAPIDescriptionMatchesTheRoutes() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/openapi.yaml")
        let document = try #require(try Yams.load(yaml: String(contentsOf: url, encoding: .utf8)) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let paths = try #require(document["paths"] as? [String: Any])
        var documented: Set<RelayHTTPAPI.Route> = []
        for (path, item) in paths {
            for (method, operation) in try #require(item as? [String: Any]) where ["get", "post", "put", "patch", "delete"].contains(method) {
                let responses = try #require((operation as? [String: Any])?["responses"] as? [AnyHashable: Any])
                documented.insert(RelayHTTPAPI.Route(method: method, path: path,
                                                     statuses: Set(responses.keys.compactMap { Int("\($0)") })))
            }
        }
        #expect(documented == Set(RelayHTTPAPI.routes))
        let security = try #require((document["components"] as? [String: Any])?["securitySchemes"] as? [String: Any])
        #expect(((security["apiKey"] as? [String: Any])?["scheme"] as? String) == "bearer")
    }
}
