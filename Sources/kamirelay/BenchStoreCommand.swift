import ArgumentParser
import CSodium
import Foundation
import Sealing
import TranscriptStore

struct BenchStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Sealed transcript store: writes/s, reads/s, rewrap subject-keys/s, and raw libsodium for comparison.",
        discussion: """
        Everything runs in one process, one run, on a fresh database in a temporary directory \
        (removed afterwards) under a random in-memory master key:
          1. raw libsodium XChaCha20-Poly1305 encrypt/decrypt of the same messages (random nonce \
             each, plain key buffer, 40-byte AAD) — the baseline;
          2. the sealed-record path alone (record header, context fingerprint, AAD, guarded \
             read-only subject key as the store keeps it), one call per message and batched;
          3. the store: messages spread over --sessions sessions, appended in batches of --batch \
             (one durable transaction each, synchronous=FULL, WAL) as the relay batches its writes;
          4. reading every session back (decrypt + verify);
          5. rotate, then rewrap --subjects subject keys (batches of 5000 per transaction).
        Build with `swift build -c release`; debug builds are many times slower.
        """)

    @Option(help: "Messages to write and read.") var messages = 100_000
    @Option(name: .customLong("message-bytes"), help: "Bytes per message (a typical chat line is 50-300).") var messageBytes = 200
    @Option(help: "Messages per write transaction.") var batch = 256
    @Option(help: "Sessions the messages are spread over.") var sessions = 1_000
    @Option(help: "Subject keys to rewrap.") var subjects = 100_000
    @Option(help: "Interleaved rounds of the crypto comparison (best of each is kept).") var rounds = 5

    func run() async throws {
        #if DEBUG
        Terminal.warn("this is a debug build; use `swift build -c release` for meaningful figures")
        #endif
        let dir = NSTemporaryDirectory() + "kamirelay-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        print("kamirelay bench store — libsodium \(Sodium.version), \(ProcessInfo.processInfo.activeProcessorCount) CPU(s)")
        print("messages \(messages) × \(messageBytes) B, \(sessions) sessions, batch \(batch), subjects \(subjects)")

        let text = String(repeating: "订单已完成，卡密请查收邮件 ok ", count: messageBytes / 20 + 1).utf8.prefix(messageBytes)
        let payload = [UInt8](text)
        let plain = String(decoding: payload, as: UTF8.self)

        // 1 and 2: raw libsodium against the sealed-record layer on the same messages. The rounds
        // are interleaved and the best of each kept, so a noisy neighbour hurts both alike.
        let rawKey = Sodium.randomBytes(32)
        let aadLen = 40  // about the size of our AAD, for a fair comparison
        let aad = Sodium.randomBytes(aadLen)
        var nonce = [UInt8](repeating: 0, count: 24)
        var box = [UInt8](repeating: 0, count: payload.count + 16)
        var opened = [UInt8](repeating: 0, count: payload.count)
        var clen: UInt64 = 0, mlen: UInt64 = 0
        var failures = 0
        // A subject key held as the store holds it (guarded memory, read-only between uses).
        let key = GuardedKey(randomCount: 32, access: .readOnly)
        let contexts = (0..<messages).map { RecordContext(tenant: "bench", session: "s\($0 % sessions)", sequence: UInt64($0 / sessions), role: .customer) }
        let sealBatches = stride(from: 0, to: messages, by: batch).map { start in
            (start..<min(start + batch, messages)).map { (plaintext: payload, context: contexts[$0]) }
        }
        let records = sealBatches.flatMap { SealedRecord.seal(batch: $0, keyID: 7, key: key) }
        let openBatches = stride(from: 0, to: messages, by: batch).map { start in
            (start..<min(start + batch, messages)).map { (record: records[$0], context: contexts[$0]) }
        }
        var rawSeal = Duration.seconds(1e9), rawOpen = rawSeal, single = rawSeal, singleOpen = rawSeal, batched = rawSeal, openBatched = rawSeal
        for _ in 0..<rounds {
            rawSeal = min(rawSeal, measure {
                for _ in 0..<messages {
                    randombytes_buf(&nonce, 24)
                    crypto_aead_xchacha20poly1305_ietf_encrypt(&box, &clen, payload, UInt64(payload.count), aad, UInt64(aadLen), nil, nonce, rawKey)
                }
            })
            rawOpen = min(rawOpen, measure {
                for _ in 0..<messages {
                    if crypto_aead_xchacha20poly1305_ietf_decrypt(&opened, &mlen, nil, box, UInt64(box.count), aad, UInt64(aadLen), nonce, rawKey) != 0 { failures += 1 }
                }
            })
            single = min(single, measure {
                for c in contexts { _ = SealedRecord.seal(payload, context: c, keyID: 7, key: key) }
            })
            singleOpen = min(singleOpen, measure {
                for i in 0..<messages where (try? SealedRecord.open(records[i], context: contexts[i], keyID: 7, key: key)) == nil { failures += 1 }
            })
            batched = min(batched, measure {
                for b in sealBatches { _ = SealedRecord.seal(batch: b, keyID: 7, key: key) }
            })
            openBatched = min(openBatched, measure {
                for b in openBatches {
                    for r in SealedRecord.open(batch: b, keyID: 7, key: key) { if case .failure = r { failures += 1 } }
                }
            })
        }
        precondition(failures == 0)

        // 3. Store writes.
        let store = try SQLiteTranscriptStore(path: dir + "/transcripts.sqlite",
                                              masterKeys: MasterKeyring(currentID: MasterKeyFile.newKeyID(), key: GuardedKey(randomCount: 32)))
        try await store.addTenant("bench")
        try await store.openSessions((0..<sessions).map {
            SessionOpening(tenant: "bench", session: "s\($0)", channel: "web", identifiers: [], at: Date())
        })
        let now = Date()
        let cpuBefore = processCPUSeconds()
        let writes = try await measureAsync {
            var i = 0
            while i < messages {
                let n = min(batch, messages - i)
                _ = try await store.append((i..<(i + n)).map {
                    PendingMessage(tenant: "bench", session: "s\($0 % sessions)", role: .customer, text: plain, sentAt: now)
                })
                i += n
            }
        }
        let writeCPU = processCPUSeconds() - cpuBefore
        // 4. Reads.
        var read = 0
        let reads = try await measureAsync {
            for s in 0..<sessions { read += try await store.transcript(tenant: "bench", session: "s\(s)").count }
        }
        precondition(read == messages)

        // 5. Rewrap.
        let setupStart = ContinuousClock.now
        var made = 0
        while made < subjects {
            let n = min(5_000, subjects - made)
            try await store.openSessions((made..<(made + n)).map {
                SessionOpening(tenant: "bench", session: "r\($0)", channel: "web", identifiers: [], at: now)
            })
            made += n
        }
        let setup = ContinuousClock.now - setupStart
        _ = try await store.rotateTenantKey(tenant: "bench")
        var rewrapped = 0
        let rewrap = try await measureAsync {
            rewrapped = try await store.rewrapSubjectKeys(tenant: "bench", batchSize: 5_000, progress: nil).rewrapped
        }
        // Also the pure-crypto part of rewrap, for the ratio.
        let oldK = GuardedKey(randomCount: 32), newK = GuardedKey(randomCount: 32)
        var items: [KeyWrap.RewrapItem] = []
        for i in 0..<min(subjects, 100_000) {
            let tag = UInt8(truncatingIfNeeded: i)
            let oldAAD: [UInt8] = [tag], newAAD: [UInt8] = [1, tag]
            items.append(KeyWrap.RewrapItem(wrapped: KeyWrap.wrap(key, with: oldK, aad: oldAAD), oldAAD: oldAAD, newAAD: newAAD))
        }
        let rewrapCrypto = measure { _ = KeyWrap.rewrap(items, from: oldK, to: newK) }

        func rate(_ n: Int, _ d: Duration) -> String {
            let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            let r = Double(n) / s
            return r >= 1e6 ? String(format: "%.2fM/s", r / 1e6) : String(format: "%.1fk/s", r / 1e3)
        }
        func secs(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        func mbps(_ n: Int, _ d: Duration) -> String { String(format: "%.0f MB/s", Double(n * messageBytes) / secs(d) / 1e6) }

        print("")
        print("raw libsodium XChaCha20-Poly1305 encrypt   \(rate(messages, rawSeal))  (\(mbps(messages, rawSeal)))")
        print("raw libsodium XChaCha20-Poly1305 decrypt   \(rate(messages, rawOpen))  (\(mbps(messages, rawOpen)))")
        func ratio(_ a: Duration, _ b: Duration) -> String { String(format: "%.2f", secs(a) / secs(b)) + "× raw" }
        print("sealed record, one call per message        \(rate(messages, single))  \(ratio(single, rawSeal))")
        print("sealed record, batches of \(batch)             \(rate(messages, batched))  \(ratio(batched, rawSeal))")
        print("opened record, one call per message        \(rate(messages, singleOpen))  \(ratio(singleOpen, rawOpen))")
        print("opened record, batches of \(batch)             \(rate(messages, openBatched))  \(ratio(openBatched, rawOpen))")
        print("  (crypto figures: best of \(rounds) interleaved rounds; store figures: one pass)")
        print("store: sealed writes (SQLite, durable)     \(rate(messages, writes))  (\(String(format: "%.2f", secs(writes))) s, \(messages / batch) transactions)")
        print("      CPU time of the write phase          \(String(format: "%.2f", writeCPU)) s (all threads) = \(String(format: "%.1fk", Double(messages) / writeCPU / 1e3)) messages per CPU-second")
        print("store: reads (decrypt + verify)            \(rate(messages, reads))")
        print("store: rewrap subject keys                 \(rate(rewrapped, rewrap))  (\(rewrapped) keys; setup \(String(format: "%.1f", secs(setup))) s)")
        print("rewrap crypto only (unwrap + wrap)         \(rate(items.count, rewrapCrypto))")
    }

    /// User + system CPU seconds of this process so far (all threads).
    func processCPUSeconds() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    func measure(_ body: () -> Void) -> Duration {
        let clock = ContinuousClock()
        return clock.measure(body)
    }

    func measureAsync(_ body: () async throws -> Void) async rethrows -> Duration {
        let start = ContinuousClock.now
        try await body()
        return ContinuousClock.now - start
    }
}
