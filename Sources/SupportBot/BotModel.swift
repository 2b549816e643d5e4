import Foundation

/// What the bot understood from one message.
public struct Analysis: Sendable {
    public var language: Language
    public var replyLanguage: ReplyLanguage
    /// False when the message has no words to tell the language by (a bare order number, a
    /// placeholder, "!!!"): the session keeps replying in the language it was using.
    public var hasLanguageSignal: Bool
    /// The intent after out-of-scope detection (`out_of_scope` when unsure).
    public var intent: String
    /// The calibrated probability of the classifier's best intent.
    public var confidence: Double
    /// The classifier's best three intents, before out-of-scope detection.
    public var rankedIntents: [(label: String, probability: Double)]
    /// The best FAQ entry and its cosine score, whether or not it clears the threshold.
    public var faq: (id: String, score: Double)?
    /// True when the FAQ score clears the tenant's threshold.
    public var faqConfident: Bool
    public var sentiment: Sentiment
    public var slots: Slots
    /// The normalised text, for debugging (`bot chat --debug`).
    public var normalized: String
}

/// Values extracted from a message.
public struct Slots: Sendable, Hashable {
    public var orderNumbers: [String] = []
    /// `[EMAIL:…]` / `[PHONE:…]` tokens: usable to verify an order.
    public var contactTokens: [String] = []
    /// True when a contact arrived masked (`[EMAIL]`), which cannot be compared with anything.
    public var maskedContact = false
    /// `[TRANSACTION_NUMBER:…]` tokens or masks: a payment reference for an agent.
    public var transactionReferences: [String] = []
    /// Amounts in fen (分).
    public var amountsCents: [Int] = []
    /// Catalogue product ids mentioned.
    public var products: [String] = []
    /// True when the message carried a card key or payment secret (now masked): the customer
    /// should be told not to send those.
    public var sentSecret = false
}

/// A tenant's trained bot: normaliser, intent classifier, FAQ index, sentiment lexicon.
/// Immutable and `Sendable`; build once per tenant (training takes milliseconds) and share.
public struct BotModel: Sendable {
    public let knowledgeBase: KnowledgeBase
    public let normalizer: Normalizer
    public let classifier: IntentClassifier
    let faqIndex: FAQIndex
    let sentiment = SentimentAnalyzer()
    let products: PhraseMatcher<String>
    /// Each intent's first FAQ entry (its general answer).
    let primaryEntry: [String: Int]
    public let intentThreshold: Double
    public let faqThreshold: Double

    public init(knowledgeBase: KnowledgeBase, options: IntentClassifier.Options = .init()) {
        self.knowledgeBase = knowledgeBase
        let normalizer = Normalizer(orderNumberFormat: knowledgeBase.orderNumberFormat,
                                    synonymGroups: knowledgeBase.synonyms)
        self.normalizer = normalizer
        var examples: [(features: [UInt64], label: String)] = []
        for (name, intent) in knowledgeBase.intents {
            for utterance in intent.zh + intent.en {
                examples.append((Featurizer.features(of: normalizer.normalize(utterance)), name))
            }
        }
        classifier = IntentClassifier.train(examples: examples, outOfScopeLabel: "out_of_scope", options: options)
        faqIndex = FAQIndex(variants: knowledgeBase.faq.map { entry in
            entry.questions.map { Featurizer.features(of: normalizer.normalize($0)) }
        })
        var primary: [String: Int] = [:]
        for (index, entry) in knowledgeBase.faq.enumerated() {
            if let intent = entry.intent, primary[intent] == nil { primary[intent] = index }
        }
        primaryEntry = primary
        var products = PhraseMatcher<String>()
        for product in knowledgeBase.catalogue {
            for name in [product.name.zh, product.name.en] + (product.aliases ?? []) {
                let folded = normalizer.normalize(name).scalars
                products.add(String(String.UnicodeScalarView(folded)).trimmingCharacters(in: .whitespaces), product.id)
            }
        }
        self.products = products
        // The tenant's threshold if it sets one, else the one cross-validation picked.
        intentThreshold = knowledgeBase.thresholds?.intent ?? classifier.suggestedThreshold ?? 0.45
        faqThreshold = knowledgeBase.thresholds?.faq ?? 0.4
    }

    public func analyze(_ text: String) -> Analysis {
        let normalized = normalizer.normalize(text)
        let features = Featurizer.features(of: normalized)
        let prediction = classifier.predict(features)
        let best = prediction.best
        let intent = resolveIntent(best, normalized)
        let faq = bestFAQ(features, prediction: prediction)
        // Answer above the threshold; or when the entry belongs to the intent the classifier is
        // sure about and either clears half the threshold or is that intent's general answer
        // (its first entry): two independent signals agree.
        var faqConfident = (faq?.score ?? 0) >= faqThreshold
        if let faq, !faqConfident, best.probability >= 0.6,
           let index = knowledgeBase.faq.firstIndex(where: { $0.id == faq.id }), knowledgeBase.faq[index].intent == intent,
           faq.score >= faqThreshold / 2 || primaryEntry[intent] == index {
            faqConfident = true
        }
        return Analysis(
            language: normalized.language, replyLanguage: normalized.replyLanguage,
            hasLanguageSignal: normalized.hanCount > 0 || normalized.latinWordCount > 0,
            intent: intent, confidence: best.probability, rankedIntents: Array(prediction.ranked.prefix(3)),
            faq: faq, faqConfident: faqConfident,
            sentiment: sentiment.analyze(normalized, original: text),
            slots: slots(normalized, original: text), normalized: normalized.debugDescription)
    }

    /// The classifier's intent only (no FAQ, sentiment or slots): for evaluation.
    public func classify(_ text: String) -> (intent: String, confidence: Double) {
        let normalized = normalizer.normalize(text)
        let best = classifier.predict(Featurizer.features(of: normalized)).best
        return (resolveIntent(best, normalized), best.probability)
    }

    /// Out-of-scope below the threshold — except that a message carrying an order number and
    /// little else is a status question.
    private func resolveIntent(_ best: (label: String, probability: Double), _ normalized: NormalizedText) -> String {
        let intent = best.probability >= intentThreshold ? best.label : "out_of_scope"
        if intent == "out_of_scope", !normalized.orderNumbers.isEmpty { return "order_status" }
        return intent
    }

    /// Entries are ranked by cosine score plus the classifier's probability for the entry's
    /// intent (the classifier has seen far more examples than the FAQ has question variants), with
    /// a nudge towards each intent's first-listed entry, which is its general answer.
    private func bestFAQ(_ features: [UInt64], prediction: IntentClassifier.Prediction) -> (id: String, score: Double)? {
        var cosine: [Int: Double] = [:]
        for candidate in faqIndex.search(features, limit: faqIndex.entryCount) { cosine[candidate.entry] = candidate.score }
        var probability: [String: Double] = [:]
        for (label, p) in prediction.ranked { probability[label] = p }
        var candidates = Set(cosine.keys)
        if let primary = primaryEntry[prediction.best.label] { candidates.insert(primary) }
        var best: (entry: Int, score: Double, rank: Double)?
        for entry in candidates.sorted() {
            let score = cosine[entry] ?? 0
            let intent = knowledgeBase.faq[entry].intent
            var rank = score
            if let intent, intent != "out_of_scope" {
                rank += 0.3 * (probability[intent] ?? 0)
                if primaryEntry[intent] == entry { rank += 0.05 }
            }
            if rank > (best?.rank ?? 0) { best = (entry, score, rank) }
        }
        guard let best else { return nil }
        return (knowledgeBase.faq[best.entry].id, best.score)
    }

    private func slots(_ normalized: NormalizedText, original: String) -> Slots {
        var slots = Slots()
        slots.orderNumbers = normalized.orderNumbers
        for placeholder in normalized.placeholders {
            switch placeholder.kind {
            case .email, .phone:
                if placeholder.isToken { slots.contactTokens.append(placeholder.text) } else { slots.maskedContact = true }
            case .transactionNumber:
                slots.transactionReferences.append(placeholder.text)
            case .cardKey, .paymentCard, .bankAccount, .cvv, .cardExpiry, .pin, .oneTimeCode, .paymentCode:
                slots.sentSecret = true
            case .cnResidentID, .orderNumber, .other:
                break
            }
        }
        slots.products = Array(Set(products.matches(in: normalized.scalars).map(\.payload))).sorted()
        slots.amountsCents = Self.amounts(in: original)
        return slots
    }

    /// Amounts written as `50元`, `50 块`, `¥50`, `50 RMB`, `$5.99`, `5 USD`.
    static func amounts(in text: String) -> [Int] {
        let scalars = Array(text.precomposedStringWithCompatibilityMapping.unicodeScalars)
        var amounts: [Int] = []
        var index = 0
        while index < scalars.count {
            guard scalars[index].isASCIIDigit else { index += 1; continue }
            var end = index
            while end < scalars.count, scalars[end].isASCIIDigit || scalars[end] == "." { end += 1 }
            let number = String(String.UnicodeScalarView(scalars[index..<end]))
            var before = index - 1
            while before >= 0, scalars[before] == " " { before -= 1 }
            var after = end
            while after < scalars.count, scalars[after] == " " { after += 1 }
            let prefix = before >= 0 ? scalars[before] : " "
            let suffix = String(String.UnicodeScalarView(scalars[after..<min(after + 3, scalars.count)])).lowercased()
            let isAmount = prefix == "¥" || prefix == "$" || prefix == "￥"
                || ["元", "块", "圆"].contains(where: suffix.hasPrefix)
                || ["rmb", "cny", "usd"].contains(where: suffix.hasPrefix)
            if isAmount, let value = Double(number), value < 1_000_000 {
                amounts.append(Int((value * 100).rounded()))
            }
            index = end
        }
        return amounts
    }
}
