import ArgumentParser
import Foundation
import Logging
import Relay
import Sealing

/// `kamirelay serve --demo`: the relay server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relay: HTTPS + WebSocket chat, redaction first, sealed transcripts, the support bot.",
        discussion: """
        --demo needs nothing prepared. In the data directory (default ./demo-data) it creates, \
        when missing: a DEVELOPMENT master key sealed with a publicly known passphrase, a \
        development CA and a certificate for localhost/127.0.0.1, the sealed transcript store with \
        the tenant `demo`; it loads the demo shop's FAQ and 60 fake orders, prints the URL and \
        serves until SIGTERM or SIGINT (Ctrl-C). Chat over wss://HOST:PORT/chat (protocol: \
        Docs/chat-protocol.md). SIGHUP reloads the certificate files.

        On shutdown open chats finish the message they are handling, get WebSocket close 1001, \
        their resume state is sealed to <data-dir>/relay.sqlite (so clients resume after the \
        restart) and the store is flushed before the process exits.

        Also served: the HTTP API for server-to-server channels (POST /v1/messages, \
        GET /v1/sessions/ID/messages; keys from `kamirelay tenants api-key create`; \
        Docs/openapi.yaml). --http-port adds a plain-HTTP listener that only redirects to HTTPS.

        --config FILE runs real tenants from a YAML file (see Docs/relay-config.md): listen \
        addresses (one or several; --host/--port replace them with one), data and keys \
        directories, TLS profile, limits, and per tenant its host names, certificate, \
        redaction policy, knowledge base and order source. Tenants must exist in the \
        store (`kamirelay tenants add ID`). The master-key passphrase comes from --passphrase-file, \
        $KAMIRELAY_PASSPHRASE or a prompt (or the master key itself from --master-key-file). \
        A broken file stops with its file, line and field.
        """
    )

    @Flag(help: "Run the self-contained demo shop (development keys and certificate; not for production).")
    var demo = false

    @Option(name: .customLong("config"), help: ArgumentHelp("Run the tenants of this YAML configuration file.", valueName: "file"))
    var configFile: String?

    @Option(name: .customLong("passphrase-file"), help: ArgumentHelp(
        "With --config: read the master-key passphrase from this file's first line (else $KAMIRELAY_PASSPHRASE, else a prompt).",
        valueName: "file"))
    var passphraseFile: String?

    @Option(name: .customLong("master-key-file"), help: ArgumentHelp(
        "With --config: read the master key itself (written by `kamirelay keys export-master`) instead of a passphrase (else $KAMIRELAY_MASTER_KEY_FILE). The erasure epoch then runs from the CLI: stop the relay, run `kamirelay epoch run`, start it again.",
        valueName: "file"))
    var masterKeyFile: String?

    @Option(name: .customLong("data-dir"), help: ArgumentHelp(
        "With --demo: where the demo keeps its keys, certificate and transcripts (default: demo-data). With --config the file's data_dir is used.",
        valueName: "dir"))
    var dataDir: String?

    @Option(help: "Address to listen on (default 127.0.0.1, or the configuration file's; replaces all of its listen addresses).")
    var host: String?

    @Option(help: "TCP port, 0 for any free port (default 8443, or the configuration file's first; --port-file gets the first address's).")
    var port: Int?

    @Option(name: .customLong("http-port"), help: ArgumentHelp(
        "Also listen for plain HTTP on this port, only to redirect (308) to HTTPS. Off by default (or the configuration file's listen.http_port).",
        valueName: "port"))
    var httpPort: Int?

    @Option(name: .customLong("port-file"), help: ArgumentHelp("Write the bound port to this file once listening (for scripts).", valueName: "file"))
    var portFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "notice"

    func validate() throws {
        guard demo != (configFile != nil) else {
            throw ValidationError("give either --demo or --config FILE")
        }
        // An option the chosen mode ignores would silently do nothing: refuse it instead.
        if demo, passphraseFile != nil || masterKeyFile != nil {
            throw ValidationError("--passphrase-file and --master-key-file are for --config; the demo's development key has a public passphrase")
        }
        if configFile != nil, dataDir != nil {
            throw ValidationError("--data-dir is for --demo; with --config set data_dir in the configuration file")
        }
        if passphraseFile != nil, masterKeyFile != nil { throw ValidationError("give --passphrase-file or --master-key-file, not both") }
        if let port { guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0–65535") } }
        if let httpPort {
            guard (0...65_535).contains(httpPort) else { throw ValidationError("--http-port must be 0–65535") }
            if let port, port == httpPort, port != 0 { throw ValidationError("--http-port must differ from --port") }
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() async throws {
        var logger = Logger(label: "kamirelay.relay")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        if let configFile { return try await runConfigured(configFile, logger: logger) }
        let host = self.host ?? "127.0.0.1"
        let dataDirectory = ((dataDir ?? "demo-data") as NSString).expandingTildeInPath

        Terminal.note("""

        ************************************************************************************
        *  DEMO MODE — NOT FOR PRODUCTION.
        *  The master key in \(dataDirectory)/keys is sealed with a PUBLIC passphrase
        *  ("\(RelayDemo.developmentPassphrase)"): anyone with this directory can read
        *  every transcript. The certificate is a self-signed development certificate.
        ************************************************************************************

        """)
        Terminal.note("preparing \(dataDirectory) (keys, certificate, store, demo shop)…")
        let lock = try DataDirectoryLock(dataDirectory: dataDirectory, .serving)
        defer { lock.release() }
        let demo = try await RelayDemo.prepare(dataDirectory: dataDirectory)
        for item in demo.created { Terminal.note("  created \(item)") }

        var configuration = RelayServerConfiguration(host: host, port: port ?? 8443, tls: demo.tls, httpPort: httpPort)
        configuration.limits = RelayLimits()
        let tenants = TenantDirectory([demo.tenantRuntime])
        let agents = try await AgentDeskSetup.open(dataDirectory: dataDirectory, store: demo.store, tenants: tenants,
                                                   policies: [RelayDemo.tenant: .demo], logger: logger, state: demo.state)
        let agentPassword = try AgentDeskSetup.demoAccount(agents, tenant: RelayDemo.tenant)
        let server = try RelayServer(configuration: configuration, tenants: tenants,
                                     store: demo.store, state: demo.state, logger: logger, agents: agents)
        let demoStore = try StoreOptions.parse(["--data-dir", dataDirectory, "--keys-dir", demo.keysDirectory])
        let retention = try await ServeRetention.scheduler(
            store: demo.store, options: demoStore, passphrase: GuardedKey(copying: Array(RelayDemo.developmentPassphrase.utf8)),
            tenants: [demo.tenantRuntime], redactionPolicyFiles: [:], settings: .init(), logger: logger)
        let reload = server.tls.reloadOnHangupSignal()
        defer { reload.cancel() }

        let portFile = self.portFile
        let orders = demo.orders
        let group = server.makeServiceGroup(signals: [.sigterm, .sigint], extraServices: (retention.map { [$0] } ?? []) + [demo.issuedKeys]) { port in
            if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            let shownHost = host == "0.0.0.0" || host == "::" || host == "127.0.0.1" ? "localhost" : host
            var shown = Set<Int>()
            var sample: [String] = []
            for order in orders where shown.insert(order.status.rawValue).inserted {
                sample.append("  \(order.number)  status \(order.status.rawValue)  \(order.email)")
            }
            print("""
            KamiRelay demo is running.
              open in a browser:       https://\(shownHost):\(port)/   (accept the development certificate)
              chat (WebSocket, JSON):  wss://\(shownHost):\(port)/chat   — protocol: Docs/chat-protocol.md
              health:                  https://\(shownHost):\(port)/healthz
              trust this CA or accept the browser warning: \(demo.rootCertificatePath)
            Demo orders you can ask about (fake data):
            \(sample.joined(separator: "\n"))
            Agent console (DEVELOPMENT ONLY — a new random password is set on every start):
              https://\(shownHost):\(port)/agent   username: demo-agent   password: \(agentPassword)   (role supervisor)
            Read a sealed transcript (session id from the chat's welcome frame):
              KAMIRELAY_PASSPHRASE='\(RelayDemo.developmentPassphrase)' kamirelay transcripts show --data-dir \(dataDirectory) --keys-dir \(dataDirectory)/keys --tenant demo --session SESSION
            Stop with Ctrl-C.
            """)
            fflush(nil)
        }
        try await group.run()
        Terminal.note("stopped; transcripts flushed to \(dataDirectory)/transcripts.sqlite")
    }

    func runConfigured(_ path: String, logger: Logger) async throws {
        let config: RelayConfigFile
        do { config = try RelayConfigFile.load(path: path) } catch { throw CLIError(error.description) }
        var storeArguments = ["--data-dir", config.dataDirectory, "--keys-dir", config.keysDirectory]
        if let passphraseFile { storeArguments += ["--passphrase-file", passphraseFile] }
        if let masterKeyFile { storeArguments += ["--master-key-file", masterKeyFile] }
        let storeOptions = try StoreOptions.parse(storeArguments)
        let lock = try DataDirectoryLock(dataDirectory: storeOptions.resolvedDataDir, .serving)
        defer { lock.release() }
        let (ring, passphrase) = try ServeRetention.unlock(storeOptions)
        let opened: RelayConfigured
        do { opened = try await RelayConfigured.open(config, file: path, masterKeys: ring) } catch let error as RelayConfigError {
            throw CLIError(error.description)
        }
        var configuration = opened.server
        if host != nil || port != nil {
            // --host / --port replace the file's listen addresses with a single one.
            configuration.addresses = [RelayListenAddress(host: host ?? configuration.host, port: port ?? configuration.port)]
        }
        if let httpPort { configuration.httpPort = httpPort }
        let tenants = TenantDirectory(opened.tenants)
        let agents = try await AgentDeskSetup.open(dataDirectory: config.dataDirectory, store: opened.store, tenants: tenants, logger: logger,
                                                   state: opened.state)
        let server = try RelayServer(configuration: configuration, tenants: tenants, store: opened.store,
                                     state: opened.state, logger: logger, agents: agents)
        let retention = try await ServeRetention.scheduler(
            store: opened.store, options: storeOptions, passphrase: passphrase, tenants: opened.tenants,
            redactionPolicyFiles: config.tenants.reduce(into: [:]) { $0[$1.id] = $1.policy }, settings: config.retention, logger: logger)
        let reload = server.tls.reloadOnHangupSignal()
        defer { reload.cancel() }
        let portFile = self.portFile
        let hostnames = opened.tenants.flatMap { $0.hostnames.sorted() }
        let redirectPort = configuration.httpPort
        let publicPort = configuration.publicPort
        let group = server.makeServiceGroup(signals: [.sigterm, .sigint], extraServices: (retention.map { [$0] } ?? []) + [opened.issuedKeys]) { port in
            if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            print("KamiRelay is listening on " + server.listeningAddresses.map { "https://\($0)" }.joined(separator: ", "))
            if let http = redirectPort { print("plain HTTP on port \(http) only redirects to HTTPS") }
            let shownPort = publicPort ?? port
            let suffix = shownPort == 443 ? "" : ":\(shownPort)"
            print("serving \(opened.tenants.count) tenant(s): " + hostnames.map { "https://\($0)\(suffix)/" }.joined(separator: " "))
            fflush(nil)
        }
        try await group.run()
        Terminal.note("stopped; transcripts flushed to \(config.dataDirectory)/transcripts.sqlite")
    }
}
