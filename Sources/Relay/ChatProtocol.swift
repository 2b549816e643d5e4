import Foundation

/// The chat protocol: JSON objects in WebSocket text frames, one per frame, each with a `type`.
/// Docs/chat-protocol.md describes it with examples.
public enum ChatProtocol {
    /// The protocol version a `welcome` announces.
    public static let version = 1
}

/// A frame the client sends.
public enum ClientFrame: Sendable, Equatable {
    /// Opens the chat. Must be the first frame. With `resume` (the token from an earlier
    /// `welcome`) it continues that chat and gets the messages after `lastID`.
    case hello(language: String?, resume: String? = nil, lastID: UInt64? = nil)
    /// A customer message. `clientID` makes resends idempotent within the session.
    case message(text: String, clientID: String)
    /// The customer is typing (accepted, no reply).
    case typing
    /// The customer has read up to a message (accepted, no reply).
    case read(upTo: UInt64?)
    /// Thumbs up/down on the chat or a message (`up`/`down`), or a CSAT score 1–5.
    case feedback(Feedback)
    /// The customer ends the chat; the server closes with 1000.
    case bye
}

/// Customer feedback: a thumb or a satisfaction score.
public enum Feedback: Sendable, Equatable {
    case thumb(up: Bool, messageID: UInt64?)
    case csat(Int)

    /// The transcript line (a `system` record) and the metric label value.
    var record: String {
        switch self {
        case .thumb(let up, let id): return "feedback: \(up ? "up" : "down")" + (id.map { " on message \($0)" } ?? "")
        case .csat(let score): return "feedback: csat \(score)"
        }
    }
}

/// Why a client frame was refused. Each maps to an `error` frame with a stable `code`.
public enum ChatProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidJSON
    case missingField(String)
    case unknownType(String)
    case helloRequired
    case duplicateHello
    case messageTooLong(limit: Int)
    case emptyMessage
    case invalidClientID
    case invalidFeedback

    /// Stable, machine-readable code sent in the `error` frame.
    public var code: String {
        switch self {
        case .invalidJSON: return "invalid_json"
        case .missingField: return "missing_field"
        case .unknownType: return "unknown_type"
        case .helloRequired: return "hello_required"
        case .duplicateHello: return "duplicate_hello"
        case .messageTooLong: return "message_too_long"
        case .emptyMessage: return "empty_message"
        case .invalidClientID: return "invalid_client_id"
        case .invalidFeedback: return "invalid_feedback"
        }
    }

    /// Never contains any of the client's text (only field and type names we define or checked).
    public var description: String {
        switch self {
        case .invalidJSON: return "the frame is not a JSON object"
        case .missingField(let field): return "the field \"\(field)\" is missing or has the wrong type"
        case .unknownType: return "unknown frame type"
        case .helloRequired: return "send hello first"
        case .duplicateHello: return "hello was already sent"
        case .messageTooLong(let limit): return "the message is longer than \(limit) characters"
        case .emptyMessage: return "the message is empty"
        case .invalidClientID: return "client_id must be 1–64 characters of A–Z, a–z, 0–9, '-' or '_'"
        case .invalidFeedback: return "feedback needs rating \"up\" or \"down\" (optionally with id), or csat 1–5"
        }
    }
}

extension ClientFrame {
    /// Parses one text frame. `maxCharacters` bounds `message.text` (in Unicode scalars).
    public static func parse(_ text: String, maxCharacters: Int) throws(ChatProtocolError) -> ClientFrame {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw .invalidJSON
        }
        guard let type = object["type"] as? String else { throw .missingField("type") }
        switch type {
        case "hello":
            if let language = object["language"], !(language is String) { throw .missingField("language") }
            if let resume = object["resume"], !(resume is String) { throw .missingField("resume") }
            if let lastID = object["last_id"], !(lastID is NSNumber) { throw .missingField("last_id") }
            return .hello(language: object["language"] as? String, resume: object["resume"] as? String,
                          lastID: (object["last_id"] as? NSNumber).map { $0.uint64Value })
        case "message":
            guard let body = object["text"] as? String else { throw .missingField("text") }
            guard let clientID = object["client_id"] as? String else { throw .missingField("client_id") }
            try checkMessage(text: body, clientID: clientID, maxCharacters: maxCharacters)
            return .message(text: body, clientID: clientID)
        case "typing":
            return .typing
        case "read":
            return .read(upTo: (object["id"] as? NSNumber).map { $0.uint64Value })
        case "bye":
            return .bye
        case "feedback":
            if let csat = object["csat"] {
                guard let number = csat as? NSNumber, number.doubleValue == Double(number.intValue), (1...5).contains(number.intValue),
                      object["rating"] == nil else { throw .invalidFeedback }
                return .feedback(.csat(number.intValue))
            }
            guard let rating = object["rating"] as? String, rating == "up" || rating == "down" else { throw .invalidFeedback }
            if let id = object["id"], !(id is NSNumber) { throw .invalidFeedback }
            return .feedback(.thumb(up: rating == "up", messageID: (object["id"] as? NSNumber).map { $0.uint64Value }))
        default:
            throw .unknownType(type)
        }
    }
}

extension ClientFrame {
    /// The checks every customer message passes (WebSocket `message` frames and the HTTP API):
    /// a client id of 1–64 `A–Z a–z 0–9 - _`, 1–`maxCharacters` Unicode scalars, not blank.
    public static func checkMessage(text: String, clientID: String, maxCharacters: Int) throws(ChatProtocolError) {
        guard (1...64).contains(clientID.utf8.count),
              clientID.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else { throw .invalidClientID }
        guard text.unicodeScalars.count <= maxCharacters else { throw .messageTooLong(limit: maxCharacters) }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .emptyMessage }
    }
}

private extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}

/// A frame the server sends. Encoded with sorted keys so output is stable.
public enum ServerFrame: Sendable, Equatable {
    case welcome(session: String, tenant: String, language: String, resumeToken: String, resumed: Bool)
    /// A message in the conversation. Customer messages come back redacted (what was stored);
    /// `clientID` ties the echo to the client's message.
    case message(role: String, text: String, id: UInt64, time: Date, clientID: String?)
    /// The customer's last message had data masked; `types` are `SecretType` raw values.
    case redacted(clientID: String, types: [String], notice: String)
    /// A resent message that was already stored and answered; nothing was stored or answered again.
    case duplicate(clientID: String)
    /// The customer's feedback was stored.
    case feedbackReceived
    /// The bot handed the chat to the agent queue.
    case handoff(state: String, priority: String, reason: String)
    /// The chat's place in the agent queue and the expected wait (sent again when it changes).
    case queue(position: Int, expectedWaitSeconds: Int)
    /// Someone on the other side (`agent`) is typing.
    case typing(role: String)
    case error(code: String, message: String)

    /// The JSON text of the frame.
    public func json() -> String {
        var object: [String: Any]
        switch self {
        case .welcome(let session, let tenant, let language, let resumeToken, let resumed):
            object = ["type": "welcome", "session": session, "tenant": tenant, "language": language,
                      "protocol": ChatProtocol.version, "resume_token": resumeToken, "resumed": resumed]
        case .message(let role, let text, let id, let time, let clientID):
            object = ["type": "message", "role": role, "text": text, "id": id,
                      "time": Self.timeFormatter.string(from: time)]
            if let clientID { object["client_id"] = clientID }
        case .redacted(let clientID, let types, let notice):
            object = ["type": "redacted", "client_id": clientID, "types": types, "notice": notice]
        case .duplicate(let clientID):
            object = ["type": "duplicate", "client_id": clientID]
        case .feedbackReceived:
            object = ["type": "feedback_received"]
        case .handoff(let state, let priority, let reason):
            object = ["type": "handoff", "state": state, "priority": priority, "reason": reason]
        case .queue(let position, let wait):
            object = ["type": "queue", "position": position, "expected_wait_seconds": wait]
        case .typing(let role):
            object = ["type": "typing", "role": role]
        case .error(let code, let message):
            object = ["type": "error", "code": code, "message": message]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static var timeFormatter: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
