import ArgumentParser
import Compliance
import Foundation
import Sealing
import TranscriptStore

struct BenchComplianceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compliance",
        abstract: "Erasure latency (p50/p99), erasure-epoch time and retention-sweep rate on a large store.",
        discussion: """
        One process, one run, a fresh database in a temporary directory (removed afterwards) under a \
        random in-memory master key:
          1. load: --subjects subjects, each with one session of --messages-per-subject messages \
             (half of them last active 200 days ago, half yesterday), plus --erasures subjects with \
             two sessions of 50 messages each (≈100 messages, the erasure targets);
          2. erase each target through `Compliance.erase` (hold check, blind-index look-up, key \
             destruction, row deletion, WAL checkpoint + truncate, audit entry with signed \
             checkpoint, signed receipt): wall time per erasure, p50 / p99 / max;
          3. the erasure epoch for the tenant (rotate, rewrap every subject key, trim, master-key \
             rotation in memory): wall time;
          4. the retention sweep with the default policy (transcripts 90 d, session metadata \
             180 d, audit entries 3 years, outbox 7 d) removing the expired half (200 days old: \
             whole sessions with their messages, identifier links and subjects): messages removed \
             per second of wall time, and the longest single batch (what a live write may wait).
        Build with `swift build -c release`; debug builds are many times slower.
        """)

    @Option(help: "Ordinary subjects (one session each).") var subjects = 100_000
    @Option(name: .customLong("messages-per-subject"), help: "Messages per ordinary subject.") var messagesPerSubject = 10
    @Option(help: "Subjects of ≈100 messages to erase (the latency sample).") var erasures = 200

    func run() async throws {
        #if DEBUG
        Terminal.warn("this is a debug build; use `swift build -c release` for meaningful figures")
        #endif
        let dir = NSTemporaryDirectory() + "kamirelay-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteTranscriptStore(path: dir + "/transcripts.sqlite",
                                              masterKeys: MasterKeyring(currentID: MasterKeyFile.newKeyID(), key: GuardedKey(randomCount: 32)))
        let compliance = Compliance(store: store, ledger: try ComplianceLedger(path: dir + "/compliance.sqlite"))
        try await store.addTenant("bench")
        print("kamirelay bench compliance — \(ProcessInfo.processInfo.activeProcessorCount) CPU(s)")

        // 1. Load.
        let now = Date()
        let old = now.addingTimeInterval(-200 * 86_400), recent = now.addingTimeInterval(-86_400)
        let text = String(repeating: "订单已完成，卡密请查收邮件 ok ", count: 8)
        let loadStart = ContinuousClock.now
        let bar = ProgressBar("load")
        let chunk = 1_000
        for start in stride(from: 0, to: subjects, by: chunk) {
            let ids = start..<min(start + chunk, subjects)
            try await store.openSessions(ids.map {
                SessionOpening(tenant: "bench", session: "s\($0)", channel: "web", identifiers: [.email("user\($0)@example.com")],
                               at: $0 % 2 == 0 ? old : recent)
            })
            var batch: [PendingMessage] = []
            for i in ids {
                for m in 0..<messagesPerSubject {
                    batch.append(PendingMessage(tenant: "bench", session: "s\(i)", role: m % 2 == 0 ? .customer : .bot, text: text,
                                                sentAt: i % 2 == 0 ? old : recent))
                }
            }
            _ = try await store.append(batch)
            bar.update(done: ids.upperBound, total: subjects)
        }
        for e in 0..<erasures {
            for s in 0..<2 {
                try await store.openSession(tenant: "bench", session: "e\(e)-\(s)", channel: "web", identifiers: [.email("target\(e)@example.com")], at: recent)
                _ = try await store.append((0..<50).map { m in
                    PendingMessage(tenant: "bench", session: "e\(e)-\(s)", role: m % 2 == 0 ? .customer : .agent, text: text, sentAt: recent)
                })
            }
        }
        bar.finish()
        try await store.checkpoint()
        let total = subjects * messagesPerSubject + erasures * 100
        print("loaded \(total) messages, \(subjects + erasures) subjects in \(seconds(ContinuousClock.now - loadStart)) s")

        // 2. Erasure latency.
        var latencies: [Double] = []
        var erased = 0
        for e in 0..<erasures {
            let t = ContinuousClock.now
            let outcome = try await compliance.erase(tenant: "bench", subject: .email("target\(e)@example.com"), requestID: "B-\(e)", actor: "bench", dryRun: false)
            latencies.append(Double((ContinuousClock.now - t).components.attoseconds) / 1e15 + Double((ContinuousClock.now - t).components.seconds) * 1000)
            if case .erased(let r) = outcome { erased += r.receipt.messagesErased }
        }
        latencies.sort()
        func pct(_ p: Double) -> String { String(format: "%.2f", latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) }
        print("erase one subject (≈100 messages, \(erasures) erasures, \(erased) messages): p50 \(pct(0.5)) ms, p99 \(pct(0.99)) ms, max \(String(format: "%.2f", latencies.last ?? 0)) ms  [target p50 ≤ 10, p99 ≤ 50]")

        // 3. Erasure epoch.
        let epochStart = ContinuousClock.now
        let report = try await compliance.runErasureEpoch(force: true, actor: "bench") {
            let id = MasterKeyFile.newKeyID()
            _ = try await store.rotateMasterKey(to: GuardedKey(randomCount: 32), id: id)
            return id
        }
        print("erasure epoch (\(report.tenants.first?.rewrapped ?? 0) subject keys re-wrapped, trim, master rotation): \(seconds(ContinuousClock.now - epochStart)) s  [target ≤ 10 s]")

        // 4. Retention sweep.
        let sweepStart = ContinuousClock.now
        let gaps = BatchGaps(start: sweepStart)
        let sweep = try await compliance.sweep(tenant: "bench", policy: .default, actor: "bench", dryRun: false) { _ in gaps.tick() }
        let elapsed = ContinuousClock.now - sweepStart
        let rate = Double(sweep.removed.messages) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        print("retention sweep: \(sweep.removed.messages) messages in \(sweep.removed.sessions) sessions in \(seconds(elapsed)) s = \(Int(rate)) messages/s  [target ≥ 20k/s]")
        print("  longest batch (one write transaction of 200 sessions, the longest a live write waits): \(String(format: "%.1f", gaps.longestMilliseconds)) ms")
    }

    func seconds(_ d: Duration) -> String {
        String(format: "%.2f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}

/// The longest time between two sweep progress calls (one batch each).
/// `@unchecked Sendable` is sound: `last` and `longest` are only touched under `lock`.
final class BatchGaps: @unchecked Sendable {
    private let lock = NSLock()
    private var last: ContinuousClock.Instant
    private var longest = Duration.zero
    init(start: ContinuousClock.Instant) { last = start }
    func tick() {
        lock.withLock {
            let now = ContinuousClock.now
            longest = max(longest, now - last)
            last = now
        }
    }
    var longestMilliseconds: Double {
        lock.withLock { Double(longest.components.seconds) * 1000 + Double(longest.components.attoseconds) / 1e15 }
    }
}
