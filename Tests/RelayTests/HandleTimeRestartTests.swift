import AgentDesk
import Foundation
@testable import Relay
import Testing

@Suite("The queue's average handle time survives a restart", .serialized)
struct HandleTimeRestartTests {
    static func average(_ hub: AgentHub) -> TimeInterval? {
        hub.state.withLockedValue { $0.desks["demo"]?.queue.averageHandleTime }
    }

    @Test("A chat handled for 1000 s moves the average from the 300 s seed to 440 s; after a restart it is still 440 s and a new customer is told 8 minutes, not the seed's 5")
    func averageHandleTimeIsRestored() async throws {
        let clock = TestClock()
        let first = try await AgentRelayHarness.start(clock: clock.read)
        let directory = first.directory
        let (session, _) = try await HandoffContinuityTests.handOff(first, "转人工")
        let ann = try first.hub.authenticator.login(tenant: "demo", username: "ann", password: HandoffContinuityTests.password).principal
        #expect(Self.average(first.hub) == 300, "the seed")
        _ = try await first.hub.take(ann, session: session)
        clock.advance(1_000)
        try await first.hub.close(ann, session: session, resolution: "resolved")
        #expect(Self.average(first.hub) == 440)
        try await first.shutdown()

        let second = try await AgentRelayHarness.start(directory: directory, clock: clock.read)
        do {
            #expect(Self.average(second.hub) == 440, "restored from relay.sqlite, not the seed")
            let wait = try await offPool { () -> Int? in
                let ws = try second.customer()
                defer { ws.close() }
                _ = try helloForToken(ws)
                try say(ws, "转人工", id: "w1")
                return try ws.receive(until: "queue").frame["expected_wait_seconds"] as? Int
            }
            #expect(wait == 480, "first in line, one agent assumed: 440 s rounded up to whole minutes")
        } catch {
            try await second.finish()
            throw error
        }
        try await second.finish()
    }
}
