import Foundation

/// One labelled test utterance: `intent<TAB>faq-id or -<TAB>text`.
public struct LabelledUtterance: Sendable, Hashable {
    public var intent: String
    /// The FAQ entry that should answer it, if any.
    public var faq: String?
    public var text: String

    public init(intent: String, faq: String?, text: String) {
        self.intent = intent
        self.faq = faq
        self.text = text
    }

    public enum ParseError: Error, Sendable, CustomStringConvertible {
        case badLine(number: Int)
        public var description: String {
            switch self {
            case .badLine(let number):
                return "line \(number): expected intent<TAB>faq-id or -<TAB>text"
            }
        }
    }

    /// Parses a labelled file (`#` comments and blank lines are skipped).
    public static func parse(_ text: String) throws(ParseError) -> [LabelledUtterance] {
        var result: [LabelledUtterance] = []
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, !fields[0].isEmpty, !fields[2].isEmpty else { throw .badLine(number: offset + 1) }
            let faq = fields[1].trimmingCharacters(in: .whitespaces)
            result.append(LabelledUtterance(intent: String(fields[0]), faq: faq == "-" || faq.isEmpty ? nil : faq,
                                            text: String(fields[2])))
        }
        return result
    }
}

/// Accuracy figures for one system on a labelled file.
public struct EvaluationReport: Sendable {
    public struct PerIntent: Sendable {
        public var intent: String
        public var precision: Double
        public var recall: Double
        public var support: Int
    }

    public var total: Int
    public var intentAccuracy: Double
    public var outOfScopeRecall: Double
    public var outOfScopeCount: Int
    /// Share of FAQ-labelled utterances whose best-ranked entry is the right one.
    public var faqTop1: Double
    /// Share of FAQ-labelled utterances answered with the right entry above the threshold.
    public var faqAnsweredCorrectly: Double
    public var faqCount: Int
    public var perIntent: [PerIntent]
    /// (expected, predicted, count), most frequent first.
    public var confusions: [(expected: String, predicted: String, count: Int)]
    /// Expected calibration error of the reported confidence (10 equal-width bins; 0 = perfectly
    /// calibrated), for systems that report one.
    public var calibrationError: Double?
}

/// Runs a labelled file through a classifier and FAQ ranker.
public enum Evaluation {
    public typealias System = @Sendable (String) -> (intent: String, faq: String?, faqConfident: Bool)
    /// A system that also reports its confidence in the intent (the classifier's best label and
    /// its probability, before out-of-scope detection), for the calibration error.
    public typealias ScoredSystem = @Sendable (String) -> (intent: String, faq: String?, faqConfident: Bool,
                                                           label: String, confidence: Double)

    public static func evaluate(_ utterances: [LabelledUtterance], intents: [String], system: System) -> EvaluationReport {
        evaluate(utterances, intents: intents, scored: { text in
            let r = system(text)
            return (r.intent, r.faq, r.faqConfident, r.intent, -1)
        })
    }

    public static func evaluate(_ utterances: [LabelledUtterance], intents: [String], scored system: ScoredSystem) -> EvaluationReport {
        var bins = [(count: Int, confidence: Double, correct: Int)](repeating: (0, 0, 0), count: 10)
        var scored = true
        var correct = 0
        var oosTotal = 0, oosCaught = 0
        var faqTotal = 0, faqTop = 0, faqAnswered = 0
        var truePositive: [String: Int] = [:], predicted: [String: Int] = [:], actual: [String: Int] = [:]
        var confusion: [String: Int] = [:]
        for utterance in utterances {
            let result = system(utterance.text)
            if result.confidence < 0 {
                scored = false
            } else {
                let bin = min(9, Int(result.confidence * 10))
                bins[bin].count += 1
                bins[bin].confidence += result.confidence
                if result.label == utterance.intent { bins[bin].correct += 1 }
            }
            actual[utterance.intent, default: 0] += 1
            predicted[result.intent, default: 0] += 1
            if result.intent == utterance.intent {
                correct += 1
                truePositive[utterance.intent, default: 0] += 1
            } else {
                confusion["\(utterance.intent)\t\(result.intent)", default: 0] += 1
            }
            if utterance.intent == "out_of_scope" {
                oosTotal += 1
                if result.intent == "out_of_scope" { oosCaught += 1 }
            }
            if let faq = utterance.faq {
                faqTotal += 1
                if result.faq == faq {
                    faqTop += 1
                    if result.faqConfident { faqAnswered += 1 }
                }
            }
        }
        func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }
        let perIntent = intents.map { intent in
            EvaluationReport.PerIntent(intent: intent, precision: ratio(truePositive[intent] ?? 0, predicted[intent] ?? 0),
                                       recall: ratio(truePositive[intent] ?? 0, actual[intent] ?? 0),
                                       support: actual[intent] ?? 0)
        }
        let confusions = confusion.map { key, count -> (String, String, Int) in
            let parts = key.split(separator: "\t").map(String.init)
            return (parts[0], parts[1], count)
        }.sorted { $0.2 != $1.2 ? $0.2 > $1.2 : ($0.0, $0.1) < ($1.0, $1.1) }
        return EvaluationReport(total: utterances.count, intentAccuracy: ratio(correct, utterances.count),
                                outOfScopeRecall: ratio(oosCaught, oosTotal), outOfScopeCount: oosTotal,
                                faqTop1: ratio(faqTop, faqTotal), faqAnsweredCorrectly: ratio(faqAnswered, faqTotal),
                                faqCount: faqTotal, perIntent: perIntent,
                                confusions: confusions.map { (expected: $0.0, predicted: $0.1, count: $0.2) },
                                calibrationError: scored ? bins.reduce(0) { total, bin in
                                    guard bin.count > 0 else { return total }
                                    let gap = abs(bin.confidence / Double(bin.count) - Double(bin.correct) / Double(bin.count))
                                    return total + gap * Double(bin.count) / Double(utterances.count)
                                } : nil)
    }

    /// The trained bot as an evaluation system.
    public static func system(_ model: BotModel) -> ScoredSystem {
        { text in
            let analysis = model.analyze(text)
            let best = analysis.rankedIntents[0]
            return (analysis.intent, analysis.faq?.id, analysis.faqConfident, best.label, best.probability)
        }
    }
}

/// The "keyword bot" baseline: lower-cased substring matching of hand-written keywords (the
/// `keywords` fields of the knowledge base), no synonyms, no traditional-Chinese mapping, no
/// statistics. The intent with the most matching keywords wins; none → out of scope.
public struct KeywordBaseline: Sendable {
    private let intents: [(name: String, keywords: [String])]
    private let faq: [(id: String, keywords: [String])]

    public init(knowledgeBase: KnowledgeBase) {
        intents = knowledgeBase.intents.compactMap { name, intent in
            intent.keywords.map { (name, $0.map { $0.lowercased() }) }
        }
        faq = knowledgeBase.faq.compactMap { entry in entry.keywords.map { (entry.id, $0.map { $0.lowercased() }) } }
    }

    public func classify(_ text: String) -> (intent: String, faq: String?, faqConfident: Bool) {
        let lowered = text.lowercased()
        func best(_ candidates: [(String, [String])]) -> String? {
            var winner: (String, Int)?
            for (name, keywords) in candidates {
                let hits = keywords.filter { lowered.contains($0) }.count
                if hits > 0, hits > (winner?.1 ?? 0) { winner = (name, hits) }
            }
            return winner?.0
        }
        let intent = best(intents) ?? "out_of_scope"
        let entry = best(faq)
        return (intent, entry, entry != nil)
    }
}
