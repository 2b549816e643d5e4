import Foundation
import SupportBot
import SupportBotHTTPOrders
import Testing

/// A scripted backend: answers requests in order and records them.
actor ScriptedTransport: HTTPTransport {
    enum Step { case respond(Int, String), fail }
    private var script: [Step]
    private(set) var requests: [HTTPRequest] = []

    init(_ script: [Step]) { self.script = script }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        requests.append(request)
        guard !script.isEmpty else { throw URLError(.cannotConnectToHost) }
        switch script.removeFirst() {
        case .respond(let status, let body): return HTTPResponse(status: status, body: Data(body.utf8))
        case .fail: throw URLError(.timedOut)
        }
    }
}

/// Records backoff sleeps instead of sleeping.
actor SleepLog {
    private(set) var sleeps: [Duration] = []
    func add(_ duration: Duration) { sleeps.append(duration) }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let start = ContinuousClock.now
    private let offset = LockedValue<Duration>(.zero)
    var now: ContinuousClock.Instant { start + offset.get() }
    func advance(_ duration: Duration) { offset.update { $0 += duration } }
}

/// `Mutex`-free shared value for the test clock; `@unchecked Sendable` is sound because every
/// access goes through the NSLock.
final class LockedValue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func update(_ body: (inout T) -> Void) { lock.lock(); defer { lock.unlock() }; body(&value) }
}

@Suite struct HTTPOrderSourceTests {
    static let orderJSON = """
        {"order_sn":"E7ZK3QX9M2PLA1B4","status":4,"product":{"zh":"Steam 钱包充值卡 100 元","en":"Steam Wallet card 100 CNY"},
         "amount_cents":9650,"currency":"CNY","quantity":1,"created_at":1790000000,"paid_at":1790000040}
        """

    func source(_ transport: ScriptedTransport, sleeps: SleepLog = SleepLog(), breaker: CircuitBreaker? = nil,
                retries: Int = 2) -> HTTPOrderSource {
        var configuration = HTTPOrderSourceConfiguration(baseURL: URL(string: "https://shop.example/api/")!,
                                                         authHeader: ("Authorization", "Bearer test-token"))
        configuration.maxRetries = retries
        configuration.timeout = 1.5
        return HTTPOrderSource(configuration: configuration, transport: transport, breaker: breaker,
                               sleep: { await sleeps.add($0) })
    }

    @Test func looksUpAnOrderWithAuthAndTimeout() async throws {
        let transport = ScriptedTransport([.respond(200, Self.orderJSON)])
        let order = try await source(transport).order(number: "E7ZK3QX9M2PLA1B4")
        #expect(order?.status == .completed)
        #expect(order?.productName.en == "Steam Wallet card 100 CNY")
        #expect(order?.amountCents == 9_650)
        let request = try #require(await transport.requests.first)
        #expect(request.url.absoluteString == "https://shop.example/api/orders/E7ZK3QX9M2PLA1B4")
        #expect(request.headers["Authorization"] == "Bearer test-token")
        #expect(request.timeout == 1.5)
    }

    @Test func unknownOrderIsNil() async throws {
        let order = try await source(ScriptedTransport([.respond(404, "{}")])).order(number: "E7ZK3QX9M2PLA1B4")
        #expect(order == nil)
    }

    @Test func retriesServerErrorsWithExponentialBackoff() async throws {
        let transport = ScriptedTransport([.respond(503, ""), .fail, .respond(200, Self.orderJSON)])
        let sleeps = SleepLog()
        let order = try await source(transport, sleeps: sleeps).order(number: "E7ZK3QX9M2PLA1B4")
        #expect(order != nil)
        #expect(await transport.requests.count == 3)
        #expect(await sleeps.sleeps == [.milliseconds(200), .milliseconds(400)])
    }

    @Test func clientErrorsAreNotRetried() async throws {
        let transport = ScriptedTransport([.respond(400, "{}"), .respond(200, Self.orderJSON)])
        await #expect(throws: OrderSourceError.self) {
            try await source(transport).order(number: "E7ZK3QX9M2PLA1B4")
        }
        #expect(await transport.requests.count == 1)
    }

    @Test func givesUpWithAClearErrorWithoutContent() async throws {
        let transport = ScriptedTransport([.fail, .fail, .fail])
        do {
            _ = try await source(transport).verify(number: "E7ZK3QX9M2PLA1B4", contactToken: "[EMAIL:3f9a1c]")
            Issue.record("expected an error")
        } catch {
            #expect(error == .unavailable(reason: "verify: network error \(URLError.Code.timedOut.rawValue) after 3 attempts"))
            #expect(!error.description.contains("3f9a1c"))
        }
    }

    @Test func circuitOpensFailsFastAndRecovers() async throws {
        let clock = ManualClock()
        let breaker = CircuitBreaker(threshold: 2, openDuration: .seconds(30), now: { clock.now })
        let transport = ScriptedTransport([.fail, .fail, .respond(200, Self.orderJSON)])
        let orders = source(transport, breaker: breaker, retries: 0)
        for _ in 0..<2 { _ = try? await orders.order(number: "E7ZK3QX9M2PLA1B4") }
        #expect(await breaker.state == .open)
        do {
            _ = try await orders.order(number: "E7ZK3QX9M2PLA1B4")
            Issue.record("open circuit let a call through")
        } catch {
            #expect(error.description.contains("circuit open"))
        }
        #expect(await transport.requests.count == 2)   // failed fast: no request
        clock.advance(.seconds(31))
        #expect(await breaker.state == .halfOpen)
        #expect(try await orders.order(number: "E7ZK3QX9M2PLA1B4") != nil)
        #expect(await breaker.state == .closed)
    }

    @Test func malformedJSONIsABadResponse() async throws {
        await #expect(throws: OrderSourceError.badResponse(reason: "order: the JSON does not have the expected fields")) {
            try await source(ScriptedTransport([.respond(200, "{\"order_sn\": 5}")])).order(number: "E7ZK3QX9M2PLA1B4")
        }
    }

    @Test func verifyResendAndRecentOrders() async throws {
        let transport = ScriptedTransport([
            .respond(200, "{\"match\": true}"),
            .respond(202, "{\"queued_at\": 1790000100}"),
            .respond(200, "{\"orders\": [\(Self.orderJSON)]}"),
            .respond(409, "{}"),
        ])
        let orders = source(transport)
        #expect(try await orders.verify(number: "E7ZK3QX9M2PLA1B4", contactToken: "[EMAIL:3f9a1c]"))
        let receipt = try await orders.resendCardKeys(number: "E7ZK3QX9M2PLA1B4")
        #expect(receipt.queuedAt == Date(timeIntervalSince1970: 1_790_000_100))
        #expect(try await orders.recentOrders(contactToken: "[EMAIL:3f9a1c]", limit: 3).map(\.number) == ["E7ZK3QX9M2PLA1B4"])
        await #expect(throws: OrderSourceError.self) { try await orders.resendCardKeys(number: "E7ZK3QX9M2PLA1B4") }
        let requests = await transport.requests
        #expect(requests[0].method == "POST")
        #expect(String(decoding: requests[0].body ?? Data(), as: UTF8.self).contains("[EMAIL:3f9a1c]"))
        #expect(requests[2].url.query?.contains("contact_token=") == true)
    }

    @Test func orderNumbersCannotEscapeThePath() async throws {
        let transport = ScriptedTransport([])
        await #expect(throws: OrderSourceError.self) { try await source(transport).order(number: "../admin") }
        #expect(await transport.requests.isEmpty)
    }

    @Test func botExplainsABackendOutage() async throws {
        let bot = Fixtures.bot(source(ScriptedTransport([.fail, .fail, .fail])))
        var session = BotSession()
        let reply = await bot.respond(to: "check order E7ZK3QX9M2PLA1B4", in: &session, now: Fixtures.now)
        #expect(reply.text.contains("unavailable"))
        #expect(reply.handoff?.reason == .backendUnavailable)
    }
}
