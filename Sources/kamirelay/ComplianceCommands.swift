import AgentDesk
import ArgumentParser
import Compliance
import Foundation
import NIOConcurrencyHelpers
import PolicyFiles
import Relay
import Sealing
import TranscriptStore
#if canImport(Glibc)
import Glibc
#endif

/// The store, the compliance ledger beside it, and who is acting.
struct ComplianceOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions
    @Option(help: "Who is acting, for the audit log (default: $USER). Ignored with --officer.") var `operator`: String?
    @OptionGroup var officer: OfficerOptions

    var actor: String { `operator` ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown" }

    /// Who acts for `tenant` in the audit log: the signed-in compliance account once the tenant
    /// has one (see ``OfficerOptions``), else `--operator` / `$USER`.
    func signedActor(tenant: String) throws -> String {
        try officer.actor(tenant: tenant, role: .compliance, dataDirectory: store.resolvedDataDir, fallback: actor)
    }

    /// For the commands that are not about one shop's data subject (sweep, epoch, receipt
    /// completion): `--officer` would sign nothing, so it is an error rather than ignored.
    func refuseOfficer(_ command: String) throws {
        if officer.officer != nil || officer.officerPasswordFile != nil {
            throw ValidationError("`\(command)` is not signed by an officer; --officer applies to erase, export and hold")
        }
    }

    var ledgerPath: String { store.resolvedDataDir + "/compliance.sqlite" }

    func open() throws -> Compliance {
        let s = try store.openStore()
        return Compliance(store: s, ledger: try ComplianceLedger(path: ledgerPath))
    }
}

func parseSubject(_ argument: String) throws -> SubjectIdentifier {
    guard let id = SubjectIdentifier(argument: argument) else {
        throw ValidationError("--subject must look like email:…, phone:… or order:…")
    }
    guard id.normalised != nil else { throw CLIError("not a valid \(id.kind.name)") }
    return id
}

func parsePublicKey(_ value: String) throws -> [UInt8] {
    var text = value
    if FileManager.default.fileExists(atPath: value), let data = FileManager.default.contents(atPath: value) {
        text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    guard text.count == 64, let bytes = hexDecode(text) else {
        throw CLIError("--public-key must be 64 hex digits (or a file holding them); get it with `kamirelay receipt public-key --tenant T`")
    }
    return bytes
}

func hexDecode(_ s: String) -> [UInt8]? {
    var out: [UInt8] = []
    var chars = s.makeIterator()
    while let h = chars.next() {
        guard let l = chars.next(), let b = UInt8(String([h, l]), radix: 16) else { return nil }
        out.append(b)
    }
    return out
}

func hexEncode(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

/// Writes a new file (0600, O_EXCL: never overwrites), fsynced.
func writeNewFile(_ path: String, _ data: Data) throws {
    do {
        try DurableFile.createExclusively(at: path, contents: [UInt8](data))
    } catch is DurableFile.Exists {
        throw CLIError("\(path) already exists; refusing to overwrite it")
    }
}

// MARK: retention

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Retention policies and the sweep that enforces them.",
        discussion: """
        Each tenant's policy is <data-dir>/policies/retention/TENANT.yaml (else the default below):
          version: 1
          transcripts: 90d        # messages, after the session's last activity (d = days, h = hours)
          session_metadata: 180d  # session rows, identifier links, subjects left without data, access log
          audit_entries: 1095d    # audit log, pruned up to a signed checkpoint (at least 365d)
          outbox: 7d              # records queued for delivery to other systems
        Subjects under legal hold (`kamirelay hold`) are never swept. `kamirelay serve` runs the \
        same sweep on a schedule (relay config `retention:`).
        """,
        subcommands: [RetentionSweep.self, RetentionShow.self, RetentionCheck.self])
}

struct RetentionSweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Remove expired data of every class: destroy the keys that protect it and delete the rows.",
        discussion: """
        Works in short batches (one write transaction per --batch-size sessions), so a running relay \
        keeps writing between them. --dry-run only counts. Each real sweep is recorded in the audit \
        log, and so is a policy file whose SHA-256 differs from the last one recorded.
        Example: kamirelay retention sweep --tenant shop1 --dry-run
        """)
    @OptionGroup var options: ComplianceOptions
    @Option(help: "Only this tenant (default: every tenant).") var tenant: String?
    @Flag(name: .customLong("dry-run"), help: "Show what would be removed; change nothing.") var dryRun = false
    @Option(name: .customLong("batch-size"), help: "Sessions per transaction (each a few ms, so live writes interleave).") var batchSize = 200

    func validate() throws { try options.refuseOfficer("retention sweep") }

    func run() async throws {
        let c = try options.open()
        var tenants: [String]
        if let tenant { tenants = [tenant] } else { tenants = try await c.store.tenants() }
        // Every policy is checked before anything is removed.
        var policies: [String: (policy: RetentionPolicy, contents: Data?, file: String?)] = [:]
        for t in tenants {
            do {
                policies[t] = try ScheduledTenant.fromPolicyFiles(id: t, policiesDir: options.store.policiesDir).policy()
            } catch let error as PolicyFileError { throw CLIError(error.description) }
        }
        for t in tenants {
            let loaded = policies[t]!
            if !dryRun, try await c.recordPolicy(tenant: t, kind: "retention", contents: loaded.contents, file: loaded.file, actor: options.actor) != nil {
                print("tenant \(t): retention policy new or changed since last recorded (SHA-256 differs); recorded in the audit log")
            }
            print("tenant \(t): \(loaded.policy.summary) (\(loaded.file ?? "built-in default"))")
            let bars = SweepBars(t)
            let r = try await c.sweep(tenant: t, policy: loaded.policy, actor: options.actor, dryRun: dryRun, batchSize: batchSize) {
                bars.update($0)
            }
            bars.finish()
            let verb = dryRun ? "would remove" : "removed"
            print("""
              transcripts (last activity before \(r.cutoff.iso8601)): \(verb) \(r.transcripts.messages) message(s) from \(r.transcripts.sessions) session(s), \(r.transcripts.keyIDs.count) subject key(s) destroyed
              session metadata (before \(r.metadataCutoff.iso8601)): \(verb) \(r.sessionMetadata.sessions) session(s) (\(r.sessionMetadata.messages) message(s) left in them), \(r.sessionMetadata.identifierLinks) identifier link(s), \(r.sessionMetadata.subjects) subject(s) and their keys, \(r.accessLogEntries) access-log entr(ies)
              audit entries: \(verb) \(r.auditEntries.entries)\(r.auditEntries.through.map { " (through entry \($0), the new signed anchor)" } ?? "")
              outbox records: \(verb) \(r.outboxRecords)
              \(r.heldSubjects) legal hold(s) respected
            """)
        }
    }
}

/// One progress bar per data class while a tenant is swept.
final class SweepBars: Sendable {
    let tenant: String
    let bars = NIOLockedValueBox<[String: ProgressBar]>([:])
    init(_ tenant: String) { self.tenant = tenant }
    func update(_ p: ClassProgress) {
        bars.withLockedValue { bars in
            if bars[p.dataClass] == nil {
                for b in bars.values { b.finish() }
                bars[p.dataClass] = ProgressBar("sweep \(tenant) \(p.dataClass)")
            }
            bars[p.dataClass]!.update(done: p.progress.sessions, total: p.progress.total)
        }
    }
    func finish() { bars.withLockedValue { for b in $0.values { b.finish() } } }
}

struct RetentionShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a tenant's effective retention policy.")
    @OptionGroup var store: StoreOptions
    @Option(help: "The tenant.") var tenant: String

    func run() async throws {
        let path = RetentionPolicyFile.path(policiesDir: store.policiesDir, tenant: tenant)
        let p: RetentionPolicy
        do { p = try RetentionPolicyFile.load(policiesDir: store.policiesDir, tenant: tenant) } catch { throw CLIError(error.description) }
        let source = FileManager.default.fileExists(atPath: path) ? path : "built-in default"
        print("tenant \(tenant): \(p.summary) (\(source))")
    }
}

struct RetentionCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate a retention policy file (file:line: field: reason).")
    @Argument(help: "The YAML file.") var file: String

    func run() async throws {
        do {
            let p = try RetentionPolicyFile.load(path: file)
            print("\(file): ok (\(p.summary))")
        } catch {
            throw CLIError(error.description)
        }
    }
}

// MARK: hold

struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Legal holds: exempt a subject from retention and erasure until released.",
        subcommands: [HoldAdd.self, HoldList.self, HoldRelease.self])
}

struct HoldAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Place a subject under legal hold (stored by blind index, never the identifier).",
        discussion: "Example: kamirelay hold add --tenant shop1 --subject order:K7Q2M9X4B1C8D3F5 --reason \"open fraud dispute\"")
    @OptionGroup var options: ComplianceOptions
    @Option(help: "The tenant.") var tenant: String
    @Option(help: "The subject: email:…, phone:… or order:….") var subject: String
    @Option(help: "Why (kept with the hold, not in the audit log).") var reason: String

    func run() async throws {
        let id = try parseSubject(subject)
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must not be empty") }
        let actor = try options.signedActor(tenant: tenant)
        let h = try await options.open().addHold(tenant: tenant, subject: id, reason: reason, actor: actor)
        print("hold #\(h.id) placed for tenant \(tenant) (subject named by \(h.kind)): \(h.reason)")
    }
}

struct HoldList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List legal holds.")
    @OptionGroup var store: StoreOptions
    @Option(help: "Only this tenant.") var tenant: String?
    @Flag(help: "Include released holds.") var all = false

    func run() async throws {
        let ledger = try openLedger(store)
        let holds = try ledger.holds(tenant: tenant, includeReleased: all)
        if holds.isEmpty { print("no holds") }
        for h in holds {
            let state = h.releasedAt.map { "released \($0.iso8601)" } ?? "active"
            print("#\(h.id)\t\(h.tenant)\t\(h.kind)\t\(h.createdAt.iso8601) by \(h.createdBy)\t\(state)\t\(h.reason)")
        }
    }
}

struct HoldRelease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Release a legal hold.")
    @OptionGroup var options: ComplianceOptions
    @Option(help: "The tenant.") var tenant: String
    @Option(help: "The hold number (see `hold list`).") var id: Int64

    func run() async throws {
        let actor = try options.signedActor(tenant: tenant)
        try await options.open().releaseHold(tenant: tenant, id: id, actor: actor)
        print("hold #\(id) released")
    }
}

// MARK: erase

struct EraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Erase a data subject (GDPR Art. 17 / PIPL Art. 47) and write a signed receipt.",
        discussion: """
        Finds the subject's sessions through the blind indexes, destroys its subject keys, deletes \
        the rows, checkpoints and truncates the SQLite WAL, records the erasure in the audit log and \
        writes a receipt signed with the tenant's compliance key (check it with `kamirelay receipt \
        verify`). Refused (and the refusal recorded) while a legal hold covers the subject. Erasing \
        an already-erased subject issues a receipt that says nothing was found.

        Backups: copies taken before the erasure still hold the subject under the current keys until \
        the erasure epoch runs (`kamirelay epoch run`, due within 24 h; or --epoch-now here). The \
        receipt states the deadline, or with --epoch-now the time copies became undecryptable.

        Example: kamirelay erase --tenant shop1 --subject email:alice@example.com --request-id DSR-2026-017
        """)
    @OptionGroup var options: ComplianceOptions
    @Option(help: "The tenant.") var tenant: String
    @Option(help: "The subject: email:…, phone:… or order:….") var subject: String
    @Option(name: .customLong("request-id"), help: "Your reference for the request (printable, no spaces).") var requestID: String
    @Option(help: "Where to write the receipt (default: ./erasure-receipt-TENANT-REQUEST.json).") var receipt: String?
    @Flag(name: .customLong("dry-run"), help: "Show what would be erased; change nothing.") var dryRun = false
    @Flag(name: .customLong("epoch-now"), help: "Run the erasure epoch right away (rotates tenant and master keys; refused while a relay serves this data directory).") var epochNow = false

    func run() async throws {
        let id = try parseSubject(subject)
        let actor = try options.signedActor(tenant: tenant)
        let path = receipt ?? "erasure-receipt-\(tenant)-\(requestID.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }.map(String.init).joined()).json"
        if !dryRun, FileManager.default.fileExists(atPath: path) { throw CLIError("\(path) already exists; choose another --receipt") }
        // Taken before erasing, so an --epoch-now refused here refuses the whole command.
        let lock = epochNow && !dryRun ? try DataDirectoryLock(dataDirectory: options.store.resolvedDataDir, .replacingMasterKey) : nil
        defer { lock?.release() }
        let transcripts = try options.store.openStore()
        let c = Compliance(store: transcripts, ledger: try ComplianceLedger(path: options.ledgerPath))
        // The relay keeps sealed resume state per chat; the erased chats' state goes with them.
        let sessionIDs = dryRun ? [] : try await transcripts.sessions(tenant: tenant, subject: id).map(\.id)
        switch try await c.erase(tenant: tenant, subject: id, requestID: requestID, actor: actor, dryRun: dryRun) {
        case .dryRun(let plan):
            guard let plan else { print("dry run: nothing stored for that subject"); return }
            print("dry run: would erase \(plan.sessions.count) session(s), \(plan.messageCount) message(s), destroy \(plan.keyIDs.count) subject key(s):")
            for s in plan.sessions { print("  session \(s.id) (\(s.channel), \(s.messageCount) message(s), last activity \(s.lastActivityAt.iso8601))") }
        case .erased(var signed):
            let r = signed.receipt
            if r.outcome == "nothing-found" {
                print("nothing found for that subject (already erased or never stored); the receipt says so")
            } else {
                print("erased \(r.sessionsErased) session(s), \(r.messagesErased) message(s); destroyed \(r.keyIDsDestroyed.count) subject key(s)")
                let statePath = options.store.resolvedDataDir + "/relay.sqlite"
                if !sessionIDs.isEmpty, FileManager.default.fileExists(atPath: statePath) {
                    let state = try RelayStateStore(path: statePath, keys: transcripts)
                    var cleared = 0
                    for session in sessionIDs { cleared += try await state.deleteChats(tenant: tenant, session: session) }
                    if cleared > 0 { print("removed the relay's resume state of \(cleared) erased chat(s)") }
                }
            }
            if epochNow && r.outcome == "erased" {
                let report = try await EpochRun.runEpoch(c, options: options, force: true)
                if let at = report.completedAt { signed = try await c.completedReceipt(signed, epochAt: at) }
                print("erasure epoch done: database copies taken before now no longer decrypt this subject")
            } else if r.outcome == "erased" {
                print("backups: copies taken before now still decrypt this subject until the erasure epoch (by \(r.backups.deadline)); run `kamirelay epoch run`")
            }
            try writeNewFile(path, signed.fileBytes())
            print("signed receipt: \(path) (audit entry \(r.auditPosition.sequence))")
        }
    }
}

// MARK: epoch

struct EpochCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epoch",
        abstract: "The erasure epoch: make pre-erasure database copies undecryptable.",
        subcommands: [EpochRun.self])
}

struct EpochRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Rotate, rewrap and trim the tenant keys of tenants with erasures, then replace the master key.",
        discussion: """
        Without --now it runs only once the oldest pending erasure is 12 h old (so one rotation covers \
        a batch; run it hourly from cron or a systemd timer to stay within 24 h). Afterwards a copy of \
        the database from before those erasures needs a tenant-key version and a master key that no \
        longer exist to open the erased subjects; everyone else's data stays readable. Keep no copy \
        of the old master.key: the point is that it is gone.

        Refused while `kamirelay serve` runs on the same data directory (it holds the current master \
        key in memory): stop it first, or let the relay run the epoch itself on its schedule.
        """)
    @OptionGroup var options: ComplianceOptions
    @Flag(help: "Run now if any erasure is pending.") var now = false

    func validate() throws { try options.refuseOfficer("epoch run") }

    func run() async throws {
        let lock = try DataDirectoryLock(dataDirectory: options.store.resolvedDataDir, .replacingMasterKey)
        defer { lock.release() }
        let c = try options.open()
        let report = try await Self.runEpoch(c, options: options, force: now)
        guard report.completedAt != nil else {
            let pending = try c.ledger.pendingErasures()
            print(pending.isEmpty ? "no erasures pending" : "\(pending.count) erasure(s) pending, not due yet (use --now)")
            return
        }
        for t in report.tenants {
            print("tenant \(t.tenant): v\(t.newVersion) current, \(t.rewrapped) subject key(s) re-wrapped, destroyed v\(t.destroyedVersions.map(String.init).joined(separator: ", v")); covers \(t.requestIDs.joined(separator: ", "))")
        }
        print("master key \(report.newMasterKeyID ?? "?") is now current; the old one is retired")
    }

    /// Runs the epoch with the CLI's master-key rotation (as `keys rotate-master`).
    static func runEpoch(_ c: Compliance, options: ComplianceOptions, force: Bool) async throws -> EpochReport {
        guard let s = c.store as? SQLiteTranscriptStore else { throw CLIError("the epoch needs the SQLite store") }
        let store = options.store
        return try await c.runErasureEpoch(force: force, actor: options.actor,
                                           rotateMaster: masterRotation(options: store, store: s) { try store.passphrase() })
    }

    /// Replaces the master key (as `keys rotate-master`): a new random key sealed with the same
    /// passphrase next to the old one, every wrapped key re-wrapped, then the file swapped in.
    static func masterRotation(options store: StoreOptions, store s: SQLiteTranscriptStore,
                               passphrase: @escaping @Sendable () throws -> [UInt8]) -> @Sendable () async throws -> String {
        return {
            let current = try MasterKeyFile(contentsOf: store.masterKeyPath)
            var pass = try passphrase()
            defer { pass.withUnsafeMutableBytes { zero($0) } }
            _ = try current.unlock(passphrase: pass)
            let newKey = GuardedKey(randomCount: 32)
            if FileManager.default.fileExists(atPath: store.pendingMasterKeyPath) {
                throw CLIError("an interrupted `kamirelay keys rotate-master` is pending; finish it first")
            }
            let newID = try MasterKeyFile.create(at: store.pendingMasterKeyPath, masterKey: newKey, passphrase: pass, parameters: current.parameters)
            _ = try await s.rotateMasterKey(to: newKey, id: newID)
            try DurableFile.replace(store.masterKeyPath, with: store.pendingMasterKeyPath)
            return newID
        }
    }
}

// MARK: receipt

struct ReceiptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt", abstract: "Verify erasure receipts, complete them after the erasure epoch, print a tenant's public key.",
        subcommands: [ReceiptVerify.self, ReceiptPublicKey.self, ReceiptComplete.self])
}

struct ReceiptVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a receipt's signature offline, with only the tenant's public key.",
        discussion: "Example: kamirelay receipt verify erasure-receipt-shop1-DSR-17.json --public-key shop1.pub")
    @Argument(help: "The receipt file.") var file: String
    @Option(name: .customLong("public-key"), help: "The tenant's public key: 64 hex digits or a file holding them.") var publicKey: String

    func run() async throws {
        let key = try parsePublicKey(publicKey)
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
        do {
            let r = try SignedReceipt.verify(file: data, publicKey: key)
            print("valid: request \(r.requestID), tenant \(r.tenant), \(r.outcome), \(r.sessionsErased) session(s), \(r.messagesErased) message(s), completed \(r.completedAt), audit entry \(r.auditPosition.sequence); backups \(r.backups.status)\(r.backups.undecryptableSince.map { " since \($0)" } ?? " (deadline \(r.backups.deadline))")")
        } catch {
            throw CLIError("INVALID: \(error.description)")
        }
    }
}

struct ReceiptComplete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complete",
        abstract: "After the erasure epoch: write the receipt again, stating when older copies became undecryptable.",
        discussion: "Example: kamirelay receipt complete erasure-receipt-shop1-DSR-17.json --out erasure-receipt-shop1-DSR-17.final.json")
    @OptionGroup var options: ComplianceOptions
    @Argument(help: "A receipt issued with backups pending.") var file: String
    @Option(help: "Where to write the completed receipt (must not exist).") var out: String

    func validate() throws { try options.refuseOfficer("receipt complete") }

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
        guard let done = try await options.open().complete(receiptFile: data) else {
            throw CLIError("the erasure epoch for this request has not run yet; run `kamirelay epoch run` (or wait for the schedule)")
        }
        try writeNewFile(out, done.fileBytes())
        print("completed receipt: \(out) (copies undecryptable since \(done.receipt.backups.undecryptableSince ?? "?"))")
    }
}

struct ReceiptPublicKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "public-key", abstract: "Print the tenant's compliance public key (hex).")
    @OptionGroup var store: StoreOptions
    @Option(help: "The tenant.") var tenant: String

    func run() async throws {
        let s = try store.openStore()
        print(hexEncode(Ed25519SigningKey(seed: try await s.purposeKey(tenant: tenant, .complianceSigning)).publicKey))
    }
}

// MARK: export

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a subject's transcripts (GDPR Art. 15/20, PIPL Art. 45) as JSON and a readable HTML or text file.",
        discussion: """
        Writes the redacted text as stored, timestamps and roles (staff appear as roles only) of \
        all and only the subject's sessions to --out (JSON) and beside it --out with .html (a \
        self-contained page: escaped, no scripts, no external resources) or .txt. Recorded in the \
        audit log before anything is written.
        Example: kamirelay export --tenant shop1 --subject email:a@example.com --out DSR-17.json
        """)
    @OptionGroup var options: ComplianceOptions
    @Option(help: "The tenant.") var tenant: String
    @Option(help: "The subject: email:…, phone:… or order:….") var subject: String
    @Option(help: "The JSON file to write (must not exist).") var out: String
    @Option(help: "The readable rendering beside the JSON: html or text.") var readable: Readable = .html

    enum Readable: String, ExpressibleByArgument, CaseIterable { case html, text }

    func run() async throws {
        let id = try parseSubject(subject)
        let readablePath = (out as NSString).deletingPathExtension + (readable == .html ? ".html" : ".txt")
        guard readablePath != out else { throw ValidationError("--out must not end in .\(readable == .html ? "html" : "txt")") }
        for p in [out, readablePath] where FileManager.default.fileExists(atPath: p) { throw CLIError("\(p) already exists") }
        let actor = try options.signedActor(tenant: tenant)
        let export = try await options.open().export(tenant: tenant, subject: id, actor: actor)
        try writeNewFile(out, export.json())
        try writeNewFile(readablePath, Data((readable == .html ? export.html() : export.text()).utf8))
        print("exported \(export.sessions.count) session(s), \(export.sessions.reduce(0) { $0 + $1.messages.count }) message(s) to \(out) and \(readablePath)")
    }
}

// MARK: audit

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "The hash-chained compliance audit log.",
        subcommands: [AuditVerify.self, AuditShow.self])
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Detect edited, reordered, removed or truncated audit entries and name where.",
        discussion: """
        Recomputes every tenant's hash chain and checks its signed checkpoints. With --public-key it \
        needs no passphrase (one tenant); otherwise it derives each tenant's key from the store. \
        --receipt FILE (repeatable) also checks that the entry each receipt quotes is still there.
        Exit status 1 when anything is wrong.
        """)
    @OptionGroup var store: StoreOptions
    @Option(help: "Only this tenant.") var tenant: String?
    @Option(name: .customLong("public-key"), help: "The tenant's public key (hex or file); needs --tenant.") var publicKey: String?
    @Option(help: "Receipt files whose audit positions must be present.") var receipt: [String] = []

    func validate() throws {
        if publicKey != nil && tenant == nil { throw ValidationError("--public-key needs --tenant") }
    }

    func run() async throws {
        let ledger = try openLedger(store)
        var keys: [String: [UInt8]] = [:]
        if let publicKey, let tenant { keys[tenant] = try parsePublicKey(publicKey) } else {
            let s = try store.openStore()
            for t in try tenant.map({ [$0] }) ?? ledger.auditedTenants() {
                keys[t] = Ed25519SigningKey(seed: try await s.purposeKey(tenant: t, .complianceSigning)).publicKey
            }
        }
        var expected: [String: [AuditPosition]] = [:]
        for file in receipt {
            guard let data = FileManager.default.contents(atPath: file),
                  let r = try? JSONDecoder().decode(SignedReceipt.self, from: data) else { throw CLIError("\(file) is not a receipt") }
            expected[r.receipt.tenant, default: []].append(r.receipt.auditPosition)
        }
        var broken = false
        for t in keys.keys.sorted() {
            let v = try ledger.verify(tenant: t, publicKey: keys[t]!, expected: expected[t] ?? [])
            if v.intact {
                let pruned = v.prunedThrough.map { "; entries up to \($0) pruned by retention, chain anchored at its signed checkpoint" } ?? ""
                print("tenant \(t): intact (\(v.entries) entries, \(v.checkpoints) signed checkpoints\(pruned))")
            } else {
                broken = true
                print("tenant \(t): TAMPERED")
                for p in v.problems { print("  \(p)") }
            }
        }
        if broken { throw ExitCode(1) }
    }
}

struct AuditShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "List audit entries (no personal data: counts, pseudonyms, ids).")
    @OptionGroup var store: StoreOptions
    @Option(help: "Only this tenant.") var tenant: String?
    @Option(help: "Only this action (e.g. erase, export, hold, retention).") var action: String?
    @Option(help: "Only entries since this ISO 8601 time.") var since: String?

    func run() async throws {
        var from: Date?
        if let since {
            guard let d = ISO8601DateFormatter().date(from: since) else { throw ValidationError("--since must be ISO 8601, e.g. 2026-11-01T00:00:00Z") }
            from = d
        }
        let ledger = try openLedger(store)
        for e in try ledger.entries(tenant: tenant, action: action, since: from) {
            let detail = e.detail.keys.sorted().map { "\($0)=\(e.detail[$0]!)" }.joined(separator: " ")
            print("\(e.tenant)#\(e.sequence)\t\(e.at.iso8601)\t\(e.actor)\t\(e.action)\t\(detail)")
        }
    }
}

/// Records an operator action (transcript views, key operations) in the tenant's audit chain.
func recordAudit(_ options: StoreOptions, _ store: SQLiteTranscriptStore, tenant: String, action: String, detail: [String: String],
                 actor: String? = nil) async throws {
    let ledger = try ComplianceLedger(path: options.resolvedDataDir + "/compliance.sqlite")
    let signer = Ed25519SigningKey(seed: try await store.purposeKey(tenant: tenant, .complianceSigning))
    try ledger.append(tenant: tenant, actor: actor ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown",
                      action: action, detail: detail, signer: signer)
}

/// The ledger of an existing data directory (read-only commands do not create one).
func openLedger(_ store: StoreOptions) throws -> ComplianceLedger {
    guard FileManager.default.fileExists(atPath: store.resolvedDataDir) else {
        throw CLIError("no data directory at \(store.resolvedDataDir) (set --data-dir or KAMIRELAY_DATA)")
    }
    return try ComplianceLedger(path: store.resolvedDataDir + "/compliance.sqlite")
}
