import ArgumentParser
import Foundation
import PolicyFiles
import Redaction
import Sealing

struct BenchRedactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact",
        abstract: "Redactor throughput (MB/s, messages/s) and per-message latency (p50/p99), single thread.",
        discussion: """
        Generates a deterministic mixed Chinese/English chat corpus of messages of about --bytes \
        UTF-8 bytes each (a third carry a secret: phones, card numbers, card keys, e-mails, \
        IDs, obfuscated forms), warms up, then redacts it --rounds times on one thread with the \
        built-in default policy and 1,000 issued keys. Build with -c release:
          swift run -c release kamirelay bench redact
        """
    )

    @Option(help: "Messages in the generated corpus.") var messages = 20_000
    @Option(help: "Target size of one message in UTF-8 bytes.") var bytes = 200
    @Option(help: "Timed passes over the corpus.") var rounds = 5

    func run() throws {
        var rng = SplitMix64(seed: 0x6B61_6D69)
        let corpus = (0..<messages).map { _ in BenchCorpus.message(targetBytes: bytes, rng: &rng) }
        let totalBytes = corpus.reduce(0) { $0 + $1.utf8.count }
        let withSecret = corpus.filter { BenchCorpus.hasPlantedSecret($0) }.count
        let hasher = BLAKE2bKeyedHasher.random()
        let issued = IssuedKeySet(keys: (0..<1000).map { _ in BenchCorpus.randomKey(&rng) }, hasher: hasher)
        let redactor = try Redactor(policy: RedactionPolicyFile.builtInDefault, issuedKeys: issued, tokenizer: hasher)

        // Warm-up pass (caches, lazy statics).
        var findings = 0
        for m in corpus { findings += redactor.redact(m).findings.count }

        var samples: [UInt64] = []
        samples.reserveCapacity(corpus.count * rounds)
        let clock = ContinuousClock()
        var total = Duration.zero
        for _ in 0..<rounds {
            for m in corpus {
                let t0 = clock.now
                let r = redactor.redact(m)
                let dt = clock.now - t0
                findings &+= r.findings.count
                total += dt
                samples.append(UInt64(dt.components.attoseconds / 1_000_000_000) + UInt64(dt.components.seconds) * 1_000_000_000)
            }
        }
        // Throughput without per-message clock reads; thread CPU time too, because on a shared
        // machine wall time also counts the time other processes held the core.
        let cpu0 = threadCPUSeconds()
        let t0 = clock.now
        for _ in 0..<rounds { for m in corpus { findings &+= redactor.redact(m).findings.count } }
        let bulk = clock.now - t0
        let cpuSeconds = threadCPUSeconds() - cpu0
        samples.sort()
        func pct(_ p: Double) -> Double { Double(samples[min(samples.count - 1, Int(Double(samples.count) * p))]) / 1000 }
        let seconds = Double(bulk.components.seconds) + Double(bulk.components.attoseconds) / 1e18
        let mbps = Double(totalBytes * rounds) / seconds / 1_000_000
        let mps = Double(corpus.count * rounds) / seconds
        let cpuMBps = Double(totalBytes * rounds) / cpuSeconds / 1_000_000
        let cpuMps = Double(corpus.count * rounds) / cpuSeconds
        print("""
        kamirelay bench redact — single thread, built-in default policy, 1,000 issued keys
        corpus: \(corpus.count) generated messages, \(totalBytes) bytes (mean \(totalBytes / corpus.count) B), \(withSecret) with a planted secret
        method: \(rounds) timed passes after one warm-up pass; throughput from an untimed-per-message loop,
                latency from ContinuousClock around each redact() call (includes ~20-40 ns clock overhead)
        throughput (wall clock): \(String(format: "%.1f", mbps)) MB/s, \(String(format: "%.0f", mps)) messages/s
        throughput (thread CPU time): \(String(format: "%.1f", cpuMBps)) MB/s, \(String(format: "%.0f", cpuMps)) messages/s, mean \(String(format: "%.2f", cpuSeconds / Double(corpus.count * rounds) * 1e6)) µs/message
        latency per message: p50 \(String(format: "%.2f", pct(0.50))) µs, p99 \(String(format: "%.2f", pct(0.99))) µs, p99.9 \(String(format: "%.2f", pct(0.999))) µs, max \(String(format: "%.1f", Double(samples.last ?? 0) / 1000)) µs
        findings per pass: \(findings / (2 * rounds + 1))
        targets (issue #2): ≥ 50 MB/s and p99 ≤ 50 µs for a 200-byte message
        """)
    }
}

/// CPU time consumed by the calling thread.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A small deterministic PRNG (SplitMix64) so benchmark corpora are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The benchmark's generated chat corpus.
enum BenchCorpus {
    static let zhFiller = ["你好，我昨天在你们店里买了一张游戏充值卡，", "付款已经成功了但是一直没有收到卡密，", "麻烦帮我查一下订单状态好吗，",
                           "这个兑换码提示已经被使用过了，", "请问可以退款吗？我等了很久了。", "客服在吗？急用，谢谢！",
                           "我用的是支付宝付款的，", "邮箱填错了怎么办，", "能不能开发票，", "你们几点上班啊，"]
    static let enFiller = ["Hi, I bought a gift card from your shop yesterday, ", "the payment went through but I never got the key, ",
                           "could you check my order please? ", "the code says it was already redeemed. ", "Can I get a refund? ",
                           "I paid with Alipay and it shows unpaid, ", "thanks for your help! "]
    static let secrets: [String] = [
        "我的手机13812345678", "卡密ABCD-1234-EFGH-5678", "card 4111 1111 1111 1111",
        "邮箱 foo.bar@example.com", "身份证11010119900307451X", "电话 1三8 一2三4 ５６７８",
        "验证码 482913", "订单号 Q7W8E9R0T1Y2U3I4", "交易号2024050822001412345678901234",
        "the cvv is 123", "+44 20 7946 0958", "key X7K2M-9PQ4R-T8V3W",
    ]
    static let marker = "\u{2063}"  // invisible separator: marks planted messages for counting only

    static func message(targetBytes: Int, rng: inout SplitMix64) -> String {
        let english = rng.next() % 4 == 0
        let filler = english ? enFiller : zhFiller
        var s = ""
        let plant = rng.next() % 3 == 0
        let plantAt = Int(rng.next() % 3)
        var i = 0
        while s.utf8.count < targetBytes - 20 {
            if plant && i == plantAt { s += secrets[Int(rng.next() % UInt64(secrets.count))] + (english ? " " : "，") }
            s += filler[Int(rng.next() % UInt64(filler.count))]
            i += 1
        }
        return plant ? s + marker : s
    }

    static func hasPlantedSecret(_ s: String) -> Bool { s.hasSuffix(marker) }

    static func randomKey(_ rng: inout SplitMix64) -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return String((0..<16).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
    }
}
