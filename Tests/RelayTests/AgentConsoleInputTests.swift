import AgentDesk
import Foundation
@testable import Relay
import Testing
import TLSProbe

/// Bad request bodies on the agent console's API get a refusal that says what is wrong.
@Suite(.serialized) struct AgentConsoleInputTests {
    /// One raw HTTPS POST (the harness's `request` only sends well-formed JSON).
    static func post(_ relay: AgentRelayHarness, _ path: String, body: [UInt8], cookie: String? = nil, csrf: String? = nil) throws
        -> (status: Int, json: [String: Any]) {
        let context = try TLSProbeContext(trustedCertificatesFile: relay.demo.rootCertificatePath)
        let client = try BlockingTLSClient(port: relay.port, context: context, serverName: "localhost", timeoutSeconds: 60)
        var head = "POST \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        head += "Content-Type: application/json\r\nOrigin: https://localhost\r\n"
        if let cookie { head += "Cookie: \(AgentAuthenticator.cookieName)=\(cookie)\r\n" }
        if let csrf { head += "X-CSRF-Token: \(csrf)\r\n" }
        try client.write(Array((head + "\r\n").utf8) + body)
        var raw: [UInt8] = []
        while let more = try? client.read() { raw += more }
        guard let split = raw.firstRange(of: Array("\r\n\r\n".utf8)) else { throw TestFailure("no HTTP response") }
        let status = Int(String(decoding: raw[..<split.lowerBound], as: UTF8.self).split(separator: " ")[1]) ?? 0
        return (status, (try? JSONSerialization.jsonObject(with: Data(raw[split.upperBound...]))) as? [String: Any] ?? [:])
    }

    @Test func malformedBodiesAreNamedNotJustInvalid() async throws {
        let relay = try await AgentRelayHarness.start()
        do {
            try await offPool {
                let notUTF8 = try Self.post(relay, "/agent/api/login", body: Array(#"{"username":"ann","password":""#.utf8) + [0xFF, 0x22, 0x7D])
                #expect(notUTF8.status == 400 && notUTF8.json["error"] as? String == "invalid_utf8")
                let notJSON = try Self.post(relay, "/agent/api/login", body: Array("username=ann".utf8))
                #expect(notJSON.status == 400 && notJSON.json["error"] as? String == "invalid_json")
                let fields = try Self.post(relay, "/agent/api/login", body: Array(#"{"user":"ann"}"#.utf8))
                #expect(fields.status == 400 && fields.json["error"] as? String == "invalid_request" && fields.json["message"] != nil)
                let (token, csrf) = try relay.login("ann")
                let path = "/agent/api/sessions/\(String(repeating: "ab", count: 16))/reply"
                let huge = try Self.post(relay, path, body: Array(repeating: UInt8(ascii: "a"), count: 20_000), cookie: token, csrf: csrf)
                #expect(huge.status == 413 && huge.json["error"] as? String == "payload_too_large")
                let noText = try Self.post(relay, path, body: Array("{}".utf8), cookie: token, csrf: csrf)
                #expect(noText.status == 400 && noText.json["error"] as? String == "invalid_request")
                // A well-formed reply to a chat that does not exist is still just not_found.
                let missing = try Self.post(relay, path, body: Array(#"{"text":"hi"}"#.utf8), cookie: token, csrf: csrf)
                #expect(missing.status == 404)
            }
            #expect(!relay.logs.text.contains("username=ann"), "no request content in the logs")
        } catch {
            try await relay.finish()
            throw error
        }
        try await relay.finish()
    }
}
