import Foundation
import Testing

/// Runs the built `kamirelay` binary the way a user would.
enum CLI {
    static var binary: URL {
        // The test bundle sits next to the products it depends on.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.lastPathComponent == "MacOS" { dir = dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
        return dir.appendingPathComponent("kamirelay")
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// Runs the binary to its end, on a thread of its own (see ``offPool(_:)``).
    static func run(_ arguments: [String], stdin: Data = Data(), cwd: URL? = nil, environment: [String: String]? = nil) async throws -> Result {
        try await offPool { try runBlocking(arguments, stdin: stdin, cwd: cwd, environment: environment) }
    }

    static func runBlocking(_ arguments: [String], stdin: Data, cwd: URL?, environment: [String: String]?) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let cwd { process.currentDirectoryURL = cwd }
        if let environment { process.environment = environment }
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self))
    }
}

@Suite struct RedactCLITests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func issueExampleFromAnyDirectory() async throws {
        let r = try await CLI.run(["redact"], stdin: Data("我的手机13812345678，卡密ABCD-EFGH-IJKL-MNOP，订单号 Q7W8E9R0T1Y2U3I4\n".utf8),
                            cwd: URL(fileURLWithPath: "/"))
        #expect(r.status == 0)
        #expect(r.stdout == "我的手机[PHONE]，卡密[CARD_KEY]，订单号 Q7W8E9R0T1Y2U3I4\n")
    }

    @Test func oneOutputLinePerInputLineAndSplitNumbers() async throws {
        let r = try await CLI.run(["redact"], stdin: Data("我手机号是138 1234\n5678 谢谢\n\nno newline at end 13912345678".utf8))
        #expect(r.stdout == "我手机号是138 1234\n[PHONE] 谢谢\n\nno newline at end [PHONE]\n")
    }

    @Test func jsonlOffsetsAreUnicodeScalars() async throws {
        let r = try await CLI.run(["redact", "--format", "jsonl"], stdin: Data("👍 电话13812345678\n".utf8))
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(object["text"] as? String == "👍 电话[PHONE]")
        let finding = (object["findings"] as! [[String: Any]])[0]
        #expect(finding["type"] as? String == "phone")
        #expect(finding["start"] as? Int == 4)
        #expect(finding["end"] as? Int == 15)
        #expect(finding["action"] as? String == "mask")
    }

    @Test func invalidUTF8NamesTheLineAndKeepsEarlierOutput() async throws {
        var input = Data("第一行 13812345678\n".utf8)
        input.append(contentsOf: [0x66, 0xFF, 0xFE, 0x0A])
        let r = try await CLI.run(["redact"], stdin: input)
        #expect(r.status != 0)
        #expect(r.stderr.contains("line 2 is not valid UTF-8"))
        #expect(r.stdout == "第一行 [PHONE]\n")
    }

    @Test func brokenPolicyIsAClearErrorWithFileAndLine() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kamirelay-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("shop.yaml")
        try "version: 1\nactions:\n  phone: hide\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try await CLI.run(["redact", "--policy", file.path], stdin: Data("13812345678\n".utf8))
        #expect(r.status != 0)
        #expect(r.stderr.contains("shop.yaml:3: field 'actions.phone': unknown action 'hide'"))
        #expect(!r.stdout.contains("13812345678"))
    }

    @Test func knownKeysAreMasked() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kamirelay-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let keys = dir.appendingPathComponent("issued.txt")
        try "9F3KQ2ZP7M\n880123456789012\n".write(to: keys, atomically: true, encoding: .utf8)
        let r = try await CLI.run(["redact", "--known-keys", keys.path], stdin: Data("你们发的9f3kq2zp7m用不了\n".utf8))
        #expect(r.stdout == "你们发的[CARD_KEY]用不了\n")
    }

    @Test func helpExplainsTheCommand() async throws {
        let r = try await CLI.run(["redact", "--help"])
        #expect(r.stdout.contains("--known-keys"))
        #expect(r.stdout.contains("Unicode scalars"))
    }
}
