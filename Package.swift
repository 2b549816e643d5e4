// swift-tools-version:6.0
// KamiRelay — a privacy-first support relay for card-key shops.
// The folder tree follows the data path: bytes in → TLS → chat session → redaction →
// bot/agent → sealed transcript. One target per concern.
import PackageDescription

let package = Package(
    name: "KamiRelay",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kamirelay", targets: ["kamirelay"]),
        .library(name: "Redaction", targets: ["Redaction"]),
        .library(name: "SupportBot", targets: ["SupportBot"]),
        .library(name: "TLS", targets: ["TLS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries: Debian's libsodium 1.0.18 and libssl 3, found through pkg-config.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),

        // Finds and masks secrets in chat text. Foundation only: no I/O, no crypto library;
        // keyed hashing comes in through the `KeyedHasher` protocol.
        .target(name: "Redaction"),

        // Loads YAML policy files (redaction today) with file/line/field errors.
        .target(
            name: "PolicyFiles",
            dependencies: ["Redaction", .product(name: "Yams", package: "Yams")]
        ),

        // libsodium wrapper: guarded key memory, keyed BLAKE2b, AEAD, signatures.
        .target(name: "Sealing", dependencies: ["CSodium", "Redaction"]),

        // Sealed transcripts at rest: tenants, sessions, sealed messages, subject keys, tenant key
        // versions, blind indexes. SQLite (GRDB) behind the `TranscriptStore` protocol.
        .target(
            name: "TranscriptStore",
            dependencies: ["Sealing", "Redaction", .product(name: "GRDB", package: "GRDB.swift")]
        ),

        // The zh/en support bot: intents, FAQ retrieval, sentiment, dialogue, order look-ups.
        // Foundation + Yams (knowledge-base files); sees only redacted text.
        .target(name: "SupportBot", dependencies: [.product(name: "Yams", package: "Yams")]),

        // The demo shop's order store (dujiaoka-like orders in SQLite) behind `OrderSource`.
        .target(
            name: "SupportBotDemoStore",
            dependencies: ["SupportBot", "Redaction", .product(name: "GRDB", package: "GRDB.swift")]
        ),

        // A shop's own order backend over HTTP/JSON (retries, backoff, circuit breaker).
        .target(name: "SupportBotHTTPOrders", dependencies: ["SupportBot"]),

        // TLS termination on the system OpenSSL as a SwiftNIO handler: server contexts,
        // SNI → tenant, hot certificate reload, a development certificate generator.
        .target(
            name: "TLS",
            dependencies: [
                "COpenSSL", "Sealing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // A plain blocking OpenSSL client: the independent peer for TLS tests, checks and benchmarks.
        .target(name: "TLSProbe", dependencies: ["COpenSSL"]),

        // The relay server: Hummingbird over our TLS handler, the chat WebSocket protocol and the
        // pipeline inbound text → redaction → sealed store → bot → sealed store → client.
        .target(
            name: "Relay",
            dependencies: [
                "Redaction", "PolicyFiles", "Sealing", "TranscriptStore", "TLS",
                "SupportBot", "SupportBotDemoStore", "SupportBotHTTPOrders", "AgentDesk", "Compliance",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("Widget"), .copy("AgentConsole")]
        ),

        // Retention, legal holds, erasure with signed receipts, export, the hash-chained audit log.
        .target(
            name: "Compliance",
            dependencies: ["Sealing", "CSodium", "TranscriptStore", "PolicyFiles",
                           .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Yams", package: "Yams"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log")]
        ),

        // Human hand-off: agent accounts (Argon2id), console logins (cookies, CSRF, lock-out),
        // the per-tenant priority queue, the audit trail of logins, take-overs and views.
        .target(
            name: "AgentDesk",
            dependencies: ["Sealing", "CSodium", "SupportBot", "Compliance", "TranscriptStore",
                           .product(name: "GRDB", package: "GRDB.swift")]
        ),

        // The one executable.
        .executableTarget(
            name: "kamirelay",
            dependencies: [
                "Redaction", "PolicyFiles", "Sealing", "COpenSSL", "TranscriptStore",
                "CSodium",  // raw libsodium baseline in `bench store`
                "SupportBot", "SupportBotDemoStore", "SupportBotHTTPOrders",
                "TLS", "TLSProbe", "Relay", "Compliance", "AgentDesk",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "RedactionTests", dependencies: ["Redaction", "Sealing", "PolicyFiles"],
                    resources: [.copy("Corpus")]),
        .testTarget(name: "PolicyFilesTests", dependencies: ["PolicyFiles", "Redaction"]),
        .testTarget(name: "SealingTests", dependencies: ["Sealing"]),
        .testTarget(name: "TranscriptStoreTests", dependencies: ["TranscriptStore", "Sealing", "Redaction", "PolicyFiles",
                                                        .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "KamiRelayCLITests", dependencies: ["kamirelay", "Sealing", "TranscriptStore", "TLS", "Relay", "Redaction", "PolicyFiles"]),
        .testTarget(name: "SupportBotTests",
                    dependencies: ["SupportBot", "SupportBotDemoStore", "SupportBotHTTPOrders", "Redaction", "Sealing"]),
        .testTarget(name: "ComplianceTests", dependencies: ["Compliance", "TranscriptStore", "Sealing", "PolicyFiles", "SupportBotDemoStore",
                                                    "SupportBot", "Redaction",
                                                    .product(name: "GRDB", package: "GRDB.swift"),
                                                    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                                    .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "TLSTests", dependencies: [
            "TLS", "TLSProbe", "COpenSSL",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "AgentDeskTests", dependencies: ["AgentDesk", "Sealing", "SupportBot"]),
        .testTarget(name: "RelayTests", dependencies: [
            "Relay", "TLS", "TLSProbe", "TranscriptStore", "Sealing", "Redaction", "SupportBot", "SupportBotDemoStore",
            "Compliance", "AgentDesk",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    ]
)
