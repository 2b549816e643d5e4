import Foundation
import SupportBot
import Testing

@Suite struct KnowledgeBaseTests {
    @Test func shippedDemoKnowledgeBaseIsEmbedded() throws {
        // The binary uses the embedded copy; it must be the file in knowledge-base/ byte for byte
        // (run scripts/embed-demo-kb.sh after editing the YAML).
        let shipped = try Fixtures.repositoryFile("knowledge-base/demo.yaml")
        #expect(shipped == DemoKnowledgeBase.yaml + "\n")
    }

    @Test func demoKnowledgeBaseMeetsTheSizeTheIssueAsksFor() {
        let kb = Fixtures.knowledgeBase
        #expect(kb.tenant == "demo")
        #expect(kb.intents.count >= 18)
        #expect(Set(KnowledgeBase.coreIntents).isSubset(of: kb.intents.map(\.name)))
        for (name, intent) in kb.intents {
            #expect(intent.zh.count >= 12, "\(name) has \(intent.zh.count) Chinese examples")
            #expect(intent.en.count >= 6, "\(name) has \(intent.en.count) English examples")
        }
        #expect(kb.faq.count >= 25)
        for entry in kb.faq {
            #expect(!entry.answer.zh.isEmpty && !entry.answer.en.isEmpty)
            #expect(!kb.fill(entry.answer.zh, language: .zh).contains("{"), "unfilled variable in \(entry.id)")
            #expect(!kb.fill(entry.answer.en, language: .en).contains("{"), "unfilled variable in \(entry.id)")
        }
    }

    @Test func heldOutFileIsLargeEnoughAndDisjointFromTraining() throws {
        let utterances = try LabelledUtterance.parse(try Fixtures.repositoryFile("knowledge-base/demo-heldout.tsv"))
        #expect(utterances.count >= 300)
        #expect(utterances.contains { $0.text.unicodeScalars.contains { $0.properties.isIdeographic } })
        #expect(utterances.contains { !$0.text.unicodeScalars.contains { $0.properties.isIdeographic } })
        #expect(utterances.contains { $0.text.contains("[PHONE:") || $0.text.contains("[EMAIL:") })
        let training = Set(Fixtures.knowledgeBase.intents.flatMap { $0.intent.zh + $0.intent.en })
        let leaked = utterances.filter { training.contains($0.text) }.map(\.text)
        #expect(leaked.isEmpty, "held-out utterances also used for training: \(leaked)")
        let intents = Set(Fixtures.knowledgeBase.intents.map(\.name))
        let faqIDs = Set(Fixtures.knowledgeBase.faq.map(\.id))
        for utterance in utterances {
            #expect(intents.contains(utterance.intent), "unknown intent \(utterance.intent)")
            if let faq = utterance.faq { #expect(faqIDs.contains(faq), "unknown FAQ \(faq)") }
        }
    }

    @Test func heldOutQualityBarsAndBaseline() throws {
        let utterances = try LabelledUtterance.parse(try Fixtures.repositoryFile("knowledge-base/demo-heldout.tsv"))
        let intents = Fixtures.knowledgeBase.intents.map(\.name)
        let bot = Evaluation.evaluate(utterances, intents: intents, scored: Evaluation.system(Fixtures.model))
        #expect(bot.intentAccuracy >= 0.92)
        #expect(bot.outOfScopeRecall >= 0.85)
        #expect(bot.faqTop1 >= 0.90)
        // Calibrated: the stated confidence is close to the observed accuracy.
        #expect(try #require(bot.calibrationError) < 0.1)
        let keywords = KeywordBaseline(knowledgeBase: Fixtures.knowledgeBase)
        let baseline = Evaluation.evaluate(utterances, intents: intents, system: { keywords.classify($0) })
        #expect(bot.intentAccuracy > baseline.intentAccuracy + 0.2)
        #expect(bot.faqTop1 > baseline.faqTop1 + 0.2)
    }

    @Test func malformedYAMLIsATypedErrorWithALocation() {
        #expect(throws: KnowledgeBase.LoadError.self) {
            try KnowledgeBase.parse(yaml: "tenant: x\nintents: [oops", source: "bad.yaml")
        }
        do {
            _ = try KnowledgeBase.parse(yaml: "tenant: x\nintents:\n  - name: greeting\n    zh: [你好]\n", source: "bad.yaml")
            Issue.record("accepted a knowledge base without en examples")
        } catch {
            #expect(error.description.contains("bad.yaml"))
            #expect(error.description.contains("en"))
        }
    }

    @Test func missingCoreIntentIsRejected() throws {
        var yaml = DemoKnowledgeBase.yaml
        yaml = yaml.replacingOccurrences(of: "  - name: fraud_report\n", with: "  - name: fraud_reports\n")
        do {
            _ = try KnowledgeBase.parse(yaml: yaml, source: "edited")
            Issue.record("accepted a knowledge base without fraud_report")
        } catch {
            guard case .invalid(_, let detail) = error else { Issue.record("wrong error \(error)"); return }
            #expect(detail.contains("fraud_report"))
        }
    }

    @Test func labelledFileErrorsNameTheLine() {
        #expect(throws: LabelledUtterance.ParseError.self) {
            try LabelledUtterance.parse("# ok\ngreeting\t-\thi\nno tabs here\n")
        }
    }
}

@Suite struct TenantIntentTests {
    static let extraIntent = """
      - name: nintendo_cards
        zh: [有任天堂点卡吗, switch 点卡有卖吗, 任天堂 eshop 卡多少钱, 有没有 switch 会员, 日服 switch 卡有吗, 任天堂充值卡]
        en: [do you sell nintendo eshop cards, is switch online membership available, nintendo gift card price]

    """
    static let extraFAQ = """

      - id: nintendo-cards
        intent: nintendo_cards
        questions: [有任天堂 eShop 卡吗, do you sell Nintendo eShop cards]
        answer: {zh: 任天堂 eShop 卡下周上架。, en: Nintendo eShop cards arrive next week.}
    """

    @Test func aTenantCanAddItsOwnIntentAndAnswer() async throws {
        let yaml = DemoKnowledgeBase.yaml.replacingOccurrences(of: "\nfaq:\n", with: "\n" + Self.extraIntent + "faq:\n")
            + Self.extraFAQ
        let kb = try KnowledgeBase.parse(yaml: yaml, source: "tenant.yaml")
        #expect(kb.intents.count == Fixtures.knowledgeBase.intents.count + 1)
        let model = BotModel(knowledgeBase: kb)
        #expect(model.analyze("switch的eshop卡你们卖不卖").intent == "nintendo_cards")
        let bot = SupportBot(model: model, orders: FailingOrderSource())
        var session = BotSession()
        let reply = await bot.respond(to: "任天堂的卡有卖吗", in: &session, now: Fixtures.now)
        #expect(reply.text.contains("下周上架"))
    }
}

@Suite struct KnowledgeBaseValidationTests {
    @Test func undefinedVariablesInAnswersAreRejected() {
        let yaml = DemoKnowledgeBase.yaml.replacingOccurrences(of: "{support_email}", with: "{support_mail}")
        do {
            _ = try KnowledgeBase.parse(yaml: yaml, source: "shop.yaml")
            Issue.record("accepted an answer with an undefined variable")
        } catch {
            #expect(error.description.contains("support_mail"))
            #expect(error.description.contains("shop.yaml"))
        }
    }
}
