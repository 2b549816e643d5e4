import ArgumentParser
import Foundation
import PolicyFiles
import Redaction
import Sealing

struct RedactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact",
        abstract: "Mask card keys, payment details, phone numbers and IDs in chat lines from standard input.",
        discussion: """
        Reads UTF-8 text on standard input and writes one output line per input line. Each line is \
        one chat message; consecutive lines form one session, so a number split across lines \
        ("138 1234" then "5678") is still caught.

        With no flags the built-in default policy is used (the same as policies/default.yaml). \
        Tokens (the `token` action, e.g. [TRANSACTION_NUMBER:3f9a1c]) are keyed by a random key \
        for this run unless --token-key-file gives one.

        --format jsonl writes {"text": …, "findings": [{"type", "start", "end", "action", \
        "confidence", "rule"}]} per line; start/end are half-open offsets in Unicode scalars of \
        the input line.

        Examples:
          echo '我的手机13812345678' | kamirelay redact
          kamirelay redact --policy policies/tenants/demo.yaml --known-keys issued.txt --format jsonl < chat.txt
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, jsonl
    }

    @Option(name: .long, help: "A policy YAML file (default: the built-in policies/default.yaml).")
    var policy: String?

    @Option(name: .customLong("known-keys"), help: "A file of card keys the shop issued, one per line; matches are always masked. Held in memory only as keyed hashes.")
    var knownKeys: String?

    @Option(name: .customLong("token-key-file"), help: "A file of 32+ bytes keying the `token` action, so tokens are stable across runs.")
    var tokenKeyFile: String?

    @Option(name: .long, help: "Output format: text (the redacted line) or jsonl (text and findings).")
    var format: Format = .text

    @Flag(name: .customLong("no-session"), help: "Treat every line as a separate session (no split-number detection).")
    var noSession = false

    func run() throws {
        let policy: RedactionPolicy
        if let path = self.policy {
            do { policy = try RedactionPolicyFile.load(path: path) } catch {
                throw ValidationError("policy: \(error)")
            }
        } else {
            policy = RedactionPolicyFile.builtInDefault
        }
        let hasher = try tokenHasher()
        var issued: IssuedKeySet? = nil
        if let knownKeys {
            guard let data = FileManager.default.contents(atPath: knownKeys),
                  let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("--known-keys: cannot read \(knownKeys) as UTF-8 text")
            }
            // Issued keys are hashed under a fresh random key: nothing outlives the process.
            issued = IssuedKeySet(keys: text.split(whereSeparator: \.isNewline).map(String.init)
                .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }, hasher: BLAKE2bKeyedHasher.random())
        }
        let redactor = try Redactor(policy: policy, issuedKeys: issued, tokenizer: hasher)
        var session = RedactionSession(redactor: redactor)
        var lineNumber = 0
        var reader = LineReader(handle: FileHandle.standardInput)
        let out = FileHandle.standardOutput
        var buffer = Data()
        while let bytes = reader.next() {
            lineNumber += 1
            guard let line = String(validating: bytes, as: UTF8.self) else {
                FileHandle.standardError.write(Data("kamirelay redact: line \(lineNumber) is not valid UTF-8; stopped (earlier lines were written)\n".utf8))
                out.write(buffer)
                throw ExitCode(65)
            }
            let result = noSession ? redactor.redact(line) : session.redact(line)
            switch format {
            case .text: buffer.append(contentsOf: result.text.utf8)
            case .jsonl: buffer.append(contentsOf: JSONLine.encode(result).utf8)
            }
            buffer.append(0x0A)
            if buffer.count > 1 << 16 { out.write(buffer); buffer.removeAll(keepingCapacity: true) }
        }
        out.write(buffer)
    }

    func tokenHasher() throws -> BLAKE2bKeyedHasher {
        guard let tokenKeyFile else { return BLAKE2bKeyedHasher.random() }
        guard let data = FileManager.default.contents(atPath: tokenKeyFile), data.count >= 32 else {
            throw ValidationError("--token-key-file: \(tokenKeyFile) must exist and hold at least 32 bytes")
        }
        var bytes = [UInt8](data.prefix(64))
        defer { for i in bytes.indices { bytes[i] = 0 } }
        return BLAKE2bKeyedHasher(key: bytes)
    }
}

/// Reads lines as raw bytes (so invalid UTF-8 is reported, not silently replaced).
struct LineReader {
    let handle: FileHandle
    var pending: [UInt8] = []
    var start = 0
    var eof = false

    init(handle: FileHandle) { self.handle = handle }

    mutating func next() -> [UInt8]? {
        while true {
            if let newline = pending[start...].firstIndex(of: 0x0A) {
                var line = Array(pending[start..<newline])
                if line.last == 0x0D { line.removeLast() }
                start = newline + 1
                return line
            }
            if eof {
                guard start < pending.count else { return nil }
                let line = Array(pending[start...])
                start = pending.count
                return line
            }
            pending.removeFirst(start)
            start = 0
            let chunk = handle.availableData
            if chunk.isEmpty { eof = true } else { pending.append(contentsOf: chunk) }
        }
    }
}

/// JSON for one redacted line; the text is already redacted.
enum JSONLine {
    static func encode(_ result: RedactionResult) -> String {
        var s = "{\"text\":" + quote(result.text) + ",\"findings\":["
        for (i, f) in result.findings.enumerated() {
            if i > 0 { s += "," }
            s += "{\"type\":\"\(f.type.rawValue)\",\"start\":\(f.start),\"end\":\(f.end),\"action\":\"\(f.action.rawValue)\","
            s += "\"confidence\":\(f.confidence),\"rule\":" + quote(f.rule)
            if f.continuesPreviousMessage { s += ",\"continues_previous_message\":true" }
            s += "}"
        }
        return s + "]}"
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || (0x2028...0x2029).contains(scalar.value) {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
