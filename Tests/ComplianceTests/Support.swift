import Compliance
import Foundation
import GRDB
import Sealing
@testable import TranscriptStore

/// A settable clock. `@unchecked Sendable` is sound: `now` is only read and written under `lock`.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var now: Date
    init(_ start: Date) { now = start }
    func get() -> Date { lock.withLock { now } }
    func set(_ d: Date) { lock.withLock { now = d } }
    func advance(_ seconds: TimeInterval) { lock.withLock { now = now.addingTimeInterval(seconds) } }
}

/// A sealed store, a ledger and a `Compliance` in a fresh temporary directory.
final class ComplianceFixture: Sendable {
    let dir: String
    let masterKey: GuardedKey
    let masterID: String
    let store: SQLiteTranscriptStore
    let ledger: ComplianceLedger
    let clock: TestClock
    let compliance: Compliance
    static let t0 = Date(timeIntervalSince1970: 1_780_000_000)

    init() throws {
        dir = NSTemporaryDirectory() + "kr-compliance-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        masterKey = GuardedKey(randomCount: 32)
        masterID = MasterKeyFile.newKeyID()
        store = try SQLiteTranscriptStore(path: dir + "/transcripts.sqlite", masterKeys: MasterKeyring(currentID: masterID, key: masterKey))
        ledger = try ComplianceLedger(path: dir + "/compliance.sqlite")
        let clock = TestClock(Self.t0)
        self.clock = clock
        compliance = Compliance(store: store, ledger: ledger, clock: { clock.get() })
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// Opens `count` sessions for a subject, each with `messages` messages whose text carries `marker`.
    func seed(tenant: String = "shop1", subject: [SubjectIdentifier], prefix: String, sessions count: Int = 2, messages: Int = 3,
              marker: String, at: Date = ComplianceFixture.t0) async throws {
        for s in 0..<count {
            let session = "\(prefix)-\(s)"
            try await store.openSession(tenant: tenant, session: session, channel: "web", identifiers: subject, at: at)
            _ = try await store.append((0..<messages).map { i in
                PendingMessage(tenant: tenant, session: session, role: i % 2 == 0 ? .customer : .agent,
                               text: "\(marker) message \(i) 卡密无效", sentAt: at)
            })
        }
    }

    func raw(_ file: String = "transcripts.sqlite") throws -> DatabaseQueue { try DatabaseQueue(path: dir + "/" + file) }

    /// Bytes of every transcript-database file (database, WAL, shm, journal).
    func storeFileBytes() throws -> Data {
        var all = Data()
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasPrefix("transcripts.sqlite") {
            all.append(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
        }
        return all
    }
}

extension Data {
    func contains(_ needle: String) -> Bool { range(of: Data(needle.utf8)) != nil }
    func contains(bytes: [UInt8]) -> Bool { range(of: Data(bytes)) != nil }
}
