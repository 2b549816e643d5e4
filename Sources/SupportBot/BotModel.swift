import Foundation

/// What the bot understood from one message.
public struct Analysis: Sendable {
    public var language: Language
    public var replyLanguage: ReplyLanguage
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
        classifier = IntentClassifier.train(examples: examples, options: options)
        faqIndex = FAQIndex(variants: knowledgeBase.faq.map { entry in
            entry.questions.map { Featurizer.features(of: normalizer.normalize($0)) }
        })
        var products = PhraseMatcher<String>()
        for product in knowledgeBase.catalogue {
            for name in [product.name.zh, product.name.en] + (product.aliases ?? []) {
                let folded = normalizer.normalize(name).scalars
                products.add(String(String.UnicodeScalarView(folded)).trimmingCharacters(in: .whitespaces), product.id)
            }
        }
        self.products = products
        intentThreshold = knowledgeBase.thresholds?.intent ?? 0.45
        faqThreshold = knowledgeBase.thresholds?.faq ?? 0.4
    }

    public func analyze(_ text: String) -> Analysis {
        let normalized = normalizer.normalize(text)
        let features = Featurizer.features(of: normalized)
        let prediction = classifier.predict(features)
        let best = prediction.best
        let intent = resolveIntent(best, normalized)
        let faq = bestFAQ(features, intent: intent)
        return Analysis(
            language: normalized.language, replyLanguage: normalized.replyLanguage,
            intent: intent, confidence: best.probability, rankedIntents: Array(prediction.ranked.prefix(3)),
            faq: faq, faqConfident: (faq?.score ?? 0) >= faqThreshold,
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

    /// Entries are ranked by cosine score, with a small preference for entries of the predicted
    /// intent (the classifier has seen more examples than the FAQ has question variants).
    private func bestFAQ(_ features: [UInt64], intent: String) -> (id: String, score: Double)? {
        let candidates = faqIndex.search(features, limit: 5)
        let ranked = candidates.map { candidate -> (Int, Double, Double) in
            let entry = knowledgeBase.faq[candidate.entry]
            let bonus = entry.intent == intent && intent != "out_of_scope" ? 0.08 : 0
            return (candidate.entry, candidate.score, candidate.score + bonus)
        }.max { $0.2 != $1.2 ? $0.2 < $1.2 : $0.0 > $1.0 }
        guard let (entry, score, _) = ranked else { return nil }
        return (knowledgeBase.faq[entry].id, score)
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
