import ArgumentParser
import Redaction

struct RedactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact",
        abstract: "Mask secrets in chat lines read from standard input."
    )
    func run() throws {
        let redactor = try Redactor(policy: RedactionPolicy(), issuedKeys: nil, tokenizer: nil)
        while let line = readLine() { print(redactor.redact(line).text) }
    }
}

struct BenchRedactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "redact", abstract: "Redactor throughput and latency.")
    func run() {}
}
