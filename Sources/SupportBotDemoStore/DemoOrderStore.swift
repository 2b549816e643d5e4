import Foundation
import GRDB
import Redaction
import SupportBot

/// The demo shop's orders in SQLite (dujiaoka-like), behind ``OrderSource``.
///
/// What it holds: order number, status, product, amount, times; the purchase contact only as
/// redaction tokens (so verification compares token with token); issued card keys only as keyed
/// hashes (enough to recognise a key, never to show one); an outbox of re-send requests that the
/// shop's mailer works through.
public struct DemoOrderStore: OrderSource {
    private let database: DatabaseQueue

    /// Why the store could not be opened or seeded.
    public struct StoreError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// An in-memory store seeded with ``DemoOrders/generate(count:seed:now:)``.
    /// - Parameters:
    ///   - tokenizer: makes the same tokens the redactor makes of a customer's e-mail or phone.
    ///   - keyHasher: keyed hash for the issued card keys.
    public static func seeded(orders: [DemoOrder], tokenizer: any ContactTokenizer,
                              keyHasher: any KeyedHasher) throws(StoreError) -> DemoOrderStore {
        do {
            let database = try DatabaseQueue()
            try migrate(database)
            try database.write { db in
                for order in orders {
                    try db.execute(sql: """
                        INSERT INTO orders (order_sn, status, product_id, product_zh, product_en, amount_cents, quantity,
                                            email_token, phone_token, created_at, paid_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [order.number, order.status.rawValue, order.productID, order.productName.zh,
                                         order.productName.en, order.amountCents, order.quantity,
                                         tokenizer.token(email: order.email), order.phone.map(tokenizer.token(phone:)),
                                         order.createdAt.timeIntervalSince1970, order.paidAt?.timeIntervalSince1970])
                    for key in order.cardKeys {
                        try db.execute(sql: "INSERT INTO issued_keys (order_sn, key_digest) VALUES (?, ?)",
                                       arguments: [order.number, Data(keyHasher.digest(Array(key.utf8)))])
                    }
                }
            }
            return DemoOrderStore(database: database)
        } catch {
            throw StoreError(description: "cannot create the demo order store (SQLite error)")
        }
    }

    private init(database: DatabaseQueue) {
        self.database = database
    }

    private static func migrate(_ database: DatabaseQueue) throws {
        try database.write { db in
            try db.execute(sql: """
                CREATE TABLE orders (
                    order_sn TEXT PRIMARY KEY NOT NULL,
                    status INTEGER NOT NULL,
                    product_id TEXT NOT NULL,
                    product_zh TEXT NOT NULL,
                    product_en TEXT NOT NULL,
                    amount_cents INTEGER NOT NULL,
                    quantity INTEGER NOT NULL,
                    email_token TEXT NOT NULL,
                    phone_token TEXT,
                    created_at DOUBLE NOT NULL,
                    paid_at DOUBLE
                );
                CREATE INDEX orders_email ON orders(email_token);
                CREATE INDEX orders_phone ON orders(phone_token);
                CREATE TABLE issued_keys (
                    order_sn TEXT NOT NULL REFERENCES orders(order_sn),
                    key_digest BLOB NOT NULL
                );
                CREATE TABLE outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    order_sn TEXT NOT NULL REFERENCES orders(order_sn),
                    channel TEXT NOT NULL,
                    queued_at DOUBLE NOT NULL
                );
                """)
        }
    }

    // MARK: - OrderSource

    public func order(number: String) async throws(OrderSourceError) -> OrderSummary? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM orders WHERE order_sn = ?", arguments: [number]).map(Self.summary)
        }
    }

    public func verify(number: String, contactToken: String) async throws(OrderSourceError) -> Bool {
        let contacts = try await read { db -> (email: String, phone: String?)? in
            try Row.fetchOne(db, sql: "SELECT email_token, phone_token FROM orders WHERE order_sn = ?", arguments: [number])
                .map { (email: $0["email_token"], phone: $0["phone_token"]) }
        }
        guard let (email, phone) = contacts else { return false }
        // Evaluate both comparisons so timing does not tell which one matched.
        let emailMatches = Self.constantTimeEqual(email, contactToken)
        let phoneMatches = phone.map { Self.constantTimeEqual($0, contactToken) } ?? false
        return emailMatches || phoneMatches
    }

    public func recentOrders(contactToken: String, limit: Int) async throws(OrderSourceError) -> [OrderSummary] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM orders WHERE email_token = ? OR phone_token = ?
                ORDER BY created_at DESC LIMIT ?
                """, arguments: [contactToken, contactToken, limit]).map(Self.summary)
        }
    }

    public func resendCardKeys(number: String) async throws(OrderSourceError) -> ResendReceipt {
        let now = Date()
        let allowed: Bool
        do {
            allowed = try await database.write { db -> Bool in
                guard let status = try Int.fetchOne(db, sql: "SELECT status FROM orders WHERE order_sn = ?", arguments: [number]),
                      status == OrderStatus.completed.rawValue else { return false }
                try db.execute(sql: "INSERT INTO outbox (order_sn, channel, queued_at) VALUES (?, 'email', ?)",
                               arguments: [number, now.timeIntervalSince1970])
                return true
            }
        } catch {
            throw .unavailable(reason: "demo store write failed")
        }
        guard allowed else { throw .notAllowed(reason: "only completed orders have card keys to re-send") }
        return ResendReceipt(orderNumber: number, queuedAt: now)
    }

    // MARK: - Inspection (tests, `bot chat`)

    /// Retention of the outbox: removes (a dry run: counts) re-send requests queued before
    /// `cutoff`, sent or not. The compliance sweeper calls this as a `DeliveryOutbox`.
    public func removeOutboxRecords(queuedBefore cutoff: Date, dryRun: Bool) throws(StoreError) -> Int {
        do {
            if dryRun {
                return try database.read { db in
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE queued_at < ?", arguments: [cutoff.timeIntervalSince1970]) ?? 0
                }
            }
            return try database.write { db in
                try db.execute(sql: "DELETE FROM outbox WHERE queued_at < ?", arguments: [cutoff.timeIntervalSince1970])
                return db.changesCount
            }
        } catch {
            throw StoreError(description: "cannot clean the outbox")
        }
    }

    /// Re-send requests queued so far: (order number, channel).
    public func outbox() throws(StoreError) -> [(orderNumber: String, channel: String)] {
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: "SELECT order_sn, channel FROM outbox ORDER BY id").map {
                    (orderNumber: $0["order_sn"], channel: $0["channel"])
                }
            }
        } catch {
            throw StoreError(description: "cannot read the outbox")
        }
    }

    /// Whether `key` is one this shop issued (compared by keyed hash; the store has no clear keys).
    public func isIssuedKey(_ key: String, hasher: any KeyedHasher) throws(StoreError) -> Bool {
        let digest = Data(hasher.digest(Array(key.utf8)))
        do {
            return try database.read { db in
                try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM issued_keys WHERE key_digest = ?)",
                                  arguments: [digest]) ?? false
            }
        } catch {
            throw StoreError(description: "cannot read issued keys")
        }
    }

    /// Every text value stored in the database, for tests that prove no clear key or contact is kept.
    public func allStoredText() throws(StoreError) -> [String] {
        do {
            return try database.read { db in
                var texts: [String] = []
                for table in ["orders", "issued_keys", "outbox"] {
                    for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table)") {
                        for (_, value) in row {
                            switch value.storage {
                            case .string(let text): texts.append(text)
                            case .blob(let data): texts.append(String(decoding: data, as: UTF8.self))
                            default: break
                            }
                        }
                    }
                }
                return texts
            }
        } catch {
            throw StoreError(description: "cannot read the store")
        }
    }

    // MARK: - Helpers

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(OrderSourceError) -> T {
        do {
            return try await database.read(body)
        } catch {
            throw .unavailable(reason: "demo store read failed")
        }
    }

    private static func summary(_ row: Row) -> OrderSummary {
        let paid: Double? = row["paid_at"]
        return OrderSummary(
            number: row["order_sn"], status: OrderStatus(rawValue: row["status"]) ?? .failed,
            productName: LocalizedText(zh: row["product_zh"], en: row["product_en"]), productID: row["product_id"],
            amountCents: row["amount_cents"], quantity: row["quantity"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            paidAt: paid.map(Date.init(timeIntervalSince1970:)))
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}

/// Tokens of the form the redactor's `token` action produces, computed with a keyed hash:
/// `[EMAIL:` + first 6 hex digits of the keyed hash of the normalised value + `]`.
/// For tests and offline tools; the relay uses ``RedactorContactTokenizer`` so the tokens are
/// exactly the redactor's.
public struct KeyedContactTokenizer: ContactTokenizer {
    let hasher: any KeyedHasher
    public init(hasher: any KeyedHasher) { self.hasher = hasher }

    public func token(email: String) -> String {
        "[EMAIL:\(hex(email.lowercased()))]"
    }

    public func token(phone: String) -> String {
        "[PHONE:\(hex(String(phone.unicodeScalars.filter { $0.properties.numericType != nil || $0 == "+" })))]"
    }

    private func hex(_ value: String) -> String {
        hasher.digest(Array(value.utf8)).prefix(3).map { String(format: "%02x", $0) }.joined()
    }
}

/// Tokens made by the relay's own ``Redactor``: the stored contact is redacted on its own and
/// the resulting placeholder is the token. Whatever normalisation the redactor applies to a
/// customer's message, it applies here too, so the two sides agree.
public struct RedactorContactTokenizer: ContactTokenizer {
    let redactor: Redactor
    public init(redactor: Redactor) { self.redactor = redactor }

    public func token(email: String) -> String {
        redactor.redact(email).text.trimmingCharacters(in: .whitespaces)
    }

    public func token(phone: String) -> String {
        redactor.redact(phone).text.trimmingCharacters(in: .whitespaces)
    }
}
