import Foundation

/// A dujiaoka order status.
public enum OrderStatus: Int, Sendable, Hashable, Codable, CaseIterable {
    case waitingForPayment = 1
    case pending = 2
    case processing = 3
    case completed = 4
    case failed = 5
    /// Paid, but the product was out of stock: no card key could be issued.
    case abnormal = 6
    case expired = -1
}

/// What the bot may know about an order. Deliberately no card keys and no contact details:
/// the bot never needs them in clear.
public struct OrderSummary: Sendable, Hashable {
    public var number: String
    public var status: OrderStatus
    public var productName: LocalizedText
    /// The catalogue id, when the source knows it (matches `catalogue[].id` in the knowledge base).
    public var productID: String?
    /// In the smallest currency unit (fen).
    public var amountCents: Int
    public var currency: String
    public var quantity: Int
    public var createdAt: Date
    public var paidAt: Date?

    public init(number: String, status: OrderStatus, productName: LocalizedText, productID: String? = nil,
                amountCents: Int, currency: String = "CNY", quantity: Int = 1, createdAt: Date, paidAt: Date?) {
        self.number = number
        self.status = status
        self.productName = productName
        self.productID = productID
        self.amountCents = amountCents
        self.currency = currency
        self.quantity = quantity
        self.createdAt = createdAt
        self.paidAt = paidAt
    }
}

/// Proof that a card-key re-send was queued: the keys go to the purchase e-mail, never into chat.
public struct ResendReceipt: Sendable, Hashable {
    public var orderNumber: String
    public var queuedAt: Date
    public init(orderNumber: String, queuedAt: Date) {
        self.orderNumber = orderNumber
        self.queuedAt = queuedAt
    }
}

/// Why an order look-up failed. Descriptions carry no message content or contact data.
public enum OrderSourceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The shop's backend could not be reached or kept failing.
    case unavailable(reason: String)
    /// The backend answered with something we could not understand.
    case badResponse(reason: String)
    /// The action is not allowed for this order (e.g. re-send on an unpaid order).
    case notAllowed(reason: String)

    public var description: String {
        switch self {
        case .unavailable(let reason): return "order backend unavailable: \(reason)"
        case .badResponse(let reason): return "order backend gave an unusable answer: \(reason)"
        case .notAllowed(let reason): return "not allowed: \(reason)"
        }
    }
}

/// Where the bot looks up orders: the demo SQLite store, or a shop's own backend.
///
/// Contacts are compared as redaction tokens (`[EMAIL:3f9a1c]`): the bot only ever sees the
/// token the redactor made of what the customer typed, and the source compares it with the token
/// of the order's contact — neither side handles the address in clear.
public protocol OrderSource: Sendable {
    /// The order, or nil when there is no such order.
    func order(number: String) async throws(OrderSourceError) -> OrderSummary?
    /// Whether `contactToken` (an `[EMAIL:…]` or `[PHONE:…]` token) is the order's purchase contact.
    func verify(number: String, contactToken: String) async throws(OrderSourceError) -> Bool
    /// The most recent orders placed with this contact, newest first.
    func recentOrders(contactToken: String, limit: Int) async throws(OrderSourceError) -> [OrderSummary]
    /// Queues the order's card keys to be e-mailed again to the purchase address.
    func resendCardKeys(number: String) async throws(OrderSourceError) -> ResendReceipt
}

/// Computes the redaction token of a stored contact, exactly as the redactor would for the same
/// value in a customer's message (the relay builds it from its `Redactor`).
public protocol ContactTokenizer: Sendable {
    func token(email: String) -> String
    func token(phone: String) -> String
}
