import Foundation
import PolicyFiles
import Yams

/// How long a tenant's data lives, per data class. Each period is counted from the moment the
/// data stops changing (a session's last activity, an entry's or a record's time).
public struct RetentionPolicy: Sendable, Hashable {
    /// Message content: a session's sealed messages are deleted this long after its last
    /// activity; a subject key left sealing nothing is destroyed (and replaced, so the subject
    /// can still chat).
    public var transcripts: Duration
    /// Session metadata: session rows, their identifier links (blind indexes), subjects left
    /// without sessions (keys destroyed, rows deleted) and the operator access log. At least
    /// `transcripts` (messages never outlive their session row).
    public var sessionMetadata: Duration
    /// Audit entries older than this are pruned up to a signed checkpoint that becomes the
    /// chain's anchor; the pruning itself is an entry. At least 365 days.
    public var auditEntries: Duration
    /// Outbox records: records queued for delivery to other systems (the shop's mailer re-sending
    /// card keys), removed this long after they were queued, delivered or not.
    public var outbox: Duration

    /// The documented default (SECURITY.md): transcripts 90 days, session metadata 180 days,
    /// audit entries 3 years, outbox records 7 days.
    public static let `default` = RetentionPolicy(transcripts: .seconds(90 * 86_400))
    public static let defaultSessionMetadata: Duration = .seconds(180 * 86_400)
    public static let defaultAuditEntries: Duration = .seconds(1_095 * 86_400)
    public static let defaultOutbox: Duration = .seconds(7 * 86_400)
    /// The shortest audit retention a policy may set: receipts and erasures must stay provable.
    public static let minimumAuditEntries: Duration = .seconds(365 * 86_400)

    /// `sessionMetadata` defaults to the larger of 180 days and `transcripts`.
    public init(transcripts: Duration, sessionMetadata: Duration? = nil, auditEntries: Duration = RetentionPolicy.defaultAuditEntries,
                outbox: Duration = RetentionPolicy.defaultOutbox) {
        self.transcripts = transcripts
        self.sessionMetadata = sessionMetadata ?? max(transcripts, Self.defaultSessionMetadata)
        self.auditEntries = auditEntries
        self.outbox = outbox
    }

    static func cutoff(_ d: Duration, now: Date) -> Date { now.addingTimeInterval(-Double(d.components.seconds)) }
    /// Sessions whose last activity is strictly before this lose their messages at `now`.
    public func transcriptCutoff(now: Date) -> Date { Self.cutoff(transcripts, now: now) }
    /// Sessions whose last activity is strictly before this are removed at `now`.
    public func sessionMetadataCutoff(now: Date) -> Date { Self.cutoff(sessionMetadata, now: now) }
    public func auditCutoff(now: Date) -> Date { Self.cutoff(auditEntries, now: now) }
    public func outboxCutoff(now: Date) -> Date { Self.cutoff(outbox, now: now) }

    /// The policy as a policy file (the built-in default's digest in the audit log is over this).
    public var yaml: String {
        func d(_ x: Duration) -> String {
            let s = x.components.seconds
            return s % 86_400 == 0 ? "\(s / 86_400)d" : "\(s / 3_600)h"
        }
        return "version: 1\ntranscripts: \(d(transcripts))\nsession_metadata: \(d(sessionMetadata))\naudit_entries: \(d(auditEntries))\noutbox: \(d(outbox))\n"
    }

    /// One line per class, for `retention show` and sweep output.
    public var summary: String {
        func d(_ x: Duration) -> String {
            let s = x.components.seconds
            return s % 86_400 == 0 ? "\(s / 86_400)d" : "\(s / 3_600)h"
        }
        return "transcripts \(d(transcripts)), session metadata \(d(sessionMetadata)), audit entries \(d(auditEntries)), outbox \(d(outbox))"
    }
}

/// Loads retention policies: `<policies-dir>/retention/<tenant>.yaml`, else the default.
///
/// ```yaml
/// version: 1
/// transcripts: 90d         # d (days) or h (hours); at least 1h, at most 3650d
/// session_metadata: 180d   # at least transcripts
/// audit_entries: 1095d     # at least 365d
/// outbox: 7d
/// ```
/// Omitted classes take the default.
/// A broken file is a ``PolicyFileError`` naming file, line and field — never a silent default.
public enum RetentionPolicyFile {
    public static let fields: Set<String> = ["version", "transcripts", "session_metadata", "audit_entries", "outbox"]

    /// The tenant's policy file path under a policies directory.
    public static func path(policiesDir: String, tenant: String) -> String {
        policiesDir + "/retention/\(tenant).yaml"
    }

    /// The tenant's policy, or ``RetentionPolicy/default`` when it has no file.
    public static func load(policiesDir: String, tenant: String) throws(PolicyFileError) -> RetentionPolicy {
        let p = path(policiesDir: policiesDir, tenant: tenant)
        guard FileManager.default.fileExists(atPath: p) else { return .default }
        return try load(path: p)
    }

    public static func load(path: String) throws(PolicyFileError) -> RetentionPolicy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyFileError(file: path, line: nil, field: nil, reason: "cannot read the file (missing or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PolicyFileError(file: path, line: nil, field: nil, reason: "the file is not valid UTF-8")
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws(PolicyFileError) -> RetentionPolicy {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw PolicyFileError(file: file, line: lineOf(error), field: nil, reason: "not valid YAML")
        } catch {
            throw PolicyFileError(file: file, line: nil, field: nil, reason: "not valid YAML")
        }
        guard let root, let mapping = root.mapping else {
            throw PolicyFileError(file: file, line: root?.mark?.line, field: nil, reason: "expected a mapping with version and retention periods")
        }
        var values: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string, fields.contains(name) else {
                throw PolicyFileError(file: file, line: key.mark?.line, field: key.string ?? "<key>",
                                      reason: "unknown field (expected one of \(fields.sorted().joined(separator: ", ")))")
            }
            values[name] = value
        }
        guard let version = values["version"] else {
            throw PolicyFileError(file: file, line: root.mark?.line, field: "version", reason: "missing (write `version: 1`)")
        }
        guard version.int == 1 else {
            throw PolicyFileError(file: file, line: version.mark?.line, field: "version", reason: "unsupported version (this KamiRelay reads version 1)")
        }
        let transcripts = try values["transcripts"].map { (n) throws(PolicyFileError) in try duration(n, field: "transcripts", file: file) }
            ?? RetentionPolicy.default.transcripts
        var policy = RetentionPolicy(transcripts: transcripts)
        if let n = values["session_metadata"] {
            policy.sessionMetadata = try duration(n, field: "session_metadata", file: file)
            guard policy.sessionMetadata >= transcripts else {
                throw PolicyFileError(file: file, line: n.mark?.line, field: "session_metadata",
                                      reason: "must be at least transcripts (session rows go with their messages)")
            }
        }
        if let n = values["audit_entries"] {
            policy.auditEntries = try duration(n, field: "audit_entries", file: file)
            guard policy.auditEntries >= RetentionPolicy.minimumAuditEntries else {
                throw PolicyFileError(file: file, line: n.mark?.line, field: "audit_entries",
                                      reason: "must be at least 365d (the log proves erasures, exports and holds)")
            }
        }
        if let n = values["outbox"] { policy.outbox = try duration(n, field: "outbox", file: file) }
        return policy
    }

    static func duration(_ node: Node, field: String, file: String) throws(PolicyFileError) -> Duration {
        let fail = { (reason: String) in PolicyFileError(file: file, line: node.mark?.line, field: field, reason: reason) }
        guard let s = node.scalar?.string, let unit = s.last, let n = Int(s.dropLast()), n >= 0 else {
            throw fail("expected a duration like 90d or 48h")
        }
        let seconds: Int
        switch unit {
        case "d": seconds = n * 86_400
        case "h": seconds = n * 3_600
        default: throw fail("unknown unit '\(unit)' (use d for days or h for hours)")
        }
        guard seconds >= 3_600 else { throw fail("must be at least 1h (a shorter retention would delete live chats)") }
        guard seconds <= 3_650 * 86_400 else { throw fail("must be at most 3650d") }
        return .seconds(seconds)
    }

    static func lineOf(_ error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }
}
