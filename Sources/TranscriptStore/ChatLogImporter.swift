import Foundation
import Redaction
import Sealing

/// Imports plaintext chat logs (JSON lines) into a ``TranscriptStore``, redacting every message
/// on the way in with the tenant's redactor and linking sessions to subjects by blind index.
///
/// One line per message:
/// ```json
/// {"session":"s-1","time":"2024-05-01T10:00:00Z","role":"customer","text":"…",
///  "email":"a@example.com","phone":"13812345678","order":"K7Q2M9X4B1C8D3F5","channel":"web"}
/// ```
/// `time` is ISO 8601 or Unix seconds; `email`, `phone`, `order` and `channel` are optional.
/// Bad lines are reported by line number (never by content) and skipped; the rest imports.
/// Each message carries a keyed de-duplication hash of (session, time, role, original text), so
/// running the same file again imports nothing twice.
public struct ChatLogImporter: Sendable {
    /// A line that was not imported, and why (no content from the line).
    public struct BadLine: Error, Sendable, Hashable {
        public var line: Int
        public var reason: String
    }

    public struct Summary: Sendable, Hashable {
        public var linesRead = 0
        public var imported = 0
        public var duplicates = 0
        public var sessions = 0
        public var badLines: [BadLine] = []
    }

    /// Reported after each durable batch.
    public struct Progress: Sendable {
        public var bytesRead: Int
        public var totalBytes: Int
        /// Every line up to and including this one is stored (or reported bad or duplicate).
        public var committedThroughLine: Int
        public var imported: Int
    }

    let store: any TranscriptStore
    let tenant: String
    let redactor: Redactor
    let dedupHasher: BLAKE2bKeyedHasher
    let batchSize: Int

    /// - Parameters:
    ///   - redactor: the tenant's redactor (policy + tokenisation key).
    ///   - dedupKey: the tenant's ``KeyPurpose/importDedup`` key.
    public init(store: any TranscriptStore, tenant: String, redactor: Redactor, dedupKey: GuardedKey, batchSize: Int = 500) {
        self.store = store
        self.tenant = tenant
        self.redactor = redactor
        self.dedupHasher = BLAKE2bKeyedHasher(guardedKey: dedupKey, outputLength: 16)
        self.batchSize = max(1, batchSize)
    }

    struct Line {
        var number: Int
        var session: String
        var channel: String
        var time: Date
        var role: SenderRole
        var text: String
        var identifiers: [SubjectIdentifier]
    }

    /// Lines longer than this are reported as bad (and skipped) instead of being buffered.
    public static let maxLineBytes = 1 << 20

    /// Imports the file at `path`, streaming it in 1 MiB chunks.
    public func run(path: String, progress: (@Sendable (Progress) -> Void)? = nil) async throws -> Summary {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImportError.unreadable(path) }
        defer { try? handle.close() }
        let total = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
        return try await run(totalBytes: total, progress: progress) {
            do { return try handle.read(upToCount: 1 << 20).map { [UInt8]($0) } } catch { throw ImportError.unreadable(path) }
        }
    }

    /// Imports JSON lines from memory.
    public func run(data: Data, progress: (@Sendable (Progress) -> Void)? = nil) async throws -> Summary {
        var delivered = false
        return try await run(totalBytes: data.count, progress: progress) {
            if delivered { return nil }
            delivered = true
            return [UInt8](data)
        }
    }

    /// The import loop over a chunked byte source (`nil` or an empty chunk ends it).
    func run(totalBytes: Int, progress: (@Sendable (Progress) -> Void)?, nextChunk: () throws -> [UInt8]?) async throws -> Summary {
        var summary = Summary()
        var sessionsSeen = Set<String>()
        var redactionSessions: [String: RedactionSession] = [:]
        var pending: [Line] = []
        var lineNumber = 0
        var bytesRead = 0

        func flush(through line: Int, bytesRead: Int) async throws {
            defer { pending.removeAll(keepingCapacity: true) }
            if !pending.isEmpty {
                // Identifiers per session, opened or linked in one transaction.
                var openings: [String: SessionOpening] = [:]
                var order: [String] = []
                for l in pending {
                    if openings[l.session] == nil {
                        order.append(l.session)
                        openings[l.session] = SessionOpening(tenant: tenant, session: l.session, channel: l.channel, identifiers: [], at: l.time)
                    }
                    for id in l.identifiers where !openings[l.session]!.identifiers.contains(id) {
                        openings[l.session]!.identifiers.append(id)
                    }
                }
                try await store.openSessions(order.map { openings[$0]! })
                var messages: [PendingMessage] = []
                messages.reserveCapacity(pending.count)
                for l in pending {
                    var rs = redactionSessions[l.session] ?? RedactionSession(redactor: redactor)
                    let redacted = rs.redact(l.text).text
                    redactionSessions[l.session] = rs
                    let dedup = dedupHasher.digest(Self.dedupMaterial(l))
                    messages.append(PendingMessage(tenant: tenant, session: l.session, role: l.role, text: redacted, sentAt: l.time, dedupKey: dedup))
                }
                let result = try await store.append(messages)
                summary.imported += result.stored.count
                summary.duplicates += result.duplicates.count
            }
            progress?(Progress(bytesRead: bytesRead, totalBytes: max(totalBytes, bytesRead), committedThroughLine: line, imported: summary.imported))
        }

        func take(_ raw: ArraySlice<UInt8>, tooLong overlong: Bool = false) async throws {
            let tooLong = overlong || raw.count > Self.maxLineBytes
            lineNumber += 1
            var slice = raw
            if slice.last == 0x0D { slice = slice.dropLast() }
            if !tooLong && slice.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            summary.linesRead += 1
            if tooLong {
                summary.badLines.append(BadLine(line: lineNumber, reason: "longer than \(Self.maxLineBytes) bytes"))
                return
            }
            switch Self.parse(slice, number: lineNumber) {
            case .failure(let bad): summary.badLines.append(bad)
            case .success(let line):
                sessionsSeen.insert(line.session)
                pending.append(line)
                if pending.count >= batchSize { try await flush(through: lineNumber, bytesRead: bytesRead) }
            }
        }

        var carry: [UInt8] = []
        var skipping = false  // inside a line that was too long to buffer
        while true {
            let chunk = try nextChunk() ?? []
            bytesRead += chunk.count
            carry.append(contentsOf: chunk)
            var start = 0
            while let newline = carry[start...].firstIndex(of: 0x0A) {
                if skipping {
                    skipping = false
                    try await take([], tooLong: true)
                } else {
                    try await take(carry[start..<newline])
                }
                start = newline + 1
            }
            carry.removeFirst(start)
            if carry.count > Self.maxLineBytes {
                skipping = true
                carry.removeAll(keepingCapacity: true)
            }
            if chunk.isEmpty {
                if skipping { try await take([], tooLong: true) } else if !carry.isEmpty { try await take(carry[...]) }
                break
            }
        }
        try await flush(through: lineNumber, bytesRead: bytesRead)
        summary.sessions = sessionsSeen.count
        return summary
    }

    static func dedupMaterial(_ l: Line) -> [UInt8] {
        var m: [UInt8] = []
        for field in [l.session, String(l.time.timeIntervalSince1970), l.role.name, l.text] {
            m.append(contentsOf: AAD.bigEndian(UInt32(field.utf8.count)))
            m.append(contentsOf: field.utf8)
        }
        return m
    }

    static func parse(_ bytes: ArraySlice<UInt8>, number: Int) -> Result<Line, BadLine> {
        func bad(_ reason: String) -> Result<Line, BadLine> { .failure(BadLine(line: number, reason: reason)) }
        guard String(validating: bytes, as: UTF8.self) != nil else { return bad("not valid UTF-8") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)), let o = object as? [String: Any] else {
            return bad("not a JSON object")
        }
        guard let session = o["session"] as? String, !session.isEmpty, session.utf8.count <= 200 else {
            return bad("missing or invalid \"session\" (a non-empty string)")
        }
        guard let text = o["text"] as? String else { return bad("missing \"text\" (a string)") }
        guard let roleName = o["role"] as? String, let role = SenderRole(name: roleName) else {
            return bad("missing or unknown \"role\" (customer, bot, agent or system)")
        }
        let time: Date
        if let t = o["time"] as? String, let d = parseISO8601(t) { time = d }
        else if let n = o["time"] as? NSNumber, !(o["time"] is Bool), n.doubleValue.isFinite { time = Date(timeIntervalSince1970: n.doubleValue) }
        else { return bad("missing or invalid \"time\" (ISO 8601 or Unix seconds)") }
        var ids: [SubjectIdentifier] = []
        for (field, make) in [("email", SubjectIdentifier.email), ("phone", SubjectIdentifier.phone),
                              ("order", SubjectIdentifier.orderNumber), ("order_number", SubjectIdentifier.orderNumber)] {
            guard let v = o[field], !(v is NSNull) else { continue }
            guard let s = v as? String, make(s).normalised != nil else { return bad("invalid \"\(field)\"") }
            ids.append(make(s))
        }
        let channel = (o["channel"] as? String).flatMap { $0.isEmpty ? nil : String($0.prefix(32)) } ?? "import"
        return .success(Line(number: number, session: session, channel: channel, time: time, role: role, text: text, identifiers: ids))
    }

    static func parseISO8601(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }
}

public enum ImportError: Error, CustomStringConvertible, Sendable {
    case unreadable(String)
    public var description: String {
        switch self {
        case .unreadable(let p): return "cannot read \(p)"
        }
    }
}
