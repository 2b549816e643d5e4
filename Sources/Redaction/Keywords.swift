/// The contexts a keyword can establish for a nearby candidate.
enum KeywordContext: Int, CaseIterable {
    case paymentCard, bankAccount, cvv, expiry, pin, oneTimeCode, paymentCode, transaction
    case phone, residentID, cardKey, cardKeyOrAccount, nonSecret

    static func forType(_ type: SecretType) -> KeywordContext {
        switch type {
        case .paymentCard: return .paymentCard
        case .bankAccount: return .bankAccount
        case .cvv: return .cvv
        case .cardExpiry: return .expiry
        case .pin: return .pin
        case .oneTimeCode: return .oneTimeCode
        case .paymentCode: return .paymentCode
        case .transactionNumber: return .transaction
        case .phone: return .phone
        case .email: return .phone  // no e-mail keywords are needed; harmless
        case .cnResidentID: return .residentID
        case .cardKey: return .cardKey
        }
    }
}

/// A set of ``KeywordContext``s as a bit mask (no allocation in the hot path).
struct ContextSet: OptionSet {
    let rawValue: UInt16
    init(rawValue: UInt16) { self.rawValue = rawValue }
    init(_ context: KeywordContext) { rawValue = 1 << UInt16(context.rawValue) }
    static let paymentCard = ContextSet(.paymentCard)
    static let bankAccount = ContextSet(.bankAccount)
    static let cvv = ContextSet(.cvv)
    static let expiry = ContextSet(.expiry)
    static let pin = ContextSet(.pin)
    static let oneTimeCode = ContextSet(.oneTimeCode)
    static let paymentCode = ContextSet(.paymentCode)
    static let transaction = ContextSet(.transaction)
    static let phone = ContextSet(.phone)
    static let residentID = ContextSet(.residentID)
    static let cardKey = ContextSet(.cardKey)
    static let cardKeyOrAccount = ContextSet(.cardKeyOrAccount)
    static let nonSecret = ContextSet(.nonSecret)
}

/// Built-in keyword lists, in Chinese (simplified and traditional) and English.
/// Matching is on the shadow text, so ASCII keywords are upper-case here.
enum BuiltInKeywords {
    static let lists: [KeywordContext: [String]] = [
        .paymentCard: ["信用卡", "储蓄卡", "借记卡", "银联卡", "银联", "信用卡号", "CARD NUMBER", "CARD NO",
                       "CARD#", "CREDIT CARD", "DEBIT CARD", "VISA", "MASTERCARD", "AMEX", "UNIONPAY", "PAN"],
        .bankAccount: ["银行卡", "银行卡号", "银行账号", "银行帐号", "账号", "帳號", "帐号", "账户", "帳戶", "帐户",
                       "收款账户", "户号", "对公账户", "ACCOUNT", "ACCOUNT NO", "ACCOUNT NUMBER", "ACCT", "IBAN",
                       "BANK ACCOUNT", "BANK CARD"],
        .cvv: ["CVV", "CVC", "CVV2", "CVC2", "CID", "安全码", "安全碼", "背面", "后三位", "後三位", "三位数", "三位數",
               "三位码", "SECURITY CODE", "CARD VERIFICATION", "DIGITS ON THE BACK", "NUMBER ON THE BACK",
               "ON THE BACK"],
        .expiry: ["有效期", "有效期至", "到期", "过期时间", "有效日期", "失效日期", "EXP", "EXPIRY", "EXPIRES",
                  "EXPIRATION", "EXPIRE", "VALID THRU", "VALID THROUGH", "VALID UNTIL", "GOOD THRU"],
        .pin: ["PIN", "PIN CODE", "支付密码", "取款密码", "银行卡密码", "交易密码", "支付密碼", "密码", "密碼",
               "PASSCODE", "PASSWORD"],
        .oneTimeCode: ["验证码", "驗證碼", "校验码", "校驗碼", "动态码", "動態碼", "短信码", "短信验证码", "动态密码",
                       "确认码", "OTP", "VERIFICATION CODE", "VERIFY CODE", "2FA", "ONE-TIME", "ONE TIME",
                       "SMS CODE", "CODE IS", "CODE:", "THE CODE", "AUTH CODE", "CONFIRMATION CODE"],
        .paymentCode: ["付款码", "付款碼", "付款条码", "付钱码", "支付码", "PAYMENT CODE", "PAY CODE", "PAYCODE"],
        .transaction: ["交易号", "交易號", "交易单号", "交易編號", "支付宝订单号", "微信支付单号", "微信订单号",
                       "商户单号", "商户订单号", "流水号", "支付单号", "转账单号", "订单号", "訂單號", "TRANSACTION",
                       "TRANSACTION ID", "TRADE NO", "TRADE NUMBER", "TXN", "TX ID", "TXID"],
        .phone: ["手机", "手機", "电话", "電話", "手机号", "联系方式", "联系电话", "座机", "固话", "固定电话", "微信同号", "号码", "號碼", "TEL", "PHONE",
                 "MOBILE", "CALL ME", "CELL", "WHATSAPP", "SMS", "TEXT ME"],
        .residentID: ["身份证", "身份證", "身份证号", "证件号", "证件号码", "ID CARD", "ID NUMBER", "ID NO",
                      "IDENTITY CARD", "RESIDENT ID"],
        .cardKey: ["卡密", "激活码", "激活碼", "兑换码", "兌換碼", "充值码", "充值卡密", "提货码", "卡券", "券码", "CDK",
                   "CDKEY", "CD KEY", "KEY", "CODE", "SERIAL", "SERIAL NUMBER", "序列号", "序號", "注册码",
                   "授权码", "LICENSE", "LICENCE", "LICENSE KEY", "GIFT CARD", "REDEEM", "REDEMPTION", "PRODUCT KEY",
                   "ACTIVATION", "VOUCHER", "PIN"],
        .cardKeyOrAccount: ["卡号", "卡號"],
        // Identifiers that are not secrets: a token right after these is left alone.
        .nonSecret: ["快递单号", "运单号", "物流单号", "快递", "顺丰", "圆通", "中通", "韵达", "申通", "工单", "工单号",
                     "TRACKING", "TRACKING NUMBER", "TRACKING NO", "WAYBILL", "TICKET", "SKU", "MODEL"],
    ]
}

/// Finds keyword occurrences in a shadow text.
///
/// A first-scalar bitmap over the BMP rejects almost every position with one array read, so the
/// scan costs about one memory load per scalar; only positions that can start a keyword look at
/// the candidate list.
struct KeywordMatcher: Sendable {
    /// A keyword occurrence in shadow coordinates.
    struct Hit {
        var context: KeywordContext
        var start: Int
        var end: Int
    }

    /// One keyword: where its scalars sit in `pool`, and what it means.
    struct Entry: Sendable {
        var offset: Int32
        var length: Int32
        var context: KeywordContext
        /// ASCII keywords must start and end at a word boundary ("EXP" must not match "EXPRESS").
        var needsWordBoundary: Bool
    }

    /// Flat storage, so the scan touches no reference-counted element.
    private let pool: [UInt32]
    private let entries: [Entry]
    /// For each bucket: the range of `entries` (longest keyword first).
    private let buckets: [Range<Int32>]
    /// Bucket index by first scalar: ASCII directly, others through a dictionary built once.
    private let asciiBucket: [Int32]
    /// Open-addressing table for non-ASCII first scalars: (scalar, bucket) pairs, `mask + 1` slots.
    private let otherKeys: [UInt32]
    private let otherValues: [Int32]
    private let otherMask: Int
    /// 65536 bits: can this BMP scalar start a keyword?
    private let startBits: [UInt64]
    /// The longest keyword, in scalars.
    let maxLength: Int

    init(lists: [KeywordContext: [String]]) {
        var byFirst: [UInt32: [(scalars: [UInt32], context: KeywordContext, ascii: Bool)]] = [:]
        // Deterministic order (dictionary order is random per process).
        for context in KeywordContext.allCases {
            for word in lists[context] ?? [] {
                let scalars = word.unicodeScalars.map { ShadowText.fold($0.value) }.filter { $0 != ShadowText.removed }
                guard let first = scalars.first else { continue }
                byFirst[first, default: []].append((scalars, context, scalars.allSatisfy { $0 < 0x80 }))
            }
        }
        var pool: [UInt32] = [], entries: [Entry] = [], buckets: [Range<Int32>] = []
        var asciiBucket = [Int32](repeating: -1, count: 128)
        var otherBucket: [UInt32: Int32] = [:]
        var startBits = [UInt64](repeating: 0, count: 1024)
        for first in byFirst.keys.sorted() {
            // Longest first, so "银行卡号" wins over "银行卡" at the same position.
            let words = byFirst[first]!.sorted { ($0.scalars.count, $0.context.rawValue) > ($1.scalars.count, $1.context.rawValue) }
            let begin = Int32(entries.count)
            for w in words {
                entries.append(Entry(offset: Int32(pool.count), length: Int32(w.scalars.count), context: w.context,
                                     needsWordBoundary: w.ascii))
                pool.append(contentsOf: w.scalars)
            }
            let bucket = Int32(buckets.count)
            buckets.append(begin..<Int32(entries.count))
            if first < 128 { asciiBucket[Int(first)] = bucket } else { otherBucket[first] = bucket }
            if first < 65536 { startBits[Int(first >> 6)] |= 1 << UInt64(first & 63) }
        }
        self.pool = pool
        self.entries = entries
        self.buckets = buckets
        self.asciiBucket = asciiBucket
        var size = 16
        while size < otherBucket.count * 4 { size <<= 1 }
        var keys = [UInt32](repeating: 0, count: size), values = [Int32](repeating: -1, count: size)
        for (scalar, bucket) in otherBucket {
            var slot = KeywordMatcher.slot(scalar, mask: size - 1)
            while values[slot] >= 0 { slot = (slot + 1) & (size - 1) }
            keys[slot] = scalar
            values[slot] = bucket
        }
        self.otherKeys = keys
        self.otherValues = values
        self.otherMask = size - 1
        self.startBits = startBits
        self.maxLength = entries.map { Int($0.length) }.max() ?? 0
    }

    @inline(__always) static func slot(_ scalar: UInt32, mask: Int) -> Int {
        Int(truncatingIfNeeded: (scalar &* 0x9E37_79B1) >> 16) & mask
    }

    @inline(__always) func otherBucket(_ scalar: UInt32) -> Int32 {
        var slot = KeywordMatcher.slot(scalar, mask: otherMask)
        while true {
            let value = otherValues[slot]
            if value < 0 { return -1 }
            if otherKeys[slot] == scalar { return value }
            slot = (slot + 1) & otherMask
        }
    }

    /// All keyword hits in `text`, in order of position. At one position the longest keyword wins;
    /// other contexts of the same length are reported too (PIN is both a PIN and a key keyword).
    func hits(in text: [UInt32]) -> [Hit] {
        var result: [Hit] = []
        let n = text.count
        text.withUnsafeBufferPointer { t in
            pool.withUnsafeBufferPointer { pool in
                entries.withUnsafeBufferPointer { entries in
                    startBits.withUnsafeBufferPointer { bits in
                        var i = 0
                        while i < n {
                            let c = t[i]
                            guard c < 65536, (bits[Int(c >> 6)] >> UInt64(c & 63)) & 1 == 1 else { i += 1; continue }
                            // ASCII keywords start at a word boundary: skip letters inside words.
                            if c < 128, i > 0, CharClass.isLetter(c), CharClass.isLetter(t[i - 1]) { i += 1; continue }
                            let bucket = c < 128 ? asciiBucket[Int(c)] : otherBucket(c)
                            guard bucket >= 0 else { i += 1; continue }
                            var matched = 0
                            for e in buckets[Int(bucket)] {
                                let entry = entries[Int(e)]
                                let k = Int(entry.length)
                                if matched > k { break }
                                guard i + k <= n else { continue }
                                let o = Int(entry.offset)
                                var j = 1
                                while j < k && t[i + j] == pool[o + j] { j += 1 }
                                guard j == k else { continue }
                                if entry.needsWordBoundary, i + k < n, CharClass.isLetter(t[i + k]),
                                   CharClass.isLetter(pool[o + k - 1]) { continue }
                                result.append(Hit(context: entry.context, start: i, end: i + k))
                                matched = k
                            }
                            i += 1
                        }
                    }
                }
            }
        }
        return result
    }
}
