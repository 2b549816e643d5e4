import Foundation
import PolicyFiles
import Relay
import Testing

@Suite("Agent desk policy files")
struct AgentDeskPolicyFileTests {
    @Test("A full file: key delivery, service level, business hours, canned responses")
    func parses() throws {
        let policy = try AgentDeskPolicyFile.parse(yaml: """
            agents_may_deliver_card_keys: true
            service_level_minutes: 3
            agent_offline_grace_seconds: 45
            business_hours: { opens: "09:00", closes: "21:30", utc_offset: "+08:00" }
            canned_responses:
              - key: refund
                zh: 已为订单 {order} 提交退款。
                en: A refund for order {order} has been submitted.
            """, file: "shop1.yaml")
        #expect(policy.agentsMayDeliverCardKeys && policy.serviceLevel == 180 && policy.agentOfflineGrace == 45)
        let hours = try #require(policy.businessHours)
        #expect(hours.opens == 540 && hours.closes == 1_290 && hours.utcOffset == 8 * 3_600 && hours.opening == "09:00 (UTC+8)")
        // 01:00 UTC is 09:00 in UTC+8: open; 14:00 UTC is 22:00 there: closed.
        #expect(hours.isOpen(at: Date(timeIntervalSince1970: 3_600)) && !hours.isOpen(at: Date(timeIntervalSince1970: 14 * 3_600)))
        #expect(policy.cannedResponses == [CannedResponse(key: "refund", zh: "已为订单 {order} 提交退款。", en: "A refund for order {order} has been submitted.")])
        let defaults = try AgentDeskPolicyFile.parse(yaml: "", file: "empty.yaml")
        #expect(defaults.agentsMayDeliverCardKeys == false && defaults.agentOfflineGrace == 120, "safe defaults")
    }

    @Test("Mistakes name the file, the line and the field", arguments: [
        ("agents_may_deliver_keys: true\n", "shop1.yaml:1: field 'agents_may_deliver_keys': unknown field"),
        ("agents_may_deliver_card_keys: sometimes\n", "shop1.yaml:1: field 'agents_may_deliver_card_keys': expected true or false"),
        ("service_level_minutes: 0\n", "shop1.yaml:1: field 'service_level_minutes': expected 1–1440"),
        ("business_hours:\n  opens: \"9am\"\n  closes: \"21:00\"\n", "shop1.yaml:2: field 'business_hours.opens': expected a time of day"),
        ("business_hours: { opens: \"09:00\", closes: \"21:00\", utc_offset: \"8\" }\n", "field 'business_hours.utc_offset': expected an offset"),
        ("agent_offline_grace_seconds: 2\n", "shop1.yaml:1: field 'agent_offline_grace_seconds': expected 5–86400"),
        ("canned_responses:\n  - key: a\n    zh: 你好\n", "shop1.yaml:2: field 'canned_responses[0]': needs key, zh and en"),
    ])
    func errors(yaml: String, message: String) {
        #expect { try AgentDeskPolicyFile.parse(yaml: yaml, file: "shop1.yaml") } throws: { error in
            "\(error)".contains(message)
        }
    }
}
