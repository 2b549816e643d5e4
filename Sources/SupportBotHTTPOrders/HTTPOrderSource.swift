import Foundation
import SupportBot

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP request as the order source makes it (kept small so tests can fake the transport).
public struct HTTPRequest: Sendable, Hashable {
    public var method: String
    public var url: URL
    public var headers: [String: String]
    public var body: Data?
    public var timeout: TimeInterval
}

public struct HTTPResponse: Sendable, Hashable {
    public var status: Int
    public var body: Data
    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }
}

/// Sends one request. Throws for transport failures (connection refused, timeout …).
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// The default transport: Foundation's `URLSession`.
public struct URLSessionTransport: HTTPTransport {
    public init() {}

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var urlRequest = URLRequest(url: request.url, timeoutInterval: request.timeout)
        urlRequest.httpMethod = request.method
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        urlRequest.httpBody = request.body
        return try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: urlRequest) { data, response, error in
                if let error {
                    continuation.resume(throwing: error)
                } else if let http = response as? HTTPURLResponse {
                    continuation.resume(returning: HTTPResponse(status: http.statusCode, body: data ?? Data()))
                } else {
                    continuation.resume(throwing: URLError(.badServerResponse))
                }
            }.resume()
        }
    }
}

/// Settings for a shop's own order backend.
public struct HTTPOrderSourceConfiguration: Sendable {
    /// e.g. `https://shop.example/api/kamirelay`; endpoints are appended (see ``HTTPOrderSource``).
    public var baseURL: URL
    /// An authentication header sent with every request, e.g. `("Authorization", "Bearer …")`.
    public var authHeader: (name: String, value: String)?
    /// Per-request timeout.
    public var timeout: TimeInterval = 3
    /// Retries after the first attempt, for transport errors, 5xx and 429 only.
    public var maxRetries = 2
    /// Backoff before retry n (0-based) is `initialBackoff × 2ⁿ`, at most `maxBackoff`.
    public var initialBackoff: Duration = .milliseconds(200)
    public var maxBackoff: Duration = .seconds(2)
    /// Consecutive failed calls (after retries) that open the circuit.
    public var failureThreshold = 5
    /// How long an open circuit fails fast before one trial call is let through.
    public var openDuration: Duration = .seconds(30)

    public init(baseURL: URL, authHeader: (name: String, value: String)? = nil) {
        self.baseURL = baseURL
        self.authHeader = authHeader
    }
}

/// A circuit breaker: after `threshold` consecutive failures, calls fail fast for `openDuration`;
/// then one trial call decides whether to close again.
public actor CircuitBreaker {
    public enum State: Sendable, Hashable { case closed, open, halfOpen }

    private let threshold: Int
    private let openDuration: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private var failures = 0
    private var openedAt: ContinuousClock.Instant?
    private var trialInFlight = false

    public init(threshold: Int, openDuration: Duration,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.threshold = max(1, threshold)
        self.openDuration = openDuration
        self.now = now
    }

    public var state: State {
        guard let openedAt else { return .closed }
        return now() - openedAt >= openDuration ? .halfOpen : .open
    }

    /// Whether a call may go ahead now.
    func allow() -> Bool {
        switch state {
        case .closed: return true
        case .open: return false
        case .halfOpen:
            if trialInFlight { return false }
            trialInFlight = true
            return true
        }
    }

    func record(success: Bool) {
        trialInFlight = false
        if success {
            failures = 0
            openedAt = nil
        } else {
            failures += 1
            if failures >= threshold || openedAt != nil { openedAt = now() }
        }
    }
}

/// ``OrderSource`` over a shop's own backend, speaking JSON:
///
/// | call | request | success |
/// |---|---|---|
/// | order | `GET {base}/orders/{number}` | 200 order object; 404 → no such order |
/// | verify | `POST {base}/orders/{number}/verify` `{"contact_token": "[EMAIL:…]"}` | 200 `{"match": bool}` |
/// | recent | `GET {base}/orders?contact_token=…&limit=N` | 200 `{"orders": [order, …]}` |
/// | resend | `POST {base}/orders/{number}/resend` | 200/202 `{"queued_at": epoch}`; 409 → not allowed |
///
/// An order object: `{"order_sn", "status" (dujiaoka 1…6/-1), "product": {"zh", "en"}, "product_id"?,
/// "amount_cents", "currency", "quantity", "created_at", "paid_at"}` (times in epoch seconds).
/// No card keys and no contact details, ever: the bot does not need them.
public struct HTTPOrderSource: OrderSource {
    public let configuration: HTTPOrderSourceConfiguration
    let transport: any HTTPTransport
    let breaker: CircuitBreaker
    let sleep: @Sendable (Duration) async -> Void

    public init(configuration: HTTPOrderSourceConfiguration, transport: any HTTPTransport = URLSessionTransport(),
                breaker: CircuitBreaker? = nil,
                sleep: @escaping @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }) {
        self.configuration = configuration
        self.transport = transport
        self.breaker = breaker ?? CircuitBreaker(threshold: configuration.failureThreshold,
                                                 openDuration: configuration.openDuration)
        self.sleep = sleep
    }

    struct OrderBody: Codable {
        struct Product: Codable { var zh: String; var en: String }
        var order_sn: String
        var status: Int
        var product: Product
        var product_id: String?
        var amount_cents: Int
        var currency: String?
        var quantity: Int?
        var created_at: Double
        var paid_at: Double?

        func summary() throws(OrderSourceError) -> OrderSummary {
            guard let status = OrderStatus(rawValue: status) else { throw .badResponse(reason: "unknown order status") }
            return OrderSummary(number: order_sn, status: status, productName: LocalizedText(zh: product.zh, en: product.en),
                                productID: product_id, amountCents: amount_cents, currency: currency ?? "CNY", quantity: quantity ?? 1,
                                createdAt: Date(timeIntervalSince1970: created_at),
                                paidAt: paid_at.map(Date.init(timeIntervalSince1970:)))
        }
    }

    public func order(number: String) async throws(OrderSourceError) -> OrderSummary? {
        let response = try await call("GET", path: "orders/\(try Self.pathComponent(number))", body: nil, call: "order")
        if response.status == 404 { return nil }
        try Self.expect(response, [200], call: "order")
        return try Self.decode(OrderBody.self, response.body, call: "order").summary()
    }

    public func verify(number: String, contactToken: String) async throws(OrderSourceError) -> Bool {
        struct Body: Codable { var contact_token: String }
        struct Answer: Codable { var match: Bool }
        let body = try? JSONEncoder().encode(Body(contact_token: contactToken))
        let response = try await call("POST", path: "orders/\(try Self.pathComponent(number))/verify", body: body,
                                      call: "verify")
        if response.status == 404 { return false }
        try Self.expect(response, [200], call: "verify")
        return try Self.decode(Answer.self, response.body, call: "verify").match
    }

    public func recentOrders(contactToken: String, limit: Int) async throws(OrderSourceError) -> [OrderSummary] {
        struct Answer: Codable { var orders: [OrderBody] }
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "contact_token", value: contactToken),
                                 URLQueryItem(name: "limit", value: String(limit))]
        let query = components.percentEncodedQuery ?? ""
        let response = try await call("GET", path: "orders?\(query)", body: nil, call: "recent orders")
        try Self.expect(response, [200], call: "recent orders")
        var orders: [OrderSummary] = []
        for order in try Self.decode(Answer.self, response.body, call: "recent orders").orders {
            orders.append(try order.summary())
        }
        return orders
    }

    public func resendCardKeys(number: String) async throws(OrderSourceError) -> ResendReceipt {
        struct Answer: Codable { var queued_at: Double? }
        let response = try await call("POST", path: "orders/\(try Self.pathComponent(number))/resend", body: Data("{}".utf8),
                                      call: "resend")
        if response.status == 409 || response.status == 422 {
            throw .notAllowed(reason: "the shop refused the re-send for this order")
        }
        try Self.expect(response, [200, 202], call: "resend")
        let answer = try? JSONDecoder().decode(Answer.self, from: response.body)
        return ResendReceipt(orderNumber: number,
                             queuedAt: answer?.queued_at.map(Date.init(timeIntervalSince1970:)) ?? Date())
    }

    // MARK: - Transport with retries and circuit breaker

    private func call(_ method: String, path: String, body: Data?, call: String) async throws(OrderSourceError) -> HTTPResponse {
        guard await breaker.allow() else {
            throw .unavailable(reason: "\(call): circuit open after repeated failures")
        }
        guard let url = URL(string: configuration.baseURL.absoluteString.trimmingSuffix("/") + "/" + path) else {
            await breaker.record(success: false)
            throw .badResponse(reason: "\(call): cannot build the request URL")
        }
        var headers = ["Accept": "application/json"]
        if body != nil { headers["Content-Type"] = "application/json" }
        if let auth = configuration.authHeader { headers[auth.name] = auth.value }
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: configuration.timeout)
        var lastProblem = "no attempt"
        for attempt in 0...max(0, configuration.maxRetries) {
            if attempt > 0 { await sleep(backoff(before: attempt - 1)) }
            do {
                let response = try await transport.send(request)
                if response.status >= 500 || response.status == 429 {
                    lastProblem = "HTTP \(response.status)"
                    continue
                }
                await breaker.record(success: true)
                return response
            } catch {
                // The transport error's text may contain the URL (and so a contact token); keep only its kind.
                lastProblem = (error as? URLError).map { "network error \($0.code.rawValue)" } ?? "network error"
            }
        }
        await breaker.record(success: false)
        throw .unavailable(reason: "\(call): \(lastProblem) after \(configuration.maxRetries + 1) attempts")
    }

    func backoff(before retry: Int) -> Duration {
        let factor = 1 << min(retry, 16)
        return min(configuration.initialBackoff * factor, configuration.maxBackoff)
    }

    private static func expect(_ response: HTTPResponse, _ statuses: Set<Int>, call: String) throws(OrderSourceError) {
        guard statuses.contains(response.status) else {
            throw .badResponse(reason: "\(call): unexpected HTTP \(response.status)")
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ data: Data, call: String) throws(OrderSourceError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw .badResponse(reason: "\(call): the JSON does not have the expected fields")
        }
    }

    /// Order numbers go into the URL path: letters, digits and `-`/`_` only.
    private static func pathComponent(_ number: String) throws(OrderSourceError) -> String {
        guard !number.isEmpty, number.count <= 64,
              number.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "-" || $0 == "_") })
        else { throw .notAllowed(reason: "not a valid order number") }
        return number
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
