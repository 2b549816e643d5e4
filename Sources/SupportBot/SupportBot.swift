import Foundation

/// What the bot did besides talking.
public enum BotAction: Sendable, Hashable {
    case askedForOrderNumber
    case askedForContact
    case verifiedContact(order: String)
    case resentCardKeys(ResendReceipt)
    case askedForTransactionNumber
}

/// The bot's answer to one message.
public struct BotReply: Sendable {
    public var text: String
    public var language: ReplyLanguage
    public var analysis: Analysis
    /// FAQ entry answered, if the reply is an FAQ answer.
    public var faqAnswered: String?
    /// Set when the bot hands the session to a human agent on this turn.
    public var handoff: Handoff?
    public var actions: [BotAction]
}

/// The support bot: understands a redacted message, runs the dialogue (slot filling, order
/// look-ups with verification before disclosure), and decides when to hand over to a human.
///
/// It never writes a card key into chat: it never receives one from the ``OrderSource``, and a
/// final guard removes anything shaped like a key that the customer did not send themselves.
public struct SupportBot: Sendable {
    public let model: BotModel
    public let orders: any OrderSource
    /// How long a question the bot asked stays open.
    public let slotTimeout: TimeInterval

    public init(model: BotModel, orders: any OrderSource) {
        self.model = model
        self.orders = orders
        slotTimeout = (model.knowledgeBase.thresholds?.slotTimeoutMinutes ?? 10) * 60
    }

    static let orderIntents: Set<String> = [
        "order_status", "card_not_received", "card_invalid", "recharge_failed", "refund", "cancel_order", "payment_issue",
    ]
    static let smallTalk: Set<String> = ["greeting", "thanks", "goodbye"]
    static let escalations: Set<String> = ["human_agent", "complaint", "fraud_report"]
    /// The classifier confidence needed before the bot hands off on an escalation intent.
    static let escalationConfidence = 0.5

    /// Handles one customer message (already redacted) and updates the session.
    public func respond(to message: String, in session: inout BotSession, now: Date = Date()) async -> BotReply {
        let analysis = model.analyze(message)
        if analysis.hasLanguageSignal || session.transcript.isEmpty { session.language = analysis.replyLanguage }
        session.angerHistory.append(analysis.sentiment.anger)
        session.anxietyHistory.append(analysis.sentiment.anxiety)
        session.transcript.append(TranscriptLine(speaker: .customer, text: message, intent: analysis.intent))
        for product in analysis.slots.products where !session.mentionedProducts.contains(product) {
            session.mentionedProducts.append(product)
        }
        session.mentionedAmounts.append(contentsOf: analysis.slots.amountsCents)

        var turn = Turn(analysis: analysis, language: session.language)
        await handle(&turn, &session, now: now)

        var parts: [String] = []
        if analysis.sentiment.isAngry, turn.handoff?.reason != .complaint { parts.append(text(Replies.apology, turn)) }
        if analysis.slots.sentSecret { parts.append(text(Replies.dontSendSecrets, turn)) }
        parts.append(contentsOf: turn.parts)
        // Order numbers the bot may legitimately mention: the customer's own and those verified.
        var allowed = Set(Self.longRuns(message)).union(session.verifiedOrders)
        if let number = session.orderNumber { allowed.insert(number) }
        allowed.insert(Self.exampleOrderNumber(model.normalizer.orderNumberFormat))
        let reply = Self.guardReply(parts.joined(separator: turn.language == .zh ? "" : " "), allowed: allowed)

        if var handoff = turn.handoff {
            handoff.priority = max(handoff.priority, session.sentimentPriority)
            session.transcript.append(TranscriptLine(speaker: .bot, text: reply, intent: nil))
            handoff.summary = session.summary(intent: handoff.intent, orderStatus: turn.orderStatus)
            session.handoff = handoff
            session.pending = nil
            turn.handoff = handoff
        } else {
            session.transcript.append(TranscriptLine(speaker: .bot, text: reply, intent: nil))
        }
        session.lastIntent = analysis.intent
        return BotReply(text: reply, language: turn.language, analysis: analysis, faqAnswered: turn.faqAnswered,
                        handoff: turn.handoff, actions: turn.actions)
    }

    /// The reply being built for one message.
    struct Turn {
        var analysis: Analysis
        var language: ReplyLanguage
        var parts: [String] = []
        var handoff: Handoff?
        var actions: [BotAction] = []
        var faqAnswered: String?
        var orderStatus: OrderStatus?
    }

    // MARK: - Dialogue

    private func handle(_ turn: inout Turn, _ session: inout BotSession, now: Date) async {
        let analysis = turn.analysis
        if session.handoff != nil {
            say(Replies.alreadyHandedOff, &turn)
            return
        }
        if let since = session.pendingSince, now.timeIntervalSince(since) > slotTimeout {
            session.pending = nil
            session.pendingSince = nil
            session.reasks = 0
        }
        // Anger that persists is a reason of its own to bring in a person.
        if session.angerPersists, analysis.intent != "fraud_report" {
            say(Replies.persistentAnger, &turn)
            handOff(.persistentAnger, .high, &turn, session)
            return
        }
        if let pending = session.pending {
            if await continuePending(pending, &turn, &session, now: now) { return }
        }
        // A contact token out of the blue verifies the order the conversation is about.
        if !analysis.slots.contactTokens.isEmpty, let order = session.orderNumber,
           analysis.slots.orderNumbers.isEmpty, !Self.orderIntents.contains(analysis.intent) || analysis.confidence < 0.6 {
            await verify(order: order, intent: session.lastIntent ?? "order_status", &turn, &session)
            return
        }
        await handleIntent(&turn, &session, now: now)
    }

    /// Returns true when the pending question consumed the message.
    private func continuePending(_ pending: BotSession.Pending, _ turn: inout Turn, _ session: inout BotSession,
                                 now: Date) async -> Bool {
        let analysis = turn.analysis
        let switchesTopic = analysis.intent != "out_of_scope" && analysis.confidence >= 0.6
            && !Self.smallTalk.contains(analysis.intent)
        switch pending {
        case .orderNumber(let intent):
            if let number = analysis.slots.orderNumbers.first {
                clearPending(&session)
                let target = Self.orderIntents.contains(analysis.intent) && analysis.confidence >= 0.6 ? analysis.intent : intent
                await process(order: number, intent: target, &turn, &session, now: now)
                return true
            }
            if switchesTopic && analysis.intent != intent { clearPending(&session); return false }
            if Self.smallTalk.contains(analysis.intent) && analysis.confidence >= 0.6 { clearPending(&session); return false }
            session.reasks += 1
            if session.reasks >= 3 {
                clearPending(&session)
                say(Replies.giveUpOrderNumber, &turn)
            } else {
                say(Replies.reaskOrderNumber, &turn, ["example": Self.exampleOrderNumber(model.normalizer.orderNumberFormat)])
            }
            return true
        case .contact(let intent, let order):
            if !analysis.slots.contactTokens.isEmpty {
                clearPending(&session)
                await verify(order: order, intent: intent, &turn, &session)
                return true
            }
            if analysis.slots.maskedContact {
                say(Replies.maskedContact, &turn)
                return true
            }
            clearPending(&session)
            return false
        case .confirmResend(let order):
            switch Self.yesNo(analysis.normalized) {
            case .yes?:
                clearPending(&session)
                await resend(order: order, &turn, &session)
                return true
            case .no?:
                clearPending(&session)
                say(Replies.resendDeclined, &turn)
                return true
            case nil:
                clearPending(&session)
                return false
            }
        case .transactionNumber(let intent, let order):
            if !analysis.slots.transactionReferences.isEmpty {
                clearPending(&session)
                say(Replies.transactionReceived, &turn)
                handOff(.paymentNeedsCheck, .high, &turn, session, intent: intent, order: order)
                return true
            }
            if switchesTopic && analysis.intent != intent && analysis.intent != "payment_issue" {
                clearPending(&session)
                return false
            }
            session.reasks += 1
            if session.reasks >= 3 {
                clearPending(&session)
                say(Replies.humanAgent, &turn)
                handOff(.paymentNeedsCheck, .high, &turn, session, intent: intent, order: order)
            } else {
                say(Replies.reaskTransaction, &turn)
            }
            return true
        }
    }

    private func handleIntent(_ turn: inout Turn, _ session: inout BotSession, now: Date) async {
        let analysis = turn.analysis
        var intent = analysis.intent
        // A bare order number (or one with little else) is a status question.
        if !analysis.slots.orderNumbers.isEmpty, intent == "out_of_scope" || Self.smallTalk.contains(intent) {
            intent = "order_status"
        }
        // Escalations page a person (fraud: urgently), so a guess is not enough: ask instead.
        if Self.escalations.contains(intent), analysis.confidence < Self.escalationConfidence {
            if let options = clarifyOptions(analysis, turn.language) {
                say(Replies.clarify, &turn, ["options": options])
            } else {
                say(Replies.fallback, &turn)
            }
            return
        }
        if intent != "out_of_scope" { session.consecutiveFallbacks = 0 }
        switch intent {
        case "greeting":
            say(Replies.greeting, &turn)
        case "thanks":
            say(Replies.thanks, &turn)
        case "goodbye":
            say(Replies.goodbye, &turn)
        case "human_agent":
            say(Replies.humanAgent, &turn)
            handOff(.customerAsked, .normal, &turn, session, intent: intent)
        case "complaint":
            say(Replies.complaint, &turn)
            handOff(.complaint, .high, &turn, session, intent: intent)
        case "fraud_report":
            say(Replies.fraud, &turn)
            handOff(.fraudReport, .urgent, &turn, session, intent: intent)
        case _ where Self.orderIntents.contains(intent):
            if let number = analysis.slots.orderNumbers.first {
                await process(order: number, intent: intent, &turn, &session, now: now)
            } else if intent == "refund" || intent == "cancel_order", analysis.faqConfident, let faq = analysis.faq {
                // Rules first; the order number is asked for if they want to go ahead.
                answerFAQ(faq.id, &turn)
                say(Replies.askOrderNumber, &turn)
                setPending(.orderNumber(intent: intent), &session, now: now, &turn, action: .askedForOrderNumber)
            } else if let contact = session.verifiedContact, intent == "order_status" {
                // Personalisation: a verified customer asking about "my orders" sees the recent ones.
                await listRecentOrders(contact: contact, intent: intent, &turn, &session, now: now)
            } else if let contact = session.verifiedContact, intent == "card_not_received", !analysis.slots.products.isEmpty {
                // A verified customer naming a product: find that product's order.
                await listRecentOrders(contact: contact, intent: intent, &turn, &session, now: now)
            } else if let number = session.orderNumber, analysis.confidence >= 0.6 {
                // The order the conversation is about, new topic ("and can I get a refund?").
                await process(order: number, intent: intent, &turn, &session, now: now)
            } else if let contact = session.verifiedContact, intent == "card_not_received" {
                await listRecentOrders(contact: contact, intent: intent, &turn, &session, now: now)
            } else {
                if intent != "order_status", analysis.faqConfident, let faq = analysis.faq { answerFAQ(faq.id, &turn) }
                say(Replies.askOrderNumber, &turn)
                setPending(.orderNumber(intent: intent), &session, now: now, &turn, action: .askedForOrderNumber)
            }
        case "out_of_scope":
            if analysis.faqConfident, let faq = analysis.faq, analysis.faq!.score >= model.faqThreshold + 0.1 {
                answerFAQ(faq.id, &turn)
                session.consecutiveFallbacks = 0
                return
            }
            session.consecutiveFallbacks += 1
            if session.consecutiveFallbacks >= 3 {
                say(Replies.fallbackOfferAgent, &turn)
                handOff(.notUnderstood, .low, &turn, session, intent: intent)
            } else if let options = clarifyOptions(analysis, turn.language) {
                say(Replies.clarify, &turn, ["options": options])
            } else {
                say(Replies.fallback, &turn)
            }
        default:
            // Informational intents (payment methods, invoices, how to buy, account help) and
            // tenant-defined intents are answered from the FAQ.
            if analysis.faqConfident, let faq = analysis.faq {
                answerFAQ(faq.id, &turn)
            } else if let entry = model.knowledgeBase.faq.first(where: { $0.intent == intent }) {
                answerFAQ(entry.id, &turn)
            } else {
                say(Replies.fallback, &turn)
            }
        }
    }

    /// Two likely in-scope intents when the classifier is unsure but not clueless.
    private func clarifyOptions(_ analysis: Analysis, _ language: ReplyLanguage) -> String? {
        let candidates = analysis.rankedIntents.filter { $0.label != "out_of_scope" && $0.probability >= 0.2 }
            .compactMap { Replies.intentName($0.label)?[language] }
        guard !candidates.isEmpty else { return nil }
        return candidates.prefix(2).joined(separator: language == .zh ? "，还是" : ", or ")
    }

    // MARK: - Orders

    private func process(order number: String, intent: String, _ turn: inout Turn, _ session: inout BotSession,
                         now: Date) async {
        let found: OrderSummary?
        do {
            found = try await orders.order(number: number)
        } catch {
            say(Replies.backendDown, &turn)
            handOff(.backendUnavailable, .normal, &turn, session, intent: intent, order: number)
            return
        }
        guard let order = found else {
            say(Replies.orderNotFound, &turn, ["order": number])
            return
        }
        session.orderNumber = number
        turn.orderStatus = order.status
        let fill = ["order": number, "status": Replies.statusName(order.status)[turn.language]]
        switch intent {
        case "card_not_received":
            switch order.status {
            case .completed: offerResend(order: number, &turn, &session, now: now)
            case .abnormal: outOfStock(number, intent, &turn, session)
            case .waitingForPayment, .expired:
                say(Replies.unpaidAskTransaction, &turn, fill)
                setPending(.transactionNumber(intent: intent, order: number), &session, now: now, &turn,
                           action: .askedForTransactionNumber)
            case .pending, .processing: processing(order, &turn, session, now: now, intent: intent)
            case .failed:
                say(Replies.orderFailed, &turn, fill)
                handOff(.orderFailed, .normal, &turn, session, intent: intent, order: number)
            }
        case "payment_issue":
            switch order.status {
            case .waitingForPayment, .expired, .completed:
                say(order.status == .completed ? Replies.completedPayment : Replies.unpaidAskTransaction, &turn, fill)
                setPending(.transactionNumber(intent: intent, order: number), &session, now: now, &turn,
                           action: .askedForTransactionNumber)
            case .abnormal: outOfStock(number, intent, &turn, session)
            case .pending, .processing: processing(order, &turn, session, now: now, intent: intent)
            case .failed:
                say(Replies.orderFailed, &turn, fill)
                handOff(.orderFailed, .normal, &turn, session, intent: intent, order: number)
            }
        case "card_invalid", "recharge_failed":
            if order.status == .completed {
                say(intent == "card_invalid" ? Replies.cardInvalid : Replies.rechargeFailed, &turn, fill)
                handOff(intent == "card_invalid" ? .cardInvalid : .rechargeFailed, .normal, &turn, session,
                        intent: intent, order: number)
            } else {
                await process(order: number, intent: "card_not_received", &turn, &session, now: now)
            }
        case "refund", "cancel_order":
            switch order.status {
            case .waitingForPayment: say(Replies.unpaidCancel, &turn, fill)
            case .expired:
                say(Replies.expiredCancel, &turn, fill)
                setPending(.transactionNumber(intent: intent, order: number), &session, now: now, &turn,
                           action: .askedForTransactionNumber)
            case .abnormal: outOfStock(number, intent, &turn, session)
            default:
                say(Replies.refundHandoff, &turn, fill)
                handOff(.refundRequest, .normal, &turn, session, intent: intent, order: number)
            }
        default: // order_status
            say(Replies.status, &turn, fill)
            if session.verifiedOrders.contains(number) {
                say(Replies.details, &turn, details(order, turn.language))
            } else if order.status == .abnormal {
                outOfStock(number, intent, &turn, session)
            } else {
                say(Replies.askContactForDetails, &turn)
                setPending(.contact(intent: intent, order: number), &session, now: now, &turn, action: .askedForContact)
            }
        }
    }

    private func offerResend(order number: String, _ turn: inout Turn, _ session: inout BotSession, now: Date) {
        if session.resent.contains(number) {
            say(Replies.alreadyResent, &turn, ["order": number])
            return
        }
        say(Replies.offerResend, &turn, ["order": number])
        setPending(.confirmResend(order: number), &session, now: now, &turn, action: nil)
    }

    private func resend(order number: String, _ turn: inout Turn, _ session: inout BotSession) async {
        do {
            let receipt = try await orders.resendCardKeys(number: number)
            session.resent.insert(number)
            turn.actions.append(.resentCardKeys(receipt))
            say(Replies.resent, &turn)
        } catch {
            say(Replies.resendFailed, &turn)
            handOff(.backendUnavailable, .normal, &turn, session, intent: "card_not_received", order: number)
        }
    }

    private func outOfStock(_ number: String, _ intent: String, _ turn: inout Turn, _ session: BotSession) {
        say(Replies.outOfStock, &turn, ["order": number])
        handOff(.paidOutOfStock, .high, &turn, session, intent: intent, order: number)
    }

    private func processing(_ order: OrderSummary, _ turn: inout Turn, _ session: BotSession, now: Date, intent: String) {
        let since = order.paidAt ?? order.createdAt
        if now.timeIntervalSince(since) > 30 * 60 {
            say(Replies.processingTooLong, &turn, ["order": order.number])
            handOff(.orderFailed, .normal, &turn, session, intent: intent, order: order.number)
        } else {
            say(Replies.processing, &turn, ["order": order.number])
        }
    }

    private func verify(order number: String, intent: String, _ turn: inout Turn, _ session: inout BotSession) async {
        guard let token = turn.analysis.slots.contactTokens.first else { return }
        if session.failedVerifications >= 3 {
            say(Replies.verificationLocked, &turn)
            handOff(.verificationFailed, .normal, &turn, session, intent: intent, order: number)
            return
        }
        let matches: Bool
        let order: OrderSummary?
        do {
            matches = try await orders.verify(number: number, contactToken: token)
            order = matches ? try await orders.order(number: number) : nil
        } catch {
            say(Replies.backendDown, &turn)
            handOff(.backendUnavailable, .normal, &turn, session, intent: intent, order: number)
            return
        }
        guard matches, let order else {
            session.failedVerifications += 1
            if session.failedVerifications >= 3 {
                say(Replies.verificationLocked, &turn)
                handOff(.verificationFailed, .normal, &turn, session, intent: intent, order: number)
            } else {
                say(Replies.verificationFailed, &turn)
                session.pending = .contact(intent: intent, order: number)
            }
            return
        }
        session.verifiedContact = token
        session.verifiedOrders.insert(number)
        session.orderNumber = number
        turn.orderStatus = order.status
        turn.actions.append(.verifiedContact(order: number))
        say(Replies.verified, &turn)
        say(Replies.status, &turn, ["order": number, "status": Replies.statusName(order.status)[turn.language]])
        say(Replies.details, &turn, details(order, turn.language))
    }

    private func listRecentOrders(contact: String, intent: String, _ turn: inout Turn, _ session: inout BotSession,
                                  now: Date) async {
        let recent: [OrderSummary]
        do {
            recent = try await orders.recentOrders(contactToken: contact, limit: 3)
        } catch {
            say(Replies.backendDown, &turn)
            handOff(.backendUnavailable, .normal, &turn, session, intent: intent)
            return
        }
        guard let newest = recent.first else {
            say(Replies.noRecentOrders, &turn)
            return
        }
        for order in recent { session.verifiedOrders.insert(order.number) }
        if intent == "card_not_received" {
            // "我买的 Steam 卡没收到": the newest order of the product they name, else the newest.
            let named = turn.analysis.slots.products
            let target = recent.first { $0.productID.map(named.contains) ?? false } ?? newest
            await process(order: target.number, intent: intent, &turn, &session, now: now)
            return
        }
        let lines = recent.map { order in
            "\(order.number) · \(order.productName[turn.language]) · \(Replies.statusName(order.status)[turn.language])"
        }.joined(separator: "\n")
        say(Replies.recentOrders, &turn, ["orders": lines])
    }

    private func details(_ order: OrderSummary, _ language: ReplyLanguage) -> [String: String] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Asia/Shanghai")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        let amount = String(format: "%.2f", Double(order.amountCents) / 100)
        return ["product": order.productName[language], "quantity": String(order.quantity),
                "amount": order.currency == "CNY" ? "¥\(amount)" : "\(amount) \(order.currency)",
                "created": formatter.string(from: order.createdAt)]
    }

    // MARK: - Helpers

    private func answerFAQ(_ id: String, _ turn: inout Turn) {
        guard let entry = model.knowledgeBase.faq.first(where: { $0.id == id }) else { return }
        turn.faqAnswered = id
        turn.parts.append(model.knowledgeBase.fill(entry.answer[turn.language], language: turn.language))
    }

    private func say(_ template: LocalizedText, _ turn: inout Turn, _ values: [String: String] = [:]) {
        var text = self.text(template, turn)
        for (name, value) in values { text = text.replacingOccurrences(of: "%\(name)%", with: value) }
        turn.parts.append(text)
    }

    private func text(_ template: LocalizedText, _ turn: Turn) -> String {
        model.knowledgeBase.fill(template[turn.language], language: turn.language)
    }

    private func setPending(_ pending: BotSession.Pending, _ session: inout BotSession, now: Date, _ turn: inout Turn,
                            action: BotAction?) {
        session.pending = pending
        session.pendingSince = now
        session.reasks = 0
        if let action { turn.actions.append(action) }
    }

    private func clearPending(_ session: inout BotSession) {
        session.pending = nil
        session.pendingSince = nil
        session.reasks = 0
    }

    private func handOff(_ reason: Handoff.Reason, _ priority: Handoff.Priority, _ turn: inout Turn, _ session: BotSession,
                         intent: String? = nil, order: String? = nil) {
        turn.handoff = Handoff(reason: reason, priority: priority, summary: "", intent: intent ?? turn.analysis.intent,
                               orderNumber: order ?? session.orderNumber)
    }

    enum Answer { case yes, no }

    /// Short confirmations in either language ("是的", "好", "yes pls", "不用了", "no thanks").
    static func yesNo(_ normalized: String) -> Answer? {
        let text = normalized.trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters))
        guard text.unicodeScalars.count <= 16 else { return nil }
        let no = ["不用", "不要", "不需要", "算了", "否", "no", "nope", "not now", "don't", "dont", "不了", "别发"]
        let yes = ["是", "好", "可以", "要", "需要", "嗯", "行", "对", "麻烦", "重发", "补发", "发吧", "yes", "y", "yeah",
                   "yep", "ok", "okay", "sure", "please", "pls", "resend", "go ahead", "yes please"]
        if no.contains(where: { text == $0 || text.hasPrefix($0 + " ") || (text.hasPrefix($0) && !$0.unicodeScalars.first!.isASCII) }) {
            return .no
        }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        if let first = words.first, yes.contains(first) { return .yes }
        // Chinese confirmations are short: "好的", "是的麻烦了", "可以发一下".
        if text.unicodeScalars.count <= 6, yes.contains(where: { !$0.unicodeScalars.first!.isASCII && text.hasPrefix($0) }) {
            return .yes
        }
        return nil
    }

    static func exampleOrderNumber(_ format: OrderNumberFormat) -> String {
        let alphabet = format.alphabet == .digits ? Array("0123456789") : Array("AB3CD7EF9GH2JK5M")
        return String((0..<format.length).map { alphabet[$0 % alphabet.count] })
    }

    /// Removes anything shaped like a card key (a run of 10+ letters/digits with both, or
    /// dash-separated groups) that the customer did not send: defence in depth, since no code
    /// path puts a key into a reply.
    static func guardReply(_ reply: String, allowed: Set<String>) -> String {
        var result = reply
        for run in longRuns(reply) where !allowed.contains(run) {
            result = result.replacingOccurrences(of: run, with: "[CARD_KEY]")
        }
        return result
    }

    static func longRuns(_ text: String) -> [String] {
        var runs: [String] = []
        var current = ""
        func flush() {
            let letters = current.unicodeScalars.filter(\.isASCIILetter).count
            let digits = current.unicodeScalars.filter(\.isASCIIDigit).count
            if current.unicodeScalars.count >= 10, letters > 0, digits > 0 { runs.append(current) }
            current = ""
        }
        for scalar in text.unicodeScalars {
            if scalar.isLatinWordCharacter || (scalar == "-" && !current.isEmpty) {
                current.unicodeScalars.append(scalar)
            } else {
                flush()
            }
        }
        flush()
        return runs
    }
}
