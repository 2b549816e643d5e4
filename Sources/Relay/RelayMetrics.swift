import Foundation
import Prometheus
import Redaction

/// The relay's Prometheus metrics (`GET /metrics`, loopback clients only). Labels are only ever
/// fixed names — directions, redaction types, intent names from the knowledge base, hand-off
/// reasons — never tenant-supplied text, session ids or message content.
public final class RelayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let connections: Counter
    let chatsOpen: Gauge
    let refusedChats: Counter
    let protocolErrors: Counter
    let replyLatency: DurationHistogram
    let storeWriteLatency: DurationHistogram

    public init() {
        connections = registry.makeCounter(name: "kamirelay_chats_started_total", help: "WebSocket chats accepted")
        chatsOpen = registry.makeGauge(name: "kamirelay_chats_open", help: "Chats open right now")
        refusedChats = registry.makeCounter(name: "kamirelay_chats_refused_total", help: "Chats refused (busy or draining)")
        protocolErrors = registry.makeCounter(name: "kamirelay_protocol_errors_total", help: "Client frames answered with an error frame")
        replyLatency = registry.makeDurationHistogram(
            name: "kamirelay_reply_seconds", buckets: [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                                       .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)],
            help: "From a customer message received to the bot's reply sent")
        storeWriteLatency = registry.makeDurationHistogram(
            name: "kamirelay_store_write_seconds", buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                                             .milliseconds(25), .milliseconds(50), .milliseconds(100), .seconds(1)],
            help: "Sealed transcript store append latency")
    }

    func message(direction: String, role: String) {
        registry.makeCounter(name: "kamirelay_messages_total", labels: [("direction", direction), ("role", role)],
                             help: "Chat messages stored and sent").increment()
    }

    func redaction(_ type: SecretType) {
        registry.makeCounter(name: "kamirelay_redactions_total", labels: [("type", type.rawValue)],
                             help: "Findings masked in customer messages, by type").increment()
    }

    func intent(_ name: String) {
        registry.makeCounter(name: "kamirelay_bot_intents_total", labels: [("intent", Self.safeLabel(name))],
                             help: "Bot replies by recognised intent").increment()
    }

    func handoff(reason: String) {
        registry.makeCounter(name: "kamirelay_handoffs_total", labels: [("reason", Self.safeLabel(reason))],
                             help: "Chats handed to the agent queue, by reason").increment()
    }

    func feedback(_ feedback: Feedback) {
        let value: String
        switch feedback {
        case .thumb(let up, _): value = up ? "up" : "down"
        case .csat(let score): value = "csat_\(score)"
        }
        registry.makeCounter(name: "kamirelay_feedback_total", labels: [("value", value)], help: "Customer feedback").increment()
    }

    /// Intent and reason names come from code or the knowledge base; anything else is folded.
    static func safeLabel(_ name: String) -> String {
        name.count <= 40 && name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) ? name : "other"
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
