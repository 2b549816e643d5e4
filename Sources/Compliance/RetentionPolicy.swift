import Foundation
import PolicyFiles
import Yams

/// How long a tenant's data lives. Today one data class is enforced: transcripts (sessions, their
/// sealed messages and the subject keys left without sessions), counted from the session's last
/// activity.
public struct RetentionPolicy: Sendable, Hashable {
    /// Transcripts are removed this long after their session's last activity.
    public var transcripts: Duration

    /// 90 days after last activity (documented in SECURITY.md).
    public static let `default` = RetentionPolicy(transcripts: .seconds(90 * 86_400))

    public init(transcripts: Duration) { self.transcripts = transcripts }

    /// Sessions whose last activity is strictly before this are expired at `now`.
    public func transcriptCutoff(now: Date) -> Date {
        now.addingTimeInterval(-Double(transcripts.components.seconds))
    }
}

/// Loads retention policies: `<policies-dir>/retention/<tenant>.yaml`, else the default.
///
/// ```yaml
/// version: 1
/// transcripts: 90d     # d (days) or h (hours); at least 1h, at most 3650d
/// ```
/// A broken file is a ``PolicyFileError`` naming file, line and field — never a silent default.
public enum RetentionPolicyFile {
    public static let fields: Set<String> = ["version", "transcripts"]

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
            throw PolicyFileError(file: file, line: root?.mark?.line, field: nil, reason: "expected a mapping with version and transcripts")
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
        var policy = RetentionPolicy.default
        if let t = values["transcripts"] {
            policy.transcripts = try duration(t, field: "transcripts", file: file)
        }
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
