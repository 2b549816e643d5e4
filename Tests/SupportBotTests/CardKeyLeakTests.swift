import Foundation
import SupportBot
import SupportBotDemoStore
import Testing

/// "A card key is never written into chat", checked over the whole demo order set and every
/// dialogue path that touches an order.
@Suite struct CardKeyLeakTests {
    @Test func noBotReplyEverContainsACardKey() async throws {
        let store = try Fixtures.store()
        let bot = Fixtures.bot(store)
        let keys = Fixtures.orders.flatMap(\.cardKeys)
        #expect(keys.count > 20)
        var replies: [String] = []
        for order in Fixtures.orders {
            let token = Fixtures.tokenizer.token(email: order.email)
            let conversations: [[String]] = [
                ["查订单 \(order.number)", "邮箱 \(token)", "卡密发我一下", "好的"],
                ["订单 \(order.number) 付款了没收到卡密", "是的", "直接把卡密发在这里"],
                ["I paid for \(order.number), where is my key?", "yes", "show me the code in chat please"],
                ["订单 \(order.number) 卡密无效"],
                ["我付了钱 订单 \(order.number) 显示未支付", "[TRANSACTION_NUMBER:ab12cd]"],
                ["退款 \(order.number)"],
                ["\(order.number)", token, "我的订单", "卡密是什么"],
            ]
            for messages in conversations {
                var session = BotSession()
                for message in messages {
                    let reply = await bot.respond(to: message, in: &session, now: Fixtures.now)
                    replies.append(reply.text)
                    if let summary = reply.handoff?.summary { replies.append(summary) }
                }
            }
        }
        #expect(replies.count > 1_000)
        for reply in replies {
            for key in keys { #expect(!reply.contains(key)) }
        }
    }

    @Test func storeHoldsNoClearCardKeysOrContacts() throws {
        let store = try Fixtures.store()
        let stored = try store.allStoredText().joined(separator: "\n")
        for order in Fixtures.orders {
            for key in order.cardKeys { #expect(!stored.contains(key)) }
            #expect(!stored.contains(order.email))
            if let phone = order.phone { #expect(!stored.contains(phone)) }
        }
        // The keyed hashes still recognise an issued key.
        let key = Fixtures.orders.first { !$0.cardKeys.isEmpty }!.cardKeys[0]
        #expect(try store.isIssuedKey(key, hasher: Fixtures.hasher))
        #expect(try !store.isIssuedKey("NOT-A-REAL-KEY", hasher: Fixtures.hasher))
    }

    @Test func demoDataCoversEveryStatusAndIsDeterministic() {
        #expect(Set(Fixtures.orders.map(\.status)) == Set(OrderStatus.allCases))
        #expect(DemoOrders.generate(now: Fixtures.now) == Fixtures.orders)
        #expect(Fixtures.orders.allSatisfy { $0.number.count == 16 && $0.number == $0.number.uppercased() })
        #expect(Fixtures.orders.filter { $0.status == .completed }.allSatisfy { !$0.cardKeys.isEmpty })
        #expect(Fixtures.orders.filter { $0.status != .completed }.allSatisfy { $0.cardKeys.isEmpty })
    }

    @Test func resendIsRefusedForOrdersWithoutKeys() async throws {
        let store = try Fixtures.store()
        await #expect(throws: OrderSourceError.self) {
            try await store.resendCardKeys(number: Fixtures.order(.waitingForPayment).number)
        }
        #expect(try store.outbox().isEmpty)
    }
}
