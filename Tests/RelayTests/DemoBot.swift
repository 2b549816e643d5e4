import SupportBot

/// The demo knowledge base's bot with no order source, for unit tests that need a `SupportBot`.
enum DemoBot {
    static let shared: SupportBot = SupportBot(model: BotModel(knowledgeBase: try! KnowledgeBase.demo()), orders: NoOrders())

    struct NoOrders: OrderSource {
        func order(number: String) async throws(OrderSourceError) -> OrderSummary? { nil }
        func verify(number: String, contactToken: String) async throws(OrderSourceError) -> Bool { false }
        func recentOrders(contactToken: String, limit: Int) async throws(OrderSourceError) -> [OrderSummary] { [] }
        func resendCardKeys(number: String) async throws(OrderSourceError) -> ResendReceipt {
            throw .unavailable(reason: "none")
        }
    }
}
