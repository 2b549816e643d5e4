import ArgumentParser
import Foundation
import Sealing
import TranscriptStore

struct TranscriptsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcripts",
        abstract: "Read sealed transcripts (every access is recorded in the audit log).",
        subcommands: [TranscriptsShow.self, TranscriptsAccessLog.self]
    )
}

struct TranscriptsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Decrypt and print a session's (or a data subject's) redacted transcript.",
        discussion: """
        Examples:
          kamirelay transcripts show --tenant shop1 --session s-1
          kamirelay transcripts show --tenant shop1 --subject email:alice@example.com
          kamirelay transcripts show --tenant shop1 --subject phone:13812345678
          kamirelay transcripts show --tenant shop1 --subject order:K7Q2M9X4B1C8D3F5

        The access (operator, tenant, session or a keyed pseudonym of the subject, message count) \
        is written to the audit log before anything is printed.
        """)

    @OptionGroup var store: StoreOptions
    @Option(help: "The tenant.") var tenant: String
    @Option(help: "A session id.") var session: String?
    @Option(help: "A data subject: email:…, phone:… or order:….") var subject: String?
    @Option(help: "Who is reading, for the audit log (default: $USER). Ignored with --officer.") var `operator`: String?
    @OptionGroup var officer: OfficerOptions

    func validate() throws {
        guard (session == nil) != (subject == nil) else { throw ValidationError("give exactly one of --session or --subject") }
        if let subject, SubjectIdentifier(argument: subject) == nil {
            throw ValidationError("--subject must look like email:…, phone:… or order:…")
        }
    }

    func run() async throws {
        let actor = try officer.actor(tenant: tenant, role: .operator, dataDirectory: store.resolvedDataDir,
                                      fallback: `operator` ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown")
        let s = try store.openStore()
        var sessions: [SessionInfo]
        let target: String
        if let session {
            sessions = [try await s.session(tenant: tenant, session: session)]
            target = "session:\(session)"
        } else {
            let id = SubjectIdentifier(argument: subject!)!
            guard id.normalised != nil else { throw CLIError("not a valid \(id.kind.name)") }
            sessions = try await s.sessions(tenant: tenant, subject: id)
            // The audit log names the subject only by a keyed pseudonym.
            let auditKey = try await s.purposeKey(tenant: tenant, .audit)
            let pseudonym = BLAKE2bKeyedHasher(guardedKey: auditKey, outputLength: 16)
                .digest(Array(id.normalised!.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
            target = "subject:\(id.kind.name):\(pseudonym)"
        }
        var transcripts: [(SessionInfo, [TranscriptMessage])] = []
        for info in sessions { transcripts.append((info, try await s.transcript(tenant: tenant, session: info.id))) }
        try await s.accessLog.record(AccessEvent(actor: actor, tenant: tenant, action: "transcripts.show", target: target,
                                                 messageCount: transcripts.reduce(0) { $0 + $1.1.count }))
        try await recordAudit(store, s, tenant: tenant, action: "transcripts.show",
                              detail: ["target": target, "messages": String(transcripts.reduce(0) { $0 + $1.1.count })], actor: actor)
        if transcripts.isEmpty { print("no sessions found for that subject") }
        for (info, messages) in transcripts {
            print("== session \(info.id) (\(info.channel), \(info.status), started \(info.createdAt.iso8601), \(messages.count) message(s))")
            for m in messages {
                print("[\(m.sentAt.iso8601)] #\(m.sequence) \(m.role.name): \(m.text)")
            }
        }
    }
}

struct TranscriptsAccessLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access-log", abstract: "Print the transcript access log (who read what, when).")
    @OptionGroup var store: StoreOptions
    @Option(help: "Only this tenant.") var tenant: String?

    func run() async throws {
        for e in try await store.openStore().accessLog.events(tenant: tenant) {
            print("\(e.at.iso8601)\t\(e.actor)\t\(e.tenant)\t\(e.action)\t\(e.target)\t\(e.messageCount) message(s)")
        }
    }
}
