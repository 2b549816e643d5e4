import ArgumentParser

/// `kamirelay`: the one executable. Each concern adds its subcommand here.
@main
struct KamiRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kamirelay",
        abstract: "A privacy-first support relay for card-key shops (自动发卡平台).",
        discussion: """
        Customers chat over TLS; card keys, payment details, phone numbers and other identifiers \
        are masked before a message reaches the bot, an agent, a log or the transcript store; \
        transcripts are sealed at rest under per-tenant keys.
        """,
        version: KamiRelayVersion.string,
        subcommands: [
            RedactCommand.self,
            BenchCommand.self,
            VersionCommand.self,
            KeysCommand.self,
            TenantsCommand.self,
            ImportCommand.self,
            TranscriptsCommand.self,
            BotCommand.self,
            CertsCommand.self,
            TLSSelfTestServerCommand.self,
            ServeCommand.self,
            RetentionCommand.self,
            HoldCommand.self,
            EraseCommand.self,
            EpochCommand.self,
            ReceiptCommand.self,
            ExportCommand.self,
            AuditCommand.self,
            AgentsCommand.self,
        ]
    )
}
