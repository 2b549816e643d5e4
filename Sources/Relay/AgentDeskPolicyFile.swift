import Foundation
import PolicyFiles
import Yams

/// A tenant's agent-desk rules in `<data-dir>/policies/agents/TENANT.yaml` (optional):
///
/// ```yaml
/// agents_may_deliver_card_keys: false     # default false
/// service_level_minutes: 5                # escalate queued chats after this long (default 5)
/// max_chats_per_agent: 8                  # chats one agent may have at once (default 8)
/// auto_assign: false                      # round-robin to online agents (default: agents take chats)
/// agent_offline_grace_seconds: 120        # an agent offline this long loses their chats to the queue (default 120)
/// business_hours: { opens: "09:00", closes: "21:00", utc_offset: "+08:00" }   # default: always open
/// canned_responses:
///   - key: refund
///     zh: 已为订单 {order} 提交退款。
///     en: A refund for order {order} has been submitted.
/// ```
/// Errors name the file, the line and the field; unknown fields are errors.
public enum AgentDeskPolicyFile {
    /// The policy file of `tenant` in a data directory.
    public static func path(dataDirectory: String, tenant: String) -> String { dataDirectory + "/policies/agents/\(tenant).yaml" }

    public static func load(path: String) throws(PolicyFileError) -> AgentDeskPolicy {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw PolicyFileError(file: path, line: nil, field: nil, reason: "cannot read the file as UTF-8")
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws(PolicyFileError) -> AgentDeskPolicy {
        func fail(_ node: Node?, _ field: String?, _ reason: String) -> PolicyFileError {
            PolicyFileError(file: file, line: node?.mark?.line, field: field, reason: reason)
        }
        func fields(_ node: Node, _ allowed: [String], _ prefix: String) throws(PolicyFileError) -> [String: Node] {
            guard let mapping = node.mapping else { throw fail(node, prefix.isEmpty ? nil : String(prefix.dropLast()), "expected a mapping") }
            var out: [String: Node] = [:]
            for (key, value) in mapping {
                guard let name = key.string, allowed.contains(name) else {
                    throw fail(key, prefix + (key.string ?? "<key>"), "unknown field (expected one of \(allowed.joined(separator: ", ")))")
                }
                out[name] = value
            }
            return out
        }
        func text(_ node: Node, _ field: String) throws(PolicyFileError) -> String {
            guard let value = node.scalar?.string, !value.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw fail(node, field, "expected a non-empty string")
            }
            return value
        }
        func clock(_ node: Node, _ field: String) throws(PolicyFileError) -> Int {
            let parts = try text(node, field).split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, (0...24).contains(parts[0]), (0...59).contains(parts[1]), parts[0] * 60 + parts[1] <= 1_440 else {
                throw fail(node, field, "expected a time of day like \"09:00\"")
            }
            return parts[0] * 60 + parts[1]
        }

        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw PolicyFileError(file: file, line: (error as? YamlError)?.line, field: nil, reason: "not valid YAML")
        }
        var policy = AgentDeskPolicy()
        guard let root else { return policy }
        let f = try fields(root, ["agents_may_deliver_card_keys", "service_level_minutes", "max_chats_per_agent", "auto_assign", "business_hours",
                                  "canned_responses", "agent_offline_grace_seconds"], "")
        if let node = f["agents_may_deliver_card_keys"] {
            guard let value = node.bool else { throw fail(node, "agents_may_deliver_card_keys", "expected true or false") }
            policy.agentsMayDeliverCardKeys = value
        }
        if let node = f["service_level_minutes"] {
            guard let value = node.int, (1...1_440).contains(value) else { throw fail(node, "service_level_minutes", "expected 1–1440") }
            policy.serviceLevel = TimeInterval(value * 60)
        }
        if let node = f["max_chats_per_agent"] {
            guard let value = node.int, (1...100).contains(value) else { throw fail(node, "max_chats_per_agent", "expected 1–100") }
            policy.maxChatsPerAgent = value
        }
        if let node = f["auto_assign"] {
            guard let value = node.bool else { throw fail(node, "auto_assign", "expected true or false") }
            policy.autoAssign = value
        }
        if let node = f["agent_offline_grace_seconds"] {
            guard let value = node.int, (5...86_400).contains(value) else { throw fail(node, "agent_offline_grace_seconds", "expected 5–86400") }
            policy.agentOfflineGrace = TimeInterval(value)
        }
        if let node = f["business_hours"] {
            let hours = try fields(node, ["opens", "closes", "utc_offset"], "business_hours.")
            guard let opens = hours["opens"], let closes = hours["closes"] else {
                throw fail(node, "business_hours", "needs opens and closes")
            }
            var offset = 0
            if let node = hours["utc_offset"] {
                let value = try text(node, "business_hours.utc_offset")
                let sign = value.hasPrefix("-") ? -1 : 1
                let parts = value.trimmingCharacters(in: CharacterSet(charactersIn: "+-")).split(separator: ":").compactMap { Int($0) }
                guard (value.hasPrefix("+") || value.hasPrefix("-")), (1...2).contains(parts.count), (0...14).contains(parts[0]),
                      parts.count == 1 || (0...59).contains(parts[1]) else {
                    throw fail(node, "business_hours.utc_offset", "expected an offset like \"+08:00\"")
                }
                offset = sign * (parts[0] * 3_600 + (parts.count == 2 ? parts[1] * 60 : 0))
            }
            policy.businessHours = BusinessHours(opens: try clock(opens, "business_hours.opens"),
                                                 closes: try clock(closes, "business_hours.closes"), utcOffsetSeconds: offset)
        }
        if let node = f["canned_responses"] {
            guard let items = node.sequence else { throw fail(node, "canned_responses", "expected a list") }
            for (index, item) in items.enumerated() {
                let prefix = "canned_responses[\(index)]."
                let c = try fields(item, ["key", "zh", "en"], prefix)
                guard let key = c["key"], let zh = c["zh"], let en = c["en"] else { throw fail(item, String(prefix.dropLast()), "needs key, zh and en") }
                policy.cannedResponses.append(CannedResponse(key: try text(key, prefix + "key"), zh: try text(zh, prefix + "zh"),
                                                             en: try text(en, prefix + "en")))
            }
        }
        return policy
    }

    /// The policies of `tenants` found in the data directory, over `defaults`.
    public static func loadAll(dataDirectory: String, tenants: [String], defaults: [String: AgentDeskPolicy]) throws(PolicyFileError)
        -> [String: AgentDeskPolicy] {
        var policies = defaults
        for tenant in tenants {
            let file = path(dataDirectory: dataDirectory, tenant: tenant)
            if FileManager.default.fileExists(atPath: file) { policies[tenant] = try load(path: file) }
        }
        return policies
    }
}
