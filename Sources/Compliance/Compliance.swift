import Foundation
import GRDB
import Sealing
import TranscriptStore

/// The transcript-store capabilities compliance needs.
public typealias ComplianceStore = TranscriptStore & SubjectRemoval & RetentionRemoval & TenantKeyManagement

/// The outbox data class: records queued for delivery to other systems (today the demo order
/// store's queue of card-key re-sends to the purchase e-mail; a shop's mailer or webhook queue
/// would conform the same way). The sweep removes records older than the tenant's `outbox`
/// retention, delivered or not: an undelivered record that old is stale, and it names an order.
public protocol DeliveryOutbox: Sendable {
    /// Removes (a dry run: counts) the records queued before `cutoff`; returns how many.
    func removeRecords(queuedBefore cutoff: Date, dryRun: Bool) async throws -> Int
}

/// Errors from compliance operations. None carries an identifier or message text.
public enum ComplianceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Erasure refused: the subject is under legal hold (the refusal is in the audit log).
    case subjectOnHold(holds: [Int64], reasons: [String])
    case invalidIdentifier(String)
    case invalidRequestID
    case unknownHold(Int64)

    public var description: String {
        switch self {
        case .subjectOnHold(let ids, let reasons):
            return "refused: the subject is under legal hold \(ids.map { "#\($0)" }.joined(separator: ", ")) (\(reasons.joined(separator: "; "))); release it with `kamirelay hold release` first. The refusal was recorded in the audit log."
        case .invalidIdentifier(let kind): return "not a valid \(kind) identifier"
        case .invalidRequestID: return "the request id must be 1-128 printable characters without spaces"
        case .unknownHold(let id): return "no active hold #\(id) for this tenant"
        }
    }
}

/// What `erase` does, or would do in a dry run.
public enum ErasureOutcome: Sendable {
    case dryRun(SubjectFootprint?)
    case erased(SignedReceipt)
}

/// One subject's data for an access / portability request (GDPR Art. 15/20, PIPL Art. 45).
public struct SubjectExport: Codable, Sendable, Hashable {
    public struct Message: Codable, Sendable, Hashable {
        public var sequence: UInt64
        /// customer, bot, agent or system: staff appear by role only, never by name.
        public var role: String
        public var sentAt: String
        /// The redacted text as stored.
        public var text: String
    }
    public struct Session: Codable, Sendable, Hashable {
        public var id: String
        public var channel: String
        public var startedAt: String
        public var lastActivityAt: String
        public var status: String
        public var messages: [Message]
    }
    public var format = "kamirelay-subject-export/1"
    public var tenant: String
    public var subjectKind: String
    public var exportedAt: String
    public var sessions: [Session]

    public func json() -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try! enc.encode(self) + Data("\n".utf8)
    }

    /// A readable, self-contained HTML rendering (Chinese and English headings): every stored
    /// value escaped, no scripts, no external resources (a CSP forbids both).
    public func html() -> String {
        func e(_ s: String) -> String { HTMLText.escape(s) }
        var h = """
        <!DOCTYPE html>
        <html lang="zh-CN"><head><meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
        <meta name="referrer" content="no-referrer">
        <title>数据导出 / Data export — \(e(tenant))</title>
        <style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
        table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
        td.text{white-space:pre-wrap;word-break:break-word}th{background:#f3f3f3}</style></head><body>
        <h1>数据导出 / Data export</h1>
        <p>商户 / Tenant: <b>\(e(tenant))</b> · 标识类型 / Identifier kind: \(e(subjectKind)) · 导出时间 / Exported at: \(e(exportedAt))</p>
        <p>会话 / Sessions: \(sessions.count) · 消息 / Messages: \(sessions.reduce(0) { $0 + $1.messages.count })</p>
        <p>文本为存储时已脱敏的内容；客服人员仅以角色显示。/ Text is shown redacted, as stored; staff appear by role only.</p>

        """
        for session in sessions {
            h += "<h2>会话 / Session \(e(session.id))</h2>\n"
            h += "<p>\(e(session.channel)) · \(e(session.status)) · \(e(session.startedAt)) – \(e(session.lastActivityAt))</p>\n"
            h += "<table><tr><th>#</th><th>时间 / Time</th><th>角色 / Role</th><th>内容 / Text</th></tr>\n"
            for m in session.messages {
                h += "<tr><td>\(m.sequence)</td><td>\(e(m.sentAt))</td><td>\(e(Self.roleLabel(m.role)))</td><td class=\"text\">\(e(m.text))</td></tr>\n"
            }
            h += "</table>\n"
        }
        return h + "</body></html>\n"
    }

    static func roleLabel(_ role: String) -> String {
        switch role {
        case "customer": return "客户 / customer"
        case "bot": return "机器人 / bot"
        case "agent": return "客服 / agent"
        case "system": return "系统 / system"
        default: return role
        }
    }

    /// A readable rendering (Chinese and English headings).
    public func text() -> String {
        var s = "数据导出 / Data export — tenant \(tenant), \(exportedAt)\n"
        s += "会话 / sessions: \(sessions.count)\n"
        for session in sessions {
            s += "\n== 会话 / session \(session.id) (\(session.channel), \(session.status)) \(session.startedAt) – \(session.lastActivityAt)\n"
            for m in session.messages { s += "[\(m.sentAt)] \(m.role): \(m.text)\n" }
        }
        return s
    }
}

/// HTML escaping for the export rendering.
enum HTMLText {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters (other than tab / newline) are dropped rather than rendered.
                if c.value < 0x20 && c != "\n" && c != "\t" { continue }
                out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

/// What a retention sweep did (or would do), per data class.
public struct SweepReport: Sendable, Hashable {
    public var tenant: String
    public var policy: RetentionPolicy
    /// Transcripts: sessions whose messages went, messages, subject keys destroyed (replaced).
    public var transcripts: RemovalCounts
    /// Session metadata: session rows (and any messages left in them), identifier links,
    /// subjects (keys destroyed), and the access-log entries below.
    public var sessionMetadata: RemovalCounts
    public var accessLogEntries: Int
    /// Audit entries pruned (and the new anchor).
    public var auditEntries: AuditPruneResult
    /// Outbox records removed.
    public var outboxRecords: Int
    public var heldSubjects: Int
    public var dryRun: Bool
    /// Message content: last activity before this.
    public var cutoff: Date
    public var metadataCutoff: Date

    /// Sessions, messages and keys removed across transcripts and session metadata.
    public var removed: RemovalCounts {
        var r = sessionMetadata
        r.messages += transcripts.messages
        r.keyIDs += transcripts.keyIDs
        return r
    }
}

/// A sweep's progress: which class and how far.
public struct ClassProgress: Sendable, Hashable {
    /// `transcripts` or `session metadata`.
    public var dataClass: String
    public var progress: SweepProgress
}

/// What the erasure epoch did.
public struct EpochReport: Sendable, Hashable {
    public struct TenantResult: Sendable, Hashable {
        public var tenant: String
        public var requestIDs: [String]
        public var newVersion: Int
        public var destroyedVersions: [Int]
        public var rewrapped: Int
    }
    public var tenants: [TenantResult]
    /// The master key that replaced the retired one (nil when nothing was due).
    public var newMasterKeyID: String?
    public var completedAt: Date?
}

/// Retention, legal holds, erasure, export, receipts and the audit chain over a sealed store.
///
/// This is the library API the relay server calls on a schedule (``sweep(tenant:policy:actor:dryRun:batchSize:progress:)``
/// per tenant, ``runErasureEpoch(force:actor:rotateMaster:)``); `kamirelay retention|hold|erase|export|audit|epoch`
/// are thin wrappers around it.
public struct Compliance: Sendable {
    public let store: any ComplianceStore
    public let ledger: ComplianceLedger
    /// Injected for tests (retention boundaries, epoch deadlines).
    public let clock: @Sendable () -> Date
    /// Erasures are covered by an epoch within this window (the epoch deadline in receipts).
    public static let epochDeadline: TimeInterval = 24 * 3_600
    /// Without `force`, the epoch waits until the oldest pending erasure is this old, so one
    /// rotation covers a batch of erasures (scheduled hourly, it still meets the 24 h deadline).
    public static let epochBatchWindow: TimeInterval = 12 * 3_600

    public init(store: any ComplianceStore, ledger: ComplianceLedger, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.ledger = ledger
        self.clock = clock
    }

    /// The tenant's compliance signing key (derived from its purpose root; never stored).
    public func signingKey(tenant: String) async throws -> Ed25519SigningKey {
        Ed25519SigningKey(seed: try await store.purposeKey(tenant: tenant, .complianceSigning))
    }

    /// The keyed pseudonym used for a subject in audit entries (same as the access log's).
    func pseudonym(tenant: String, _ id: SubjectIdentifier) async throws -> String {
        let key = try await store.purposeKey(tenant: tenant, .audit)
        guard let n = id.normalised else { throw ComplianceError.invalidIdentifier(id.kind.name) }
        let digest = BLAKE2bKeyedHasher(guardedKey: key, outputLength: 16).digest(Array(n.utf8))
        return "\(id.kind.name):" + Hex.encode(Array(digest.prefix(8)))
    }

    func commitment(tenant: String, _ id: SubjectIdentifier) async throws -> SubjectCommitment {
        let key = try await store.purposeKey(tenant: tenant, .audit)
        guard let n = id.normalised else { throw ComplianceError.invalidIdentifier(id.kind.name) }
        let salt = Sodium.randomBytes(16)
        let c = BLAKE2bKeyedHasher(guardedKey: key, outputLength: 32).digest(salt + [id.kind.rawValue] + Array(n.utf8))
        return SubjectCommitment(kind: id.kind.name, salt: Hex.encode(salt), commitment: Hex.encode(c))
    }

    @discardableResult
    func audit(_ tenant: String, _ actor: String, _ action: String, _ detail: [String: String],
               pendingErasure: String? = nil) async throws -> AuditPosition {
        try ledger.append(tenant: tenant, actor: actor, action: action, detail: detail, at: clock(), signer: try await signingKey(tenant: tenant),
                          pendingErasure: pendingErasure)
    }

    static func validRequestID(_ r: String) -> Bool {
        (1...128).contains(r.count) && r.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0.value < 0x7f }
    }

    // MARK: Holds

    public func addHold(tenant: String, subject: SubjectIdentifier, reason: String, actor: String) async throws -> LegalHold {
        guard subject.normalised != nil else { throw ComplianceError.invalidIdentifier(subject.kind.name) }
        let b = try await store.blindIndex(tenant: tenant, subject)
        let name = try await pseudonym(tenant: tenant, subject)
        let hold = try ledger.addHold(tenant: tenant, blindIndex: b, kind: subject.kind.name, reason: reason, actor: actor, at: clock(), pseudonym: name)
        // The reason is operator text and may name people: it stays in the holds table, not the log.
        try await audit(tenant, actor, "hold.add", ["hold": String(hold.id), "subject": name])
        return hold
    }

    public func releaseHold(tenant: String, id: Int64, actor: String) async throws {
        guard try ledger.releaseHold(tenant: tenant, id: id, actor: actor, at: clock()) else { throw ComplianceError.unknownHold(id) }
        try await audit(tenant, actor, "hold.release", ["hold": String(id)])
    }

    /// Active holds that protect any of the subject's data: a hold on the same identifier, on
    /// another identifier of the same subject, or on a subject sharing one of its sessions.
    func holdsCovering(tenant: String, subject: SubjectIdentifier) async throws -> [LegalHold] {
        let b = try await store.blindIndex(tenant: tenant, subject)
        let active = try ledger.activeHoldIndexes(tenant: tenant)
        if active.isEmpty { return [] }
        let mine = try await store.sessionIDs(tenant: tenant, blindIndexes: [b])
        var covering: [LegalHold] = []
        for (hold, index) in active {
            if index == b { covering.append(hold); continue }
            let held = try await store.sessionIDs(tenant: tenant, blindIndexes: [index])
            if !held.isDisjoint(with: mine) { covering.append(hold) }
        }
        return covering
    }

    /// Active holds covering `blindIndex` or any of `sessions`, read through the attached ledger.
    static func coveringHolds(_ db: Database, tenant: String, blindIndex: [UInt8], sessions: [String]) throws -> [(Int64, String)] {
        let mine = Set(sessions)
        var covering: [(Int64, String)] = []
        for row in try Row.fetchAll(db, sql: "SELECT id, reason, blind_index FROM ledger.legal_holds WHERE tenant_id = ? AND released_at IS NULL ORDER BY id",
                                    arguments: [tenant]) {
            let index = [UInt8](row["blind_index"] as Data)
            if index == blindIndex {
                covering.append((row["id"], row["reason"]))
                continue
            }
            let held = try String.fetchAll(db, sql: """
                SELECT ss.session_id FROM main.subject_identifiers si JOIN main.session_subjects ss
                ON ss.tenant_id = si.tenant_id AND ss.subject_id = si.subject_id WHERE si.tenant_id = ? AND si.blind_index = ?
                """, arguments: [tenant, Data(index)])
            if held.contains(where: mine.contains) { covering.append((row["id"], row["reason"])) }
        }
        return covering
    }

    func holdGuard(tenant: String, blindIndex: [UInt8]) -> AttachedCheck {
        AttachedCheck(path: ledger.path) { db, sessions in
            let holds = try Self.coveringHolds(db, tenant: tenant, blindIndex: blindIndex, sessions: sessions)
            if !holds.isEmpty { throw ComplianceError.subjectOnHold(holds: holds.map(\.0), reasons: holds.map(\.1)) }
        }
    }

    /// Sessions linked to any actively held subject, read through the attached ledger.
    func heldSessions(tenant: String) -> AttachedExclusion {
        AttachedExclusion(path: ledger.path) { db in
            Set(try String.fetchAll(db, sql: """
                SELECT DISTINCT ss.session_id FROM ledger.legal_holds h
                JOIN main.subject_identifiers si ON si.tenant_id = h.tenant_id AND si.blind_index = h.blind_index
                JOIN main.session_subjects ss ON ss.tenant_id = si.tenant_id AND ss.subject_id = si.subject_id
                WHERE h.tenant_id = ? AND h.released_at IS NULL
                """, arguments: [tenant]))
        }
    }

    // MARK: Erasure

    /// Erases a subject (GDPR Art. 17, PIPL Art. 47): refuses held subjects (recorded), finds
    /// its sessions through the blind index, destroys its keys, deletes its rows, truncates the
    /// WAL, records the erasure and returns a signed receipt. Erasing again finds nothing and
    /// says so in its receipt.
    public func erase(tenant: String, subject: SubjectIdentifier, requestID: String, actor: String, dryRun: Bool) async throws -> ErasureOutcome {
        guard Self.validRequestID(requestID) else { throw ComplianceError.invalidRequestID }
        guard subject.normalised != nil else { throw ComplianceError.invalidIdentifier(subject.kind.name) }
        let requestedAt = clock()
        let holds = try await holdsCovering(tenant: tenant, subject: subject)
        if !holds.isEmpty {
            if !dryRun {
                try await audit(tenant, actor, "erase.refused", ["request": requestID, "subject": try await pseudonym(tenant: tenant, subject),
                                                                 "holds": holds.map { String($0.id) }.joined(separator: ",")])
            }
            throw ComplianceError.subjectOnHold(holds: holds.map(\.id), reasons: holds.map(\.reason))
        }
        if dryRun { return .dryRun(try await store.footprint(tenant: tenant, subject: subject)) }
        // The check above can race a hold placed a moment later (holds live in the ledger, the
        // data in the store): the erasure re-checks inside its key-destruction transaction with
        // the ledger attached and write-locked, so no hold can commit in between.
        let counts: RemovalCounts
        do {
            counts = try await store.eraseSubject(tenant: tenant, subject: subject,
                                                  guardedBy: holdGuard(tenant: tenant, blindIndex: try await store.blindIndex(tenant: tenant, subject)))
        } catch let refused as ComplianceError {
            if case .subjectOnHold(let ids, _) = refused {
                try await audit(tenant, actor, "erase.refused", ["request": requestID, "subject": try await pseudonym(tenant: tenant, subject),
                                                                 "holds": ids.map(String.init).joined(separator: ",")])
            }
            throw refused
        }
        let completedAt = clock()
        let found = counts.sessions > 0 || !counts.keyIDs.isEmpty
        let position = try await audit(tenant, actor, "erase", [
            "request": requestID, "subject": try await pseudonym(tenant: tenant, subject), "outcome": found ? "erased" : "nothing-found",
            "sessions": String(counts.sessions), "messages": String(counts.messages), "keys": counts.keyIDs.joined(separator: ","),
        ], pendingErasure: found ? requestID : nil)
        let signer = try await signingKey(tenant: tenant)
        let receipt = ErasureReceipt(
            requestID: requestID, tenant: tenant, outcome: found ? "erased" : "nothing-found",
            subject: try await commitment(tenant: tenant, subject), sessionsErased: counts.sessions, messagesErased: counts.messages,
            keyIDsDestroyed: counts.keyIDs, requestedAt: Timestamp.string(requestedAt), completedAt: Timestamp.string(completedAt),
            auditPosition: position,
            // Nothing found: no copy taken now holds the subject under keys that still exist here.
            backups: BackupStatus(status: found ? "pending" : "undecryptable",
                                  deadline: Timestamp.string(completedAt.addingTimeInterval(Self.epochDeadline)),
                                  undecryptableSince: found ? nil : Timestamp.string(completedAt)),
            publicKey: Hex.encode(signer.publicKey))
        return .erased(SignedReceipt(signing: receipt, with: signer))
    }

    /// For a receipt issued before its epoch ran: the re-signed receipt stating when older copies
    /// became undecryptable, or nil while the epoch is still pending. The receipt's signature is
    /// checked first, so only receipts this tenant issued are completed.
    public func complete(receiptFile: Data) async throws -> SignedReceipt? {
        guard let tenant = (try? JSONDecoder().decode(SignedReceipt.self, from: receiptFile))?.receipt.tenant else { throw ReceiptError.malformed }
        let receipt = try SignedReceipt.verify(file: receiptFile, publicKey: try await signingKey(tenant: tenant).publicKey)
        guard receipt.backups.status == "pending" else { return try JSONDecoder().decode(SignedReceipt.self, from: receiptFile) }
        guard let at = try ledger.epochCompleted(tenant: tenant, requestID: receipt.requestID) else { return nil }
        return try await completedReceipt(SignedReceipt(signing: receipt, with: try await signingKey(tenant: tenant)), epochAt: at)
    }

    /// Re-signs a receipt once its erasure epoch has run, stating when older copies became
    /// undecryptable.
    public func completedReceipt(_ signed: SignedReceipt, epochAt: Date) async throws -> SignedReceipt {
        var r = signed.receipt
        r.backups.status = "undecryptable"
        r.backups.undecryptableSince = Timestamp.string(epochAt)
        return SignedReceipt(signing: r, with: try await signingKey(tenant: r.tenant))
    }

    /// The erasure epoch: for every tenant with erasures not yet covered, rotate its tenant key,
    /// re-wrap every subject key and destroy all older versions; then replace the master key
    /// (`rotateMaster`, which must re-wrap the tenant keys and retire the old master key and
    /// return the new key's id). Afterwards a database copy from before the erasures holds the
    /// erased subjects' keys only under tenant-key versions that exist nowhere, wrapped by a
    /// master key that no longer exists. Without `force` it runs only when the oldest pending
    /// erasure is older than ``epochBatchWindow``.
    public func runErasureEpoch(force: Bool, actor: String, rotateMaster: @Sendable () async throws -> String) async throws -> EpochReport {
        let now = clock()
        let pending = try ledger.pendingErasures()
        guard let oldest = pending.first, force || now.timeIntervalSince(oldest.erasedAt) >= Self.epochBatchWindow else {
            return EpochReport(tenants: [], newMasterKeyID: nil, completedAt: nil)
        }
        var byTenant: [String: [String]] = [:]
        for p in pending { byTenant[p.tenant, default: []].append(p.requestID) }
        var results: [EpochReport.TenantResult] = []
        for tenant in byTenant.keys.sorted() {
            let v = try await store.rotateTenantKey(tenant: tenant)
            let rewrap = try await store.rewrapSubjectKeys(tenant: tenant, batchSize: 2_000, progress: nil)
            let trim = try await store.trimTenantKeys(tenant: tenant, below: rewrap.currentVersion, force: false)
            results.append(.init(tenant: tenant, requestIDs: byTenant[tenant]!, newVersion: v, destroyedVersions: trim.destroyedVersions,
                                 rewrapped: rewrap.rewrapped))
        }
        let masterID = try await rotateMaster()
        let done = clock()
        for r in results {
            try ledger.completeEpoch(tenant: r.tenant, requestIDs: r.requestIDs, at: done)
            try await audit(r.tenant, actor, "epoch", ["requests": r.requestIDs.joined(separator: ","), "version": String(r.newVersion),
                                                       "destroyedVersions": r.destroyedVersions.map(String.init).joined(separator: ","),
                                                       "masterKey": masterID])
        }
        return EpochReport(tenants: results, newMasterKeyID: masterID, completedAt: done)
    }

    // MARK: Export

    /// All and only the subject's sessions, decrypted (redacted text as stored); recorded.
    public func export(tenant: String, subject: SubjectIdentifier, actor: String) async throws -> SubjectExport {
        guard subject.normalised != nil else { throw ComplianceError.invalidIdentifier(subject.kind.name) }
        var sessions: [SubjectExport.Session] = []
        var messages = 0
        for info in try await store.sessions(tenant: tenant, subject: subject) {
            let t = try await store.transcript(tenant: tenant, session: info.id)
            messages += t.count
            sessions.append(.init(id: info.id, channel: info.channel, startedAt: Timestamp.string(info.createdAt),
                                  lastActivityAt: Timestamp.string(info.lastActivityAt), status: info.status,
                                  messages: t.map { .init(sequence: $0.sequence, role: $0.role.name, sentAt: Timestamp.string($0.sentAt), text: $0.text) }))
        }
        // Recorded before the data is handed out.
        try await audit(tenant, actor, "export", ["subject": try await pseudonym(tenant: tenant, subject),
                                                  "sessions": String(sessions.count), "messages": String(messages)])
        return SubjectExport(tenant: tenant, subjectKind: subject.kind.name, exportedAt: Timestamp.string(clock()), sessions: sessions)
    }

    // MARK: Retention

    /// Applies the tenant's retention policy to every data class, in short batches (one write
    /// transaction each, so live chat interleaves), skipping held subjects (re-read inside every
    /// batch): session metadata past its period (session rows with whatever they still hold,
    /// identifier links, subjects left without sessions, the access log), then message content
    /// past the transcript period, then the audit log up to a signed checkpoint, then the
    /// outboxes. Recorded in the audit log unless a dry run.
    public func sweep(tenant: String, policy: RetentionPolicy, actor: String, dryRun: Bool, batchSize: Int = 200,
                      outboxes: [any DeliveryOutbox] = [],
                      progress: (@Sendable (ClassProgress) -> Void)? = nil) async throws -> SweepReport {
        let now = clock()
        let cutoff = policy.transcriptCutoff(now: now), metadataCutoff = policy.sessionMetadataCutoff(now: now)
        let held = try ledger.heldBlindIndexes(tenant: tenant)
        let heldNow = heldSessions(tenant: tenant)
        var metadataProgress: (@Sendable (SweepProgress) -> Void)?
        var transcriptProgress: (@Sendable (SweepProgress) -> Void)?
        if let progress {
            metadataProgress = { p in progress(ClassProgress(dataClass: "session metadata", progress: p)) }
            transcriptProgress = { p in progress(ClassProgress(dataClass: "transcripts", progress: p)) }
        }
        let metadata = try await store.sweepExpiredSessions(
            tenant: tenant, lastActivityBefore: metadataCutoff, heldBlindIndexes: held, excluding: heldNow, batchSize: batchSize, dryRun: dryRun,
            progress: metadataProgress)
        var metadataRemoved = metadata
        let orphans = try await store.removeSubjectsWithoutSessions(tenant: tenant, createdBefore: metadataCutoff, heldBlindIndexes: held,
                                                                     dryRun: dryRun)
        metadataRemoved.subjects += orphans.subjects
        metadataRemoved.identifierLinks += orphans.links
        let heldIDs = try await store.sessionIDs(tenant: tenant, blindIndexes: held)
        // Reads of held subjects' data stay in the access log as long as the hold.
        let keptTargets = Set(heldIDs.map { "session:" + $0 } + (try ledger.heldPseudonyms(tenant: tenant)).map { "subject:" + $0 })
        let accessLog = try await store.pruneAccessLog(tenant: tenant, before: metadataCutoff, keeping: keptTargets, batchSize: 1_000, dryRun: dryRun)
        let transcripts = try await store.expireMessages(
            tenant: tenant, lastActivityBefore: cutoff, notBefore: dryRun ? metadataCutoff : nil, excludedSessions: heldIDs, excluding: heldNow, batchSize: batchSize, dryRun: dryRun,
            progress: transcriptProgress)
        var outboxRecords = 0
        for o in outboxes { outboxRecords += try await o.removeRecords(queuedBefore: policy.outboxCutoff(now: now), dryRun: dryRun) }
        let signer = try await signingKey(tenant: tenant)
        let audit = try ledger.prune(tenant: tenant, before: policy.auditCutoff(now: now), signer: signer, actor: actor, at: now, dryRun: dryRun)
        if !dryRun {
            // The effective policy goes with every sweep, so policy changes show in the log too.
            func hours(_ d: Duration) -> String { String(d.components.seconds / 3_600) }
            var detail: [String: String] = [:]
            detail["cutoff"] = Timestamp.string(cutoff)
            detail["metadataCutoff"] = Timestamp.string(metadataCutoff)
            detail["policy.transcriptsHours"] = hours(policy.transcripts)
            detail["policy.sessionMetadataHours"] = hours(policy.sessionMetadata)
            detail["policy.auditEntriesHours"] = hours(policy.auditEntries)
            detail["policy.outboxHours"] = hours(policy.outbox)
            detail["sessions"] = String(metadataRemoved.sessions)
            detail["messages"] = String(metadata.messages + transcripts.messages)
            detail["keys"] = String(metadata.keyIDs.count + transcripts.keyIDs.count)
            detail["emptiedSessions"] = String(transcripts.sessions)
            detail["identifierLinks"] = String(metadataRemoved.identifierLinks)
            detail["subjects"] = String(metadataRemoved.subjects)
            detail["accessLogEntries"] = String(accessLog)
            detail["auditEntries"] = String(audit.entries)
            detail["outboxRecords"] = String(outboxRecords)
            try await self.audit(tenant, actor, "retention.sweep", detail)
        }
        return SweepReport(tenant: tenant, policy: policy, transcripts: transcripts, sessionMetadata: metadataRemoved, accessLogEntries: accessLog,
                           auditEntries: audit, outboxRecords: outboxRecords, heldSubjects: held.count, dryRun: dryRun,
                           cutoff: cutoff, metadataCutoff: metadataCutoff)
    }

    // MARK: Policy changes

    /// Records a tenant's policy in the audit log when its SHA-256 differs from the last one
    /// recorded for that tenant and kind (`retention`, `redaction`): digest, kind and file name
    /// only (`file` nil: `built-in`, with `contents` the built-in text, so an upgrade that changes
    /// the default is recorded too). Returns the new entry, or nil when unchanged.
    @discardableResult
    public func recordPolicy(tenant: String, kind: String, contents: Data?, file: String?, actor: String) async throws -> AuditPosition? {
        let digest = contents.map { SHA256.hex(Array($0)) } ?? "built-in"
        guard try ledger.lastPolicyDigest(tenant: tenant, kind: kind) != digest else { return nil }
        return try await audit(tenant, actor, "policy.change", ["kind": kind, "sha256": digest,
                                                                "file": file.map { ($0 as NSString).lastPathComponent } ?? "built-in"])
    }
}
