import Foundation
import Testing

/// `kamirelay bot …` run as a user would, from a directory that is not the repository.
@Suite struct BotCLITests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let elsewhere = FileManager.default.temporaryDirectory

    @Test func classifyWorksFromAnyDirectoryWithTheBuiltInDemo() async throws {
        let r = try await CLI.run(["bot", "classify", "--tenant", "demo"],
                            stdin: Data("付款了没收到卡密\nwhat's the weather like in Paris\n".utf8), cwd: Self.elsewhere)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(first?["intent"] as? String == "card_not_received")
        #expect(first?["language"] as? String == "zh")
        #expect(first?["confidence"] is Double)
        #expect((first?["faq"] as? [String: Any])?["id"] as? String == "paid-no-key")
        #expect(first?["sentiment"] is [String: Any])
        let second = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any]
        #expect(second?["intent"] as? String == "out_of_scope")
        #expect(second?["language"] as? String == "en")
    }

    @Test func testReportsAccuracyAgainstTheBaseline() async throws {
        let file = Self.repoRoot.appendingPathComponent("knowledge-base/demo-heldout.tsv").path
        let r = try await CLI.run(["bot", "test", "--tenant", "demo", file], cwd: Self.elsewhere)
        #expect(r.status == 0, "\(r.stderr)")
        for label in ["intent accuracy", "out-of-scope recall", "FAQ top-1", "keyword baseline", "precision", "confusions"] {
            #expect(r.stdout.contains(label), "missing \(label)")
        }
    }

    @Test func chatRunsThePipeline() async throws {
        let r = try await CLI.run(["bot", "chat", "--tenant", "demo"], stdin: Data("你好\n查订单\n/quit\n".utf8), cwd: Self.elsewhere)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("喵喵发卡"))
        #expect(r.stdout.contains("请发送您的订单号"))
    }

    @Test func unknownTenantAndBrokenFilesAreClearErrors() async throws {
        let unknown = try await CLI.run(["bot", "classify", "--tenant", "acme"], cwd: Self.elsewhere)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("--kb"))

        let broken = Self.elsewhere.appendingPathComponent("broken-kb-\(UUID().uuidString).yaml")
        try "tenant: acme\nintents: {oops".write(to: broken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: broken) }
        let r = try await CLI.run(["bot", "classify", "--kb", broken.path], cwd: Self.elsewhere)
        #expect(r.status != 0)
        #expect(r.stderr.contains(broken.lastPathComponent))
    }
}
