import ArgumentParser
import Foundation
import SupportBot

/// `kamirelay bench bot`: start-up training time and per-message classify + retrieve latency.
struct BenchBotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bot",
        abstract: "Support-bot training time and classify + FAQ-retrieve latency per message.",
        discussion: """
        Builds a knowledge base of --utterances intent examples (the demo shop's, grown with \
        systematic prefix/suffix variants) whose FAQ has as many question variants, trains it \
        (timed, median of --trainings runs), then times BotModel.analyze — normalisation, \
        language detection, intent classification, FAQ ranking, sentiment and slots — on each \
        message of a query set, one call at a time on one thread. Use a release build: \
        swift build -c release && .build/release/kamirelay bench bot
        """
    )

    @Option(help: "Intent example utterances (and FAQ question variants) in the benchmark knowledge base.")
    var utterances: Int = 1_000

    @Option(help: "Timed classify calls.")
    var messages: Int = 20_000

    @Option(help: "Training runs to time.")
    var trainings: Int = 3

    func run() throws {
        #if DEBUG
        print("warning: debug build; figures are not representative (swift build -c release)")
        #endif
        let base = try KnowledgeBase.demo()
        let kb = Self.grow(base, to: utterances)
        let exampleCount = kb.intents.reduce(0) { $0 + $1.intent.zh.count + $1.intent.en.count }
        let faqVariants = kb.faq.reduce(0) { $0 + $1.questions.count }
        print("knowledge base: \(kb.intents.count) intents, \(exampleCount) example utterances, \(kb.faq.count) FAQ entries with \(faqVariants) question variants")

        let clock = ContinuousClock()
        var trainingTimes: [Duration] = []
        var model: BotModel?
        for run in 1...max(1, trainings) {
            let elapsed = clock.measure { model = BotModel(knowledgeBase: kb) }
            trainingTimes.append(elapsed)
            print("training run \(run)/\(trainings): \(elapsed.formattedMilliseconds)")
        }
        trainingTimes.sort()
        print("start-up training: median \(trainingTimes[trainingTimes.count / 2].formattedMilliseconds) (includes \(IntentClassifier.Options().calibrationFolds)-fold calibration)")

        // Queries: every example and FAQ question with light edits (a typo, a placeholder, an
        // order number), so the query text is not identical to the indexed text.
        var queries: [String] = []
        var random = DeterministicRandom(seed: 99)
        let texts = kb.intents.flatMap { $0.intent.zh + $0.intent.en } + kb.faq.flatMap(\.questions)
        for (index, text) in texts.enumerated() {
            switch index % 4 {
            case 0: queries.append(text)
            case 1: queries.append(text + " 订单 E7ZK3QX9M2PLA1B4")
            case 2: queries.append("[EMAIL:3f9a1c] " + String(text.dropLast()))
            default: queries.append(text + "??")
            }
        }
        random.shuffle(&queries)
        guard let model else { return }
        for query in queries.prefix(1_000) { _ = model.analyze(query) }   // warm-up

        var samples: [Int64] = []
        samples.reserveCapacity(messages)
        var sink = 0
        let progressStep = max(1, messages / 10)
        for i in 0..<messages {
            let query = queries[i % queries.count]
            let start = clock.now
            let analysis = model.analyze(query)
            let elapsed = clock.now - start
            sink &+= analysis.intent.utf8.count
            let (seconds, attoseconds) = elapsed.components
            samples.append(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            if (i + 1) % progressStep == 0 {
                FileHandle.standardError.write(Data("\r  \((i + 1) * 100 / messages)%".utf8))
            }
        }
        FileHandle.standardError.write(Data("\r".utf8))
        samples.sort()
        func percentile(_ p: Double) -> String {
            let index = min(samples.count - 1, Int((Double(samples.count) * p).rounded(.up)) - 1)
            return String(format: "%.1f µs", Double(samples[max(0, index)]) / 1000)
        }
        let mean = Double(samples.reduce(0, +)) / Double(samples.count) / 1000
        print("classify + retrieve, \(samples.count) messages (\(queries.count) distinct), one thread:")
        print("  p50 \(percentile(0.50))  p90 \(percentile(0.90))  p99 \(percentile(0.99))  p99.9 \(percentile(0.999))  max \(percentile(1.0))")
        print(String(format: "  mean %.1f µs  (%.0f messages/s)", mean, 1_000_000 / mean))
        if sink == 0 { print("") }   // keeps the calls from being optimised away
    }

    /// The demo knowledge base grown to `target` intent examples and about as many FAQ
    /// question variants, by wrapping existing ones in common openers and closers.
    static func grow(_ base: KnowledgeBase, to target: Int) -> KnowledgeBase {
        var kb = base
        let zhWraps = [("请问", ""), ("你好，", ""), ("", "呢"), ("麻烦", "一下"), ("", "？急"), ("那个", ""), ("亲，", ""), ("", "谢谢")]
        let enWraps = [("hi, ", ""), ("", " please"), ("hello ", "?"), ("excuse me, ", ""), ("", " thanks"), ("so ", "")]
        var round = 0
        var count = kb.intents.reduce(0) { $0 + $1.intent.zh.count + $1.intent.en.count }
        let originals = kb.intents
        while count < target, round < zhWraps.count {
            for index in kb.intents.indices where count < target {
                let (zh, en) = (originals[index].intent.zh, originals[index].intent.en)
                for text in zh where count < target {
                    kb.intents[index].intent.zh.append(zhWraps[round].0 + text + zhWraps[round].1)
                    count += 1
                }
                for text in en where count < target {
                    let wrap = enWraps[round % enWraps.count]
                    kb.intents[index].intent.en.append(wrap.0 + text + wrap.1)
                    count += 1
                }
            }
            round += 1
        }
        var variants = kb.faq.reduce(0) { $0 + $1.questions.count }
        let faqOriginals = kb.faq.map(\.questions)
        round = 0
        while variants < target, round < zhWraps.count {
            for index in kb.faq.indices where variants < target {
                for text in faqOriginals[index] where variants < target {
                    let wrap = text.unicodeScalars.contains { $0.properties.isIdeographic }
                        ? zhWraps[round] : enWraps[round % enWraps.count]
                    kb.faq[index].questions.append(wrap.0 + text + wrap.1)
                    variants += 1
                }
            }
            round += 1
        }
        return kb
    }
}
