import Foundation
import PolicyFiles
import Redaction
import Sealing
import Testing
@testable import TranscriptStore

@Suite struct ImportTests {
    static let phone = "13812345678"
    static let email = "alice.secret@example.com"
    static let cardKey = "ABCD-EFGH-JKLM-NPQR"
    static let orderNumber = "K7Q2M9X4B1C8D3F5"
    static let transaction = "4200001234202405011234567890"

    func importer(_ f: Fixture, tenant: String, batchSize: Int = 500) async throws -> ChatLogImporter {
        let tokenKey = try await f.store.purposeKey(tenant: tenant, .tokenisation)
        let redactor = try Redactor(policy: RedactionPolicyFile.builtInDefault, issuedKeys: nil,
                                    tokenizer: BLAKE2bKeyedHasher(guardedKey: tokenKey))
        return ChatLogImporter(store: f.store, tenant: tenant, redactor: redactor,
                               dedupKey: try await f.store.purposeKey(tenant: tenant, .importDedup), batchSize: batchSize)
    }

    static func line(_ fields: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self)
    }

    static let plantedLog: String = [
        line(["session": "s-1", "time": "2024-05-01T10:00:00Z", "role": "customer", "email": email, "phone": phone, "order": orderNumber,
              "text": "你好，我的手机是\(phone)，邮箱 \(email)"]),
        line(["session": "s-1", "time": "2024-05-01T10:00:03Z", "role": "bot", "text": "请提供订单号"]),
        line(["session": "s-1", "time": "2024-05-01T10:00:09Z", "role": "customer", "text": "订单号 \(orderNumber)，我的卡密是 \(cardKey) 用不了"]),
        line(["session": "s-1", "time": "2024-05-01T10:00:15Z", "role": "customer", "text": "微信支付交易单号 \(transaction)"]),
        line(["session": "s-2", "time": 1_714_557_600, "role": "customer", "phone": "+86 138 1234 5678",
              "text": "my email is \(email), call me on \(phone)"]),
        line(["session": "s-2", "time": 1_714_557_660, "role": "agent", "text": "We re-sent the card key to your e-mail."]),
        line(["session": "s-3", "time": 1_714_557_700, "role": "customer", "text": "another shop's trade: 微信支付交易单号 \(transaction)"]),
    ].joined(separator: "\n") + "\n"

    @Test func plantedSecretsAreNowhereInTheDatabaseFiles() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        let summary = try await importer(f, tenant: "shop1").run(data: Data(Self.plantedLog.utf8))
        #expect(summary.imported == 7 && summary.badLines.isEmpty)

        // Grep every file of the store (database, WAL, shm, journal) while the WAL still holds
        // the writes, and again after a checkpoint.
        let secrets = [Self.phone, "138 1234 5678", Self.email, "alice.secret", Self.cardKey, "ABCDEFGHJKLMNPQR", Self.orderNumber,
                       Self.transaction, "你好，我的手机是", "re-sent the card key"]
        for pass in ["with WAL", "after checkpoint"] {
            if pass == "after checkpoint" { try await f.store.checkpoint() }
            let names = try f.fileNames()
            #expect(names.contains("transcripts.sqlite"))
            if pass == "with WAL" { #expect(names.contains("transcripts.sqlite-wal")) }
            let bytes = try f.allFileBytes()
            #expect(bytes.count > 10_000)
            for secret in secrets {
                #expect(!bytes.contains(secret), "\(pass): planted value found in the database files")
                #expect(!bytes.contains(secret.uppercased()) && !bytes.contains(secret.lowercased()))
            }
        }

        // Redaction happened on the way in: the decrypted transcripts hold placeholders, not secrets.
        let s1 = try await f.store.transcript(tenant: "shop1", session: "s-1").map(\.text)
        let s2 = try await f.store.transcript(tenant: "shop1", session: "s-2").map(\.text)
        let all = (s1 + s2).joined(separator: "\n")
        for secret in [Self.phone, Self.email, Self.cardKey, Self.transaction] {
            #expect(!all.contains(secret), "a planted secret survived redaction")
        }
        #expect(s1[0] == "你好，我的手机是[PHONE]，邮箱 [EMAIL]")
        #expect(s1[2].contains("[CARD_KEY]"))
        #expect(s2[0] == "my email is [EMAIL], call me on [PHONE]")
        // Transaction numbers are tokenised with the tenant's key: stable within the tenant.
        let token = try #require(s1[3].firstMatch(of: /\[TRANSACTION_NUMBER:[0-9a-f]+\]/)).output
        let s3 = try await f.store.transcript(tenant: "shop1", session: "s-3").map(\.text)
        #expect(s3[0].contains(token))

        // Sessions were linked to the subject through blind indexes only.
        #expect(try await f.store.sessions(tenant: "shop1", subject: .phone(Self.phone)).map(\.id) == ["s-1", "s-2"])
        let byOrder = try await f.store.sessions(tenant: "shop1", subject: .orderNumber(Self.orderNumber.lowercased())).map(\.id)
        // The order number belongs to the same subject (linked by phone in s-2): all their sessions.
        #expect(byOrder == ["s-1", "s-2"])
        #expect(try await f.store.sessions(tenant: "shop1", subject: .orderNumber("AAAABBBBCCCCDDDD")).isEmpty)
    }

    @Test func tokensDifferBetweenTenants() async throws {
        let f = try Fixture()
        var tokens: [Substring] = []
        for tenant in ["shop1", "shop2"] {
            try await f.store.addTenant(tenant)
            _ = try await importer(f, tenant: tenant).run(data: Data(Self.plantedLog.utf8))
            let text = try await f.store.transcript(tenant: tenant, session: "s-1")[3].text
            tokens.append(try #require(text.firstMatch(of: /\[TRANSACTION_NUMBER:[0-9a-f]+\]/)).output)
        }
        #expect(tokens[0] != tokens[1])
    }

    @Test func largeFilesStreamAcrossChunksAndOverlongLinesAreReported() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        let filler = String(repeating: "好", count: 150)  // 450 bytes: lines straddle 1 MiB chunk edges
        var text = ""
        for i in 1...3_000 {
            text += Self.line(["session": "s\(i % 7)", "time": 1_714_557_600 + i, "role": "customer", "text": "#\(i) \(filler)"]) + "\n"
            if i == 1_500 { text += String(repeating: "x", count: ChatLogImporter.maxLineBytes + 10) + "\n" }
            if i == 2_500 { text += String(repeating: "y", count: 3 * ChatLogImporter.maxLineBytes) + "\n" }  // never buffered whole
        }
        text += Self.line(["session": "s0", "time": 1_714_560_000, "role": "bot", "text": "last line, no newline"])
        let path = f.dir + "/big.jsonl"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let summary = try await importer(f, tenant: "shop1", batchSize: 400).run(path: path)
        let tooLong = "longer than \(ChatLogImporter.maxLineBytes) bytes"
        #expect(summary.badLines == [ChatLogImporter.BadLine(line: 1_501, reason: tooLong), ChatLogImporter.BadLine(line: 2_502, reason: tooLong)])
        #expect(summary.imported == 3_001)
        var numbers: [Int] = []
        for s in 0..<7 {
            for m in try await f.store.transcript(tenant: "shop1", session: "s\(s)") where m.text.hasPrefix("#") {
                #expect(m.text.hasSuffix(filler))
                numbers.append(Int(m.text.dropFirst().prefix(while: { $0 != " " }))!)
            }
        }
        #expect(numbers.sorted() == Array(1...3_000))
        #expect(try await f.store.transcript(tenant: "shop1", session: "s0").last?.text == "last line, no newline")
    }

    @Test func badLinesAreReportedByNumberAndTheRestImportsOnce() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        let log = [
            Self.line(["session": "s-1", "time": "2024-05-01T10:00:00Z", "role": "customer", "text": "hello"]),
            "{not json",
            Self.line(["session": "s-1", "time": "yesterday", "role": "customer", "text": "secret 13812345678"]),
            "",
            Self.line(["session": "s-1", "time": "2024-05-01T10:00:01Z", "role": "robot", "text": "hi"]),
            Self.line(["session": "s-1", "time": "2024-05-01T10:00:02Z", "role": "bot", "text": "hi there"]),
            Self.line(["session": "s-2", "time": "2024-05-01T10:00:02Z", "role": "bot", "text": "x", "email": "not-an-email"]),
            Self.line(["time": "2024-05-01T10:00:02Z", "role": "bot", "text": "x"]),
            Self.line(["session": "s-2", "time": "2024-05-01T10:00:03.250Z", "role": "system", "text": "closed"]),
        ].joined(separator: "\n")
        var data = Data(log.utf8)
        data.append(contentsOf: [0x0A, 0xFF, 0xFE, 0x0A])  // invalid UTF-8 on line 10
        let summary = try await importer(f, tenant: "shop1", batchSize: 2).run(data: data)
        #expect(summary.badLines.map(\.line) == [2, 3, 5, 7, 8, 10])
        #expect(summary.badLines.allSatisfy { !$0.reason.contains("13812345678") && !$0.reason.contains("not-an-email") })
        #expect(summary.imported == 3 && summary.duplicates == 0)
        #expect(try await f.store.transcript(tenant: "shop1", session: "s-1").map(\.text) == ["hello", "hi there"])
        let s2 = try await f.store.transcript(tenant: "shop1", session: "s-2")
        #expect(s2.map(\.role) == [.system])
        #expect(s2[0].sentAt.timeIntervalSince1970 == Date(timeIntervalSince1970: 1_714_557_603.25).timeIntervalSince1970)

        // The same file again: nothing new.
        let again = try await importer(f, tenant: "shop1", batchSize: 3).run(data: data)
        #expect(again.imported == 0 && again.duplicates == 3)
        #expect(try await f.store.transcript(tenant: "shop1", session: "s-1").count == 2)
        // A longer file that repeats the old lines imports only the new one.
        var longer = data
        longer.append(Data((Self.line(["session": "s-1", "time": "2024-05-01T10:05:00Z", "role": "customer", "text": "thanks"]) + "\n").utf8))
        let third = try await importer(f, tenant: "shop1").run(data: longer)
        #expect(third.imported == 1 && third.duplicates == 3)
        #expect(try await f.store.transcript(tenant: "shop1", session: "s-1").map(\.text) == ["hello", "hi there", "thanks"])
    }
}
