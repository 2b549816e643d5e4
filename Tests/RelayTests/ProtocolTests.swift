import Foundation
import Redaction
import Relay
import Sealing
import Testing

@Suite struct ClientFrameTests {
    @Test func parsesEveryClientFrame() throws {
        #expect(try ClientFrame.parse(#"{"type":"hello","language":"en"}"#, maxCharacters: 100) == .hello(language: "en"))
        #expect(try ClientFrame.parse(#"{"type":"hello"}"#, maxCharacters: 100) == .hello(language: nil))
        #expect(try ClientFrame.parse(#"{"type":"message","text":"你好","client_id":"a-1"}"#, maxCharacters: 100)
                == .message(text: "你好", clientID: "a-1"))
        #expect(try ClientFrame.parse(#"{"type":"typing"}"#, maxCharacters: 100) == .typing)
        #expect(try ClientFrame.parse(#"{"type":"read","id":7}"#, maxCharacters: 100) == .read(upTo: 7))
        #expect(try ClientFrame.parse(#"{"type":"bye"}"#, maxCharacters: 100) == .bye)
        #expect(try ClientFrame.parse(#"{"type":"feedback","csat":5}"#, maxCharacters: 100) == .feedback(.csat(5)))
        #expect(try ClientFrame.parse(#"{"type":"feedback","rating":"down","id":4}"#, maxCharacters: 100)
                == .feedback(.thumb(up: false, messageID: 4)))
    }

    @Test func refusesBadFramesWithTypedErrors() {
        func code(_ text: String, max: Int = 100) -> String? {
            do { _ = try ClientFrame.parse(text, maxCharacters: max); return nil } catch { return error.code }
        }
        #expect(code("[1,2]") == "invalid_json")
        #expect(code("") == "invalid_json")
        #expect(code(#"{"text":"x"}"#) == "missing_field")
        #expect(code(#"{"type":"message","client_id":"a"}"#) == "missing_field")
        #expect(code(#"{"type":"message","text":"x"}"#) == "missing_field")
        #expect(code(#"{"type":"message","text":42,"client_id":"a"}"#) == "missing_field")
        #expect(code(#"{"type":"message","text":"x","client_id":""}"#) == "invalid_client_id")
        #expect(code(#"{"type":"message","text":"   ","client_id":"a"}"#) == "empty_message")
        #expect(code(#"{"type":"message","text":"12345","client_id":"a"}"#, max: 4) == "message_too_long")
        #expect(code(#"{"type":"message","text":"1234","client_id":"a"}"#, max: 4) == nil)
        #expect(code(#"{"type":"feedback","rating":5}"#) == "invalid_feedback")
        #expect(code(#"{"type":"feedback","csat":6}"#) == "invalid_feedback")
        #expect(code(#"{"type":"feedback","csat":4.5}"#) == "invalid_feedback")
        #expect(code(#"{"type":"feedback"}"#) == "invalid_feedback")
        #expect(code(#"{"type":"nope"}"#) == "unknown_type")
    }

    @Test func errorDescriptionsNeverEchoClientText() {
        do { _ = try ClientFrame.parse(#"{"type":"13812345678"}"#, maxCharacters: 100) } catch {
            #expect(!error.description.contains("13812345678"))
        }
    }

    @Test func serverFramesAreStableJSON() throws {
        let json = ServerFrame.redacted(clientID: "m2", types: ["card_key"], notice: "x").json()
        #expect(json == #"{"client_id":"m2","notice":"x","type":"redacted","types":["card_key"]}"#)
        let message = ServerFrame.message(role: "bot", text: "好", id: 3, time: Date(timeIntervalSince1970: 0), clientID: nil).json()
        #expect(message == #"{"id":3,"role":"bot","text":"好","time":"1970-01-01T00:00:00.000Z","type":"message"}"#)
    }
}

@Suite struct TenantDirectoryTests {
    static func directory() throws -> TenantDirectory {
        TenantDirectory([
            TenantRuntime(id: "a", hostnames: ["Shop-A.example"], redactor: try Redactor(tokenizer: BLAKE2bKeyedHasher.random()), bot: DemoBot.shared),
            TenantRuntime(id: "b", hostnames: ["b.example"], redactor: try Redactor(tokenizer: BLAKE2bKeyedHasher.random()), bot: DemoBot.shared),
        ])
    }

    @Test func hostHeaderPicksTheTenant() throws {
        let d = try Self.directory()
        #expect(d.resolve(hostHeader: "shop-a.example", sniTenant: nil)?.id == "a")
        #expect(d.resolve(hostHeader: "SHOP-A.example:8443", sniTenant: nil)?.id == "a")
        #expect(d.resolve(hostHeader: "b.example.", sniTenant: "b")?.id == "b")
    }

    @Test func unknownHostOrSNIMismatchIsRefused() throws {
        let d = try Self.directory()
        #expect(d.resolve(hostHeader: "c.example", sniTenant: nil) == nil)
        #expect(d.resolve(hostHeader: nil, sniTenant: "a") == nil)
        #expect(d.resolve(hostHeader: "b.example", sniTenant: "a") == nil, "tenant B over tenant A's certificate")
        #expect(d.resolve(hostHeader: "", sniTenant: nil) == nil)
    }
}

@Suite struct RedactionNoticeTests {
    @Test func namesTheMaskedKindsInTheCustomersLanguage() {
        #expect(RedactionNotice.text(for: [.cardKey], language: "zh").hasPrefix("为了您的安全，卡密已隐藏"))
        #expect(RedactionNotice.text(for: [.cardKey, .phone, .cardKey], language: "zh").hasPrefix("为了您的安全，卡密、手机号已隐藏"))
        #expect(RedactionNotice.text(for: [.cardKey, .phone], language: "en").hasPrefix("For your safety, the card key and phone number were masked."))
        #expect(RedactionNotice.text(for: [.email], language: "en").hasPrefix("For your safety, the e-mail address was masked."))
    }
}
