import Foundation
@testable import SupportBot
import Testing

@Suite struct UnderstandingTests {
    let normalizer = Normalizer(synonymGroups: [["卡密", "兑换码", "key"]])

    @Test func traditionalChineseIsFoldedToSimplified() {
        #expect(normalizer.normalize("訂單號碼沒收到").debugDescription == "订单号码没收到")
        #expect(Fixtures.model.analyze("我付款了為什麼沒有收到卡密").intent == "card_not_received")
    }

    @Test func synonymsFoldToTheirCanonicalForm() {
        #expect(normalizer.normalize("兑换码").debugDescription == "卡密")
        #expect(normalizer.normalize("my key").debugDescription == "my 卡密")
        // Word boundaries: "keyboard" is not a key.
        #expect(normalizer.normalize("keyboard").debugDescription == "keyboard")
    }

    @Test func placeholdersBecomeOneMarkerAndKeepTheirToken() {
        let text = normalizer.normalize("邮箱 [EMAIL:3f9a1c] 电话[PHONE] 卡 [PAYMENT_CARD:…1234] 号 [TRANSACTION_NUMBER:ab12cd]")
        #expect(text.placeholders.map(\.kind) == [.email, .phone, .paymentCard, .transactionNumber])
        #expect(text.placeholders[0].text == "[EMAIL:3f9a1c]")
        #expect(text.placeholders[0].isToken)
        #expect(!text.placeholders[1].isToken)
        #expect(text.debugDescription.contains("<email>"))
        #expect(!text.debugDescription.contains("3f9a1c"))
    }

    @Test func orderNumbersAreFoundByTenantFormat() {
        #expect(normalizer.normalize("订单E7ZK3QX9M2PLA1B4查一下").orderNumbers == ["E7ZK3QX9M2PLA1B4"])
        // Retyped in lower case: accepted when it has digits.
        #expect(normalizer.normalize("order e7zk3qx9m2pla1b4").orderNumbers == ["E7ZK3QX9M2PLA1B4"])
        // A 16-letter English word is not an order number; 15 or 17 characters are not either.
        #expect(normalizer.normalize("internationalism").orderNumbers.isEmpty)
        #expect(normalizer.normalize("E7ZK3QX9M2PLA1B").orderNumbers.isEmpty)
        #expect(normalizer.normalize("E7ZK3QX9M2PLA1B45").orderNumbers.isEmpty)
        let digits = Normalizer(orderNumberFormat: OrderNumberFormat(length: 10, alphabet: .digits))
        #expect(digits.normalize("单号 2026010199").orderNumbers == ["2026010199"])
    }

    @Test func languageDetection() {
        #expect(normalizer.normalize("我的订单没收到").language == .zh)
        #expect(normalizer.normalize("where is my order").language == .en)
        #expect(normalizer.normalize("我的 key 不能用 help me please").language == .mixed)
        #expect(normalizer.normalize("我的key不能用").replyLanguage == .zh)
        #expect(normalizer.normalize("my 卡密 is not working at all").replyLanguage == .en)
        // Placeholders and order numbers are not English words.
        #expect(normalizer.normalize("订单 E7ZK3QX9M2PLA1B4 [EMAIL:3f9a1c]").language == .zh)
    }

    @Test func fullWidthInputIsNormalised() {
        #expect(normalizer.normalize("ＫＥＹ无效！").debugDescription == "卡密无效!")
    }

    @Test func trainingIsDeterministic() {
        let again = BotModel(knowledgeBase: Fixtures.knowledgeBase)
        #expect(again.classifier.weights == Fixtures.model.classifier.weights)
        #expect(again.classifier.temperature == Fixtures.model.classifier.temperature)
        #expect(again.intentThreshold == Fixtures.model.intentThreshold)
    }

    @Test func probabilitiesAreCalibratedDistributions() {
        let prediction = Fixtures.model.classifier.predict(
            Featurizer.features(of: Fixtures.model.normalizer.normalize("付款了没收到卡密")))
        let total = prediction.ranked.reduce(0) { $0 + $1.probability }
        #expect(abs(total - 1) < 1e-9)
        #expect(prediction.best.label == "card_not_received")
        #expect(Fixtures.model.classifier.temperature > 0)
    }

    @Test func outOfScopeMessagesAreRecognised() {
        for text in ["帮我写一首关于春天的诗", "what is the tallest building in the world", "狗狗拉肚子怎么办"] {
            #expect(Fixtures.model.analyze(text).intent == "out_of_scope", "\(text)")
        }
    }

    @Test func slotsAreExtracted() {
        let analysis = Fixtures.model.analyze("订单 E7ZK3QX9M2PLA1B4 买的 steam 卡 100元，邮箱 [EMAIL:3f9a1c] 交易号 [TRANSACTION_NUMBER:ab12cd] 卡密 [CARD_KEY]")
        #expect(analysis.slots.orderNumbers == ["E7ZK3QX9M2PLA1B4"])
        #expect(analysis.slots.contactTokens == ["[EMAIL:3f9a1c]"])
        #expect(analysis.slots.transactionReferences == ["[TRANSACTION_NUMBER:ab12cd]"])
        #expect(analysis.slots.amountsCents == [10_000])
        #expect(analysis.slots.products == ["steam-100"])
        #expect(analysis.slots.sentSecret)
        #expect(BotModel.amounts(in: "paid $5.99 and ¥20, 3 items") == [599, 2_000])
    }

    @Test func sentimentHandlesNegationAndIntensifiers() {
        let analyzer = SentimentAnalyzer()
        func anger(_ text: String) -> Double {
            analyzer.analyze(Fixtures.model.normalizer.normalize(text), original: text).anger
        }
        func anxiety(_ text: String) -> Double {
            analyzer.analyze(Fixtures.model.normalizer.normalize(text), original: text).anxiety
        }
        #expect(anger("我很生气") > anger("我不生气"))
        #expect(anger("我不生气") < 0.1)
        #expect(anger("太垃圾了") > anger("垃圾"))
        #expect(anger("垃圾!!!") > anger("垃圾"))
        #expect(anger("I am not angry") < anger("I am angry"))
        #expect(anger("THIS IS A SCAM YOU THIEVES") > 0.8)
        #expect(anxiety("怎么还没到???") > anxiety("怎么还没到"))
        #expect(anger("你好，想查一下订单") < 0.1)
        #expect(anxiety("谢谢") < 0.1)
        // A placeholder is not shouting.
        #expect(anger("[CARD_KEY] [PHONE] [EMAIL]") < 0.1)
    }
}
