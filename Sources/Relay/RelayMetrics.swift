import Foundation
import Prometheus
import Redaction

/// The relay's Prometheus metrics (`GET /metrics`, loopback clients only). Labels are only ever
/// fixed names — directions, redaction types, intent names from the knowledge base, hand-off
/// reasons, HTTP status classes — never tenant-supplied text, session ids, API key ids or
/// message content.
public final class RelayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let connections: Counter
    let connectionsOpen: Gauge
    let connectionsRefused: Counter
    let connectionsOverCap: Counter
    let chatsOpen: Gauge
    let refusedChats: Counter
    let protocolErrors: Counter
    let originRefusals: Counter
    let idleTimeouts: Counter
    let slowReaders: Counter
    let replyLatency: DurationHistogram
    let storeWriteLatency: DurationHistogram

    /// `kamirelay_<metric>_<unit>` with its help text (swift-prometheus 2.4's descriptor API).
    static func name(_ metric: String, unit: String = "", help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "kamirelay", metricName: metric, unitName: unit, helpText: help)
    }

    public init() {
        connections = registry.makeCounter(descriptor: Self.name("chats_started", unit: "total", help: "WebSocket chats accepted"))
        connectionsOpen = registry.makeGauge(descriptor: Self.name("connections_open", help: "TCP connections open right now (HTTPS)"))
        connectionsRefused = registry.makeCounter(descriptor: Self.name("connections_refused", unit: "total",
                                                                        help: "Connections closed before TLS: past the hard ceiling (2 x max_connections_per_ip) from one address"))
        connectionsOverCap = registry.makeCounter(descriptor: Self.name("connections_over_cap", unit: "total",
                                                                        help: "Connections past max_connections_per_ip from one address, answered 429 after TLS"))
        chatsOpen = registry.makeGauge(descriptor: Self.name("chats_open", help: "Chats open right now"))
        refusedChats = registry.makeCounter(descriptor: Self.name("chats_refused", unit: "total", help: "Chats refused (busy or draining)"))
        protocolErrors = registry.makeCounter(descriptor: Self.name("protocol_errors", unit: "total",
                                                                    help: "Client frames answered with an error frame"))
        originRefusals = registry.makeCounter(descriptor: Self.name("origin_refused", unit: "total",
                                                                    help: "WebSocket upgrades refused for a foreign Origin"))
        idleTimeouts = registry.makeCounter(descriptor: Self.name("idle_timeouts", unit: "total", help: "Chats closed after the idle timeout"))
        slowReaders = registry.makeCounter(descriptor: Self.name("slow_readers", unit: "total",
                                                                 help: "Chats closed because the client did not read its frames in time"))
        replyLatency = registry.makeDurationHistogram(
            descriptor: Self.name("reply", unit: "seconds", help: "From a customer message received to the bot's reply sent"),
            buckets: [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                      .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)])
        storeWriteLatency = registry.makeDurationHistogram(
            descriptor: Self.name("store_write", unit: "seconds", help: "Sealed transcript store append latency"),
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                      .milliseconds(25), .milliseconds(50), .milliseconds(100), .seconds(1)])
    }

    func message(direction: String, role: String, channel: String = "web") {
        registry.makeCounter(descriptor: Self.name("messages", unit: "total", help: "Chat messages stored and sent"),
                             labels: [("channel", channel), ("direction", direction), ("role", role)]).increment()
    }

    func redaction(_ type: SecretType) {
        registry.makeCounter(descriptor: Self.name("redactions", unit: "total", help: "Findings masked in customer messages, by type"),
                             labels: [("type", type.rawValue)]).increment()
    }

    func intent(_ name: String) {
        registry.makeCounter(descriptor: Self.name("bot_intents", unit: "total", help: "Bot replies by recognised intent"),
                             labels: [("intent", Self.safeLabel(name))]).increment()
    }

    func handoff(reason: String) {
        registry.makeCounter(descriptor: Self.name("handoffs", unit: "total", help: "Chats handed to the agent queue, by reason"),
                             labels: [("reason", Self.safeLabel(reason))]).increment()
    }

    func feedback(_ feedback: Feedback) {
        let value: String
        switch feedback {
        case .thumb(let up, _): value = up ? "up" : "down"
        case .csat(let score): value = "csat_\(score)"
        }
        registry.makeCounter(descriptor: Self.name("feedback", unit: "total", help: "Customer feedback"),
                             labels: [("value", value)]).increment()
    }

    /// One HTTP API request, by route template (never the concrete path) and status code.
    func apiRequest(route: String, status: Int) {
        registry.makeCounter(descriptor: Self.name("api_requests", unit: "total", help: "HTTP API requests by route and status"),
                             labels: [("route", Self.safeLabel(route, extra: Set("/{}"))), ("status", "\(status)")]).increment()
    }

    /// Intent and reason names come from code or the knowledge base; anything else is folded.
    static func safeLabel(_ name: String, extra: Set<Character> = []) -> String {
        name.count <= 40 && name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || extra.contains($0)) }) ? name : "other"
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
