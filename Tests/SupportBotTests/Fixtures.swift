import Foundation
import Redaction
import Sealing
import SupportBot
import SupportBotDemoStore

/// Shared, trained-once fixtures (training takes a moment in debug builds).
enum Fixtures {
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func repositoryFile(_ path: String) throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent(path), encoding: .utf8)
    }

    static let knowledgeBase: KnowledgeBase = try! KnowledgeBase.demo()
    static let model = BotModel(knowledgeBase: knowledgeBase)

    static let now = Date(timeIntervalSince1970: 1_790_000_000)
    static let hasher = BLAKE2bKeyedHasher(key: Array(repeating: 7, count: 32))
    static let tokenizer = KeyedContactTokenizer(hasher: hasher)
    static let orders = DemoOrders.generate(now: now)

    /// A fresh store per test (the outbox is per store).
    static func store() throws -> DemoOrderStore {
        try DemoOrderStore.seeded(orders: orders, tokenizer: tokenizer, keyHasher: hasher)
    }

    static func bot(_ store: any OrderSource) -> SupportBot {
        SupportBot(model: model, orders: store)
    }

    static func order(_ status: OrderStatus) -> DemoOrder {
        orders.first { $0.status == status }!
    }
}

/// An order backend that is down.
struct FailingOrderSource: OrderSource {
    func order(number: String) async throws(OrderSourceError) -> OrderSummary? { throw .unavailable(reason: "test") }
    func verify(number: String, contactToken: String) async throws(OrderSourceError) -> Bool { throw .unavailable(reason: "test") }
    func recentOrders(contactToken: String, limit: Int) async throws(OrderSourceError) -> [OrderSummary] {
        throw .unavailable(reason: "test")
    }
    func resendCardKeys(number: String) async throws(OrderSourceError) -> ResendReceipt { throw .unavailable(reason: "test") }
}
