import Relay
import Testing

/// The relay configuration's `retention:` block (the sweeper inside `serve`).
@Suite struct RetentionConfigTests {
    static let base = """
        version: 1
        tenants:
          - id: shop1
            hostnames: [chat.shop1.example]
            certificate: a.pem
            private_key: a.key
            knowledge_base: demo

        """

    @Test func defaultsAndEveryField() throws {
        let plain = try RelayConfigFile.parse(yaml: Self.base, file: "relay.yaml", baseDirectory: "/etc")
        #expect(plain.retention == RelayConfigFile.RetentionSettings())
        #expect(plain.retention.enabled && plain.retention.intervalMinutes == 60 && plain.retention.batchSize == 200)
        let set = try RelayConfigFile.parse(yaml: Self.base + "retention: { enabled: false, interval_minutes: 15, batch_size: 50 }\n",
                                            file: "relay.yaml", baseDirectory: "/etc")
        #expect(!set.retention.enabled && set.retention.intervalMinutes == 15 && set.retention.batchSize == 50)
    }

    @Test func badValuesNameLineAndField() {
        func error(_ block: String) -> RelayConfigError? {
            do { _ = try RelayConfigFile.parse(yaml: Self.base + block, file: "relay.yaml", baseDirectory: "/etc"); return nil } catch { return error }
        }
        // More than 12 h between rounds could miss the 24 h erasure-epoch deadline.
        let slow = error("retention:\n  interval_minutes: 1440\n")
        #expect(slow?.field == "retention.interval_minutes" && slow?.line == 9)
        #expect(error("retention: { enabled: maybe }\n")?.field == "retention.enabled")
        #expect(error("retention: { intervall_minutes: 5 }\n")?.field == "retention.intervall_minutes")
        #expect(error("retention: 5\n")?.field == "retention")
    }
}
