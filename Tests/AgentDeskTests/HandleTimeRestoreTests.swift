import AgentDesk
import Foundation
import Testing

@Suite("HandoffQueue: restoring the average handle time")
struct HandleTimeRestoreTests {
    @Test("A saved average comes back; values no recorded average can have are refused and the seed stays")
    func restore() {
        var queue = HandoffQueue()
        let taken = queue.restoreAverageHandleTime(440)
        #expect(taken)
        #expect(queue.averageHandleTime == 440)
        #expect(queue.expectedWait(position: 1, agents: 1) == 480)
        for bad in [0, -5, 3_601, .infinity, .nan] as [TimeInterval] {
            var fresh = HandoffQueue()
            let taken = fresh.restoreAverageHandleTime(bad)
            #expect(!taken, "\(bad)")
            #expect(fresh.averageHandleTime == 300)
        }
    }
}
