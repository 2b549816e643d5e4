import ArgumentParser
import Foundation
import Redaction
import Sealing
import SupportBot
import SupportBotDemoStore
import SupportBotHTTPOrders

/// `kamirelay bot …`: try out and measure a tenant's knowledge base.
struct BotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bot",
        abstract: "Try out and measure the support bot on a tenant's knowledge base.",
        discussion: """
        The demo shop's knowledge base (tenant `demo`) is built in, so `--tenant demo` works \
        anywhere. For another shop, point `--kb` at its YAML file (same shape as \
        knowledge-base/demo.yaml in the source tree).
        """,
        subcommands: [BotClassifyCommand.self, BotTestCommand.self, BotChatCommand.self]
    )
}

/// Where the knowledge base comes from.
struct KnowledgeBaseOptions: ParsableArguments {
    @Option(help: "Tenant id. `demo` uses the built-in demo shop.")
    var tenant: String = DemoKnowledgeBase.tenant

    @Option(name: .customLong("kb"), help: ArgumentHelp("A knowledge-base YAML file (instead of the built-in demo).",
                                                        valueName: "file"))
    var knowledgeBaseFile: String?

    func load() throws -> KnowledgeBase {
        if let knowledgeBaseFile {
            let kb = try KnowledgeBase.load(path: knowledgeBaseFile)
            if kb.tenant != tenant, tenant != DemoKnowledgeBase.tenant {
                throw ValidationError("\(knowledgeBaseFile) is for tenant \(kb.tenant), not \(tenant)")
            }
            return kb
        }
        guard tenant == DemoKnowledgeBase.tenant else {
            throw ValidationError("no knowledge base for tenant \(tenant): pass --kb FILE (only `demo` is built in)")
        }
        return try KnowledgeBase.demo()
    }

    func model() throws -> BotModel {
        try model(of: load())
    }

    func model(of kb: KnowledgeBase) throws -> BotModel {
        let clock = ContinuousClock()
        var model: BotModel?
        let elapsed = clock.measure { model = BotModel(knowledgeBase: kb) }
        let examples = kb.intents.reduce(0) { $0 + $1.intent.zh.count + $1.intent.en.count }
        FileHandle.standardError.write(Data(
            "trained \(kb.intents.count) intents from \(examples) examples, \(kb.faq.count) FAQ entries in \(elapsed.formattedMilliseconds) (temperature \(String(format: "%.2f", model!.classifier.temperature)), out-of-scope below \(String(format: "%.3f", model!.intentThreshold)))\n".utf8))
        return model!
    }
}

struct BotClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify lines from standard input; print one JSON object per line.",
        discussion: """
        Output fields: language (zh/en/mixed), intent, confidence (calibrated probability of the \
        best intent), faq (best-ranked FAQ entry: id, cosine score, and whether it clears the \
        answer threshold; null when nothing matches), sentiment (anger, anxiety, 0–1). Input \
        should already be redacted text.
        """
    )

    @OptionGroup var knowledgeBase: KnowledgeBaseOptions

    func run() throws {
        let model = try knowledgeBase.model()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        while let line = readLine() {
            let analysis = model.analyze(line)
            let output = ClassifyOutput(
                language: analysis.language.rawValue, intent: analysis.intent,
                confidence: (analysis.confidence * 1000).rounded() / 1000,
                faq: analysis.faq.map { .init(id: $0.id, score: ($0.score * 1000).rounded() / 1000,
                                              answered: analysis.faqConfident) },
                sentiment: .init(anger: (analysis.sentiment.anger * 100).rounded() / 100,
                                 anxiety: (analysis.sentiment.anxiety * 100).rounded() / 100))
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
        }
    }

    struct ClassifyOutput: Encodable {
        struct FAQ: Encodable { var id: String; var score: Double; var answered: Bool }
        struct Mood: Encodable { var anger: Double; var anxiety: Double }
        var language: String
        var intent: String
        var confidence: Double
        var faq: FAQ?
        var sentiment: Mood

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(language, forKey: .language)
            try container.encode(intent, forKey: .intent)
            try container.encode(confidence, forKey: .confidence)
            try container.encode(faq, forKey: .faq)   // null when none, rather than absent
            try container.encode(sentiment, forKey: .sentiment)
        }
        enum CodingKeys: String, CodingKey { case language, intent, confidence, faq, sentiment }
    }
}

struct BotTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Measure the bot on a labelled file, next to a keyword-matching baseline.",
        discussion: """
        FILE has one utterance per line: intent<TAB>faq-id or -<TAB>text (# starts a comment). \
        Prints intent accuracy, out-of-scope recall, FAQ top-1, per-intent precision/recall and \
        the most frequent confusions. The baseline is plain keyword matching on the knowledge \
        base's `keywords` fields. The demo's held-out file is knowledge-base/demo-heldout.tsv.
        """
    )

    @OptionGroup var knowledgeBase: KnowledgeBaseOptions

    @Argument(help: "The labelled test file.")
    var file: String

    @Option(help: "How many confusion pairs to list.")
    var confusions: Int = 10

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read \(file)")
        }
        let utterances = try LabelledUtterance.parse(String(decoding: data, as: UTF8.self))
        let kb = try knowledgeBase.load()
        let model = try knowledgeBase.model(of: kb)
        let intents = kb.intents.map(\.name)
        let unknown = Set(utterances.map(\.intent)).subtracting(intents)
        if !unknown.isEmpty { throw ValidationError("\(file) uses intents the knowledge base lacks: \(unknown.sorted())") }

        let bot = Evaluation.evaluate(utterances, intents: intents, scored: Evaluation.system(model))
        let baselineSystem = KeywordBaseline(knowledgeBase: kb)
        let baseline = Evaluation.evaluate(utterances, intents: intents, system: { baselineSystem.classify($0) })

        print("\(utterances.count) utterances from \(file); \(bot.outOfScopeCount) out of scope, \(bot.faqCount) with an FAQ label")
        print("")
        print(pad("", 28) + pad("bot", 10) + "keyword baseline")
        func row(_ name: String, _ a: Double, _ b: Double) { print(pad(name, 28) + pad(percent(a), 10) + percent(b)) }
        row("intent accuracy", bot.intentAccuracy, baseline.intentAccuracy)
        row("out-of-scope recall", bot.outOfScopeRecall, baseline.outOfScopeRecall)
        row("FAQ top-1", bot.faqTop1, baseline.faqTop1)
        row("FAQ answered correctly", bot.faqAnsweredCorrectly, baseline.faqAnsweredCorrectly)
        if let ece = bot.calibrationError {
            print(pad("calibration error (ECE)", 28) + pad(String(format: "%.3f", ece), 10) + "-")
        }
        print("")
        print(pad("intent", 20) + pad("precision", 11) + pad("recall", 9) + "n")
        for entry in bot.perIntent where entry.support > 0 || entry.precision > 0 {
            print(pad(entry.intent, 20) + pad(percent(entry.precision), 11) + pad(percent(entry.recall), 9) + "\(entry.support)")
        }
        if !bot.confusions.isEmpty {
            print("")
            print("most frequent confusions (expected → predicted):")
            for confusion in bot.confusions.prefix(confusions) {
                print("  \(confusion.expected) → \(confusion.predicted): \(confusion.count)")
            }
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
}

struct BotChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with the bot in the terminal, through the full pipeline (redaction first).",
        discussion: """
        Each line you type is redacted (card keys, payment data, phones, e-mails → placeholders \
        and tokens) before the bot sees it, exactly as in the relay. For the demo tenant an \
        in-memory demo order store is seeded; a few of its orders are listed at start so you can \
        try look-ups, verification (send the order's e-mail) and re-sends. Type /quit to leave, \
        /reset for a new session.
        """
    )

    @OptionGroup var knowledgeBase: KnowledgeBaseOptions

    @Flag(help: "Show what the bot understood after each reply.")
    var debug = false

    @Option(help: ArgumentHelp("""
        The shop's order backend (HTTP JSON, see Docs/support-bot.md) instead of the demo store. \
        An auth header is read from the KAMIRELAY_ORDERS_AUTH environment variable \
        ("Name: value"), never from the command line.
        """, valueName: "url"))
    var ordersURL: String?

    func run() async throws {
        let model = try knowledgeBase.model()
        let hasher = BLAKE2bKeyedHasher.random()
        // Contacts are tokenised (not just masked) so the bot can verify a customer against an order.
        var policy = RedactionPolicy.default
        policy.rules[.email] = .init(action: .token)
        policy.rules[.phone] = .init(action: .token)
        let redactor = try Redactor(policy: policy, issuedKeys: nil, tokenizer: hasher)
        let orders: any OrderSource
        if let ordersURL {
            guard let url = URL(string: ordersURL), url.scheme == "https" || url.scheme == "http", url.host != nil else {
                throw ValidationError("--orders-url must be an http(s) URL")
            }
            var configuration = HTTPOrderSourceConfiguration(baseURL: url)
            if let auth = ProcessInfo.processInfo.environment["KAMIRELAY_ORDERS_AUTH"] {
                let parts = auth.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw ValidationError("KAMIRELAY_ORDERS_AUTH must look like \"Header-Name: value\"")
                }
                configuration.authHeader = (parts[0], parts[1])
            }
            orders = HTTPOrderSource(configuration: configuration)
        } else if model.knowledgeBase.tenant == DemoKnowledgeBase.tenant {
            let demo = DemoOrders.generate(now: Date())
            orders = try DemoOrderStore.seeded(orders: demo, tokenizer: RedactorContactTokenizer(redactor: redactor),
                                               keyHasher: hasher)
            print("Demo orders you can ask about (fake data):")
            var shown = Set<OrderStatus>()
            for order in demo where shown.insert(order.status).inserted {
                print("  \(order.number)  status \(order.status.rawValue)  \(order.email)")
            }
        } else {
            orders = NoOrderSource()
            print("No order source for tenant \(model.knowledgeBase.tenant): order look-ups will hand off.")
        }
        let bot = SupportBot(model: model, orders: orders)
        var session = BotSession()
        var redaction = RedactionSession(redactor: redactor)
        print("Type a message (中文 or English); /quit to leave, /reset for a new session.")
        while true {
            print("> ", terminator: "")
            guard let line = readLine() else { break }
            let input = line.trimmingCharacters(in: .whitespaces)
            if input.isEmpty { continue }
            if input == "/quit" { break }
            if input == "/reset" {
                session = BotSession()
                redaction = RedactionSession(redactor: redactor)
                print("(new session)")
                continue
            }
            let redacted = redaction.redact(input).text
            if debug, redacted != input { print("  redacted: \(redacted)") }
            let reply = await bot.respond(to: redacted, in: &session)
            print("bot: \(reply.text)")
            if debug {
                let a = reply.analysis
                let faq = a.faq.map { "\($0.id) \(String(format: "%.2f", $0.score))" } ?? "-"
                print("  [\(a.language.rawValue)] intent \(a.intent) \(String(format: "%.2f", a.confidence)), faq \(faq), anger \(String(format: "%.2f", a.sentiment.anger)), anxiety \(String(format: "%.2f", a.sentiment.anxiety))")
            }
            if let handoff = reply.handoff {
                print("  → handed off to an agent: reason \(handoff.reason.rawValue), priority \(handoff.priority)")
                print(handoff.summary.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            }
        }
    }
}

/// For tenants without an order source: every look-up fails cleanly, so the bot hands off.
struct NoOrderSource: OrderSource {
    func order(number: String) async throws(OrderSourceError) -> OrderSummary? {
        throw .unavailable(reason: "no order source configured")
    }
    func verify(number: String, contactToken: String) async throws(OrderSourceError) -> Bool {
        throw .unavailable(reason: "no order source configured")
    }
    func recentOrders(contactToken: String, limit: Int) async throws(OrderSourceError) -> [OrderSummary] {
        throw .unavailable(reason: "no order source configured")
    }
    func resendCardKeys(number: String) async throws(OrderSourceError) -> ResendReceipt {
        throw .unavailable(reason: "no order source configured")
    }
}

extension Duration {
    var formattedMilliseconds: String {
        let (seconds, attoseconds) = components
        return String(format: "%.1f ms", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }
}
