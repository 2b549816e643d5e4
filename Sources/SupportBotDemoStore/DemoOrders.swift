import Foundation
import SupportBot

/// One seeded demo order, including what only the seeder sees in clear: the contact and the card
/// keys. The store keeps contacts as redaction tokens and keys as keyed hashes.
public struct DemoOrder: Sendable, Hashable {
    public var number: String
    public var status: OrderStatus
    public var productID: String
    public var productName: LocalizedText
    public var amountCents: Int
    public var quantity: Int
    public var email: String
    public var phone: String?
    public var createdAt: Date
    public var paidAt: Date?
    /// Issued card keys (completed orders only).
    public var cardKeys: [String]
}

/// Realistic, deterministic demo data for a dujiaoka-style card-key shop.
public enum DemoOrders {
    struct Product {
        var id: String
        var name: LocalizedText
        var priceCents: Int
        var keyShape: KeyShape
    }

    enum KeyShape { case steam, grouped4x4, plain16, plain12 }

    static let products: [Product] = [
        Product(id: "steam-100", name: LocalizedText(zh: "Steam 钱包充值卡 100 元", en: "Steam Wallet card 100 CNY"),
                priceCents: 9_650, keyShape: .steam),
        Product(id: "appstore-100", name: LocalizedText(zh: "App Store 充值卡 100 元", en: "App Store gift card 100 CNY"),
                priceCents: 9_800, keyShape: .plain16),
        Product(id: "netflix-1m", name: LocalizedText(zh: "Netflix 会员月卡", en: "Netflix 1-month membership"),
                priceCents: 3_900, keyShape: .grouped4x4),
        Product(id: "spotify-1m", name: LocalizedText(zh: "Spotify Premium 月卡", en: "Spotify Premium 1 month"),
                priceCents: 1_500, keyShape: .plain12),
        Product(id: "tencent-video-1m", name: LocalizedText(zh: "腾讯视频 VIP 月卡", en: "Tencent Video VIP 1 month"),
                priceCents: 1_980, keyShape: .plain16),
        Product(id: "gamepass-1m", name: LocalizedText(zh: "Xbox Game Pass Ultimate 1 个月", en: "Xbox Game Pass Ultimate 1 month"),
                priceCents: 6_800, keyShape: .grouped4x4),
        Product(id: "psn-hk-200", name: LocalizedText(zh: "PSN 港服点卡 200 港币", en: "PSN HK$200 card"),
                priceCents: 18_500, keyShape: .plain12),
        Product(id: "googleplay-25", name: LocalizedText(zh: "Google Play 礼品卡 25 美元", en: "Google Play gift card US$25"),
                priceCents: 18_200, keyShape: .grouped4x4),
    ]

    static let customers: [(email: String, phone: String?)] = [
        ("li.wei88@qq.com", "13812345678"), ("zhangmin@163.com", nil), ("alex.chen@gmail.com", "+85291234567"),
        ("wangfang_sz@126.com", "13998765432"), ("kevin.lau@outlook.com", nil), ("xiaoyu2001@qq.com", "15011112222"),
        ("mei.lin@hotmail.com", "+886912345678"), ("chenhao@foxmail.com", "18600001111"), ("sam.wong@yahoo.com.hk", nil),
        ("liuyang_gamer@qq.com", "13700002222"), ("jessica.h@gmail.com", nil), ("zhoujie@sina.com", "13355556666"),
    ]

    /// Generates `count` orders. Every status occurs; some customers have several orders.
    public static func generate(count: Int = 60, seed: UInt64 = 20_260_101, now: Date) -> [DemoOrder] {
        var random = DeterministicRandom(seed: seed)
        let statusCycle: [OrderStatus] = [.completed, .completed, .completed, .waitingForPayment, .completed, .abnormal,
                                          .expired, .completed, .processing, .failed, .pending, .completed]
        var orders: [DemoOrder] = []
        var usedNumbers = Set<String>()
        for index in 0..<count {
            var number = randomString(length: 16, &random)
            while usedNumbers.contains(number) { number = randomString(length: 16, &random) }
            usedNumbers.insert(number)
            let status = statusCycle[index % statusCycle.count]
            let product = products[Int(random.next() % UInt64(products.count))]
            let customer = customers[Int(random.next() % UInt64(customers.count))]
            let quantity = random.next() % 5 == 0 ? 2 : 1
            // Recent orders for the "still processing" path; the rest over the last 30 days.
            let ageSeconds = status == .processing || status == .pending
                ? Double(random.next() % 600) + 60
                : Double(random.next() % (30 * 86_400)) + 3_600
            let createdAt = now.addingTimeInterval(-ageSeconds)
            let paid: Bool = [.completed, .abnormal, .processing, .pending, .failed].contains(status)
            let keys = status == .completed ? (0..<quantity).map { _ in cardKey(product.keyShape, &random) } : []
            orders.append(DemoOrder(
                number: number, status: status, productID: product.id, productName: product.name,
                amountCents: product.priceCents * Int(quantity), quantity: Int(quantity), email: customer.email,
                phone: customer.phone, createdAt: createdAt, paidAt: paid ? createdAt.addingTimeInterval(40) : nil,
                cardKeys: keys))
        }
        return orders
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    private static func randomString(length: Int, _ random: inout DeterministicRandom) -> String {
        String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
    }

    private static func cardKey(_ shape: KeyShape, _ random: inout DeterministicRandom) -> String {
        switch shape {
        case .steam:
            return (0..<3).map { _ in randomString(length: 5, &random) }.joined(separator: "-")
        case .grouped4x4:
            return (0..<4).map { _ in randomString(length: 4, &random) }.joined(separator: "-")
        case .plain16:
            // Same shape as an order number, on purpose: the bot must still never echo it.
            return randomString(length: 16, &random)
        case .plain12:
            return randomString(length: 12, &random)
        }
    }
}
