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
        .phone: ["手机", "手機", "电话", "電話", "手机号", "联系方式", "联系电话", "号码", "號碼", "TEL", "PHONE",
                 "MOBILE", "CALL ME", "CELL", "WHATSAPP", "SMS", "TEXT ME"],
        .residentID: ["身份证", "身份證", "身份证号", "证件号", "证件号码", "ID CARD", "ID NUMBER", "ID NO",
                      "IDENTITY CARD", "RESIDENT ID"],
        .cardKey: ["卡密", "激活码", "激活碼", "兑换码", "兌換碼", "充值码", "充值卡密", "提货码", "卡券", "券码", "CDK",
                   "CDKEY", "CD KEY", "KEY", "CODE", "SERIAL", "SERIAL NUMBER", "序列号", "序號", "注册码",
                   "授权码", "LICENSE", "LICENCE", "LICENSE KEY", "GIFT CARD", "REDEEM", "REDEMPTION", "PRODUCT KEY",
                   "ACTIVATION", "VOUCHER", "PIN"],
        .cardKeyOrAccount: ["卡号", "卡號"],
    ]
}

/// Finds keyword occurrences in a shadow text.
///
/// A first-scalar bitmap over the BMP rejects almost every position with one array read, so the
/// scan costs about one memory load per scalar; only positions that can start a keyword look at
/// the candidate list.
struct KeywordMatcher: Sendable {
    struct Keyword: Sendable {
        var scalars: [UInt32]
        var context: KeywordContext
        /// ASCII keywords must start and end at a word boundary ("EXP" must not match "EXPRESS").
        var needsWordBoundary: Bool
    }

    /// A keyword occurrence in shadow coordinates.
    struct Hit {
        var context: KeywordContext
        var start: Int
        var end: Int
    }

    private var startBits: [UInt64]  // 65536 bits
    private var byFirst: [UInt32: [Keyword]]

    init(lists: [KeywordContext: [String]]) {
        startBits = [UInt64](repeating: 0, count: 1024)
        byFirst = [:]
        for (context, words) in lists {
            for word in words {
                let scalars = word.unicodeScalars.map { ShadowText.fold($0.value) }.filter { $0 != ShadowText.removed }
                guard let first = scalars.first else { continue }
                let ascii = scalars.allSatisfy { $0 < 0x80 }
                byFirst[first, default: []].append(Keyword(scalars: scalars, context: context, needsWordBoundary: ascii))
                if first < 65536 { startBits[Int(first >> 6)] |= 1 << UInt64(first & 63) }
            }
        }
        // Longest first, so "银行卡号" wins over "银行卡" at the same position.
        for key in byFirst.keys { byFirst[key]!.sort { $0.scalars.count > $1.scalars.count } }
    }

    /// All keyword hits in `text`, in order of position. Overlapping hits of different contexts are
    /// all reported (卡号 is both a card-key and an account keyword).
    func hits(in text: [UInt32]) -> [Hit] {
        var result: [Hit] = []
        let n = text.count
        var i = 0
        while i < n {
            let c = text[i]
            if c < 65536, (startBits[Int(c >> 6)] >> UInt64(c & 63)) & 1 == 1, let candidates = byFirst[c] {
                var matchedLength = 0
                for keyword in candidates {
                    let k = keyword.scalars
                    guard i + k.count <= n else { continue }
                    if matchedLength > k.count { break }
                    var j = 1
                    while j < k.count && text[i + j] == k[j] { j += 1 }
                    guard j == k.count else { continue }
                    if keyword.needsWordBoundary {
                        if i > 0 && CharClass.isLetter(text[i - 1]) { continue }
                        if i + k.count < n && CharClass.isLetter(text[i + k.count]) && CharClass.isLetter(k[k.count - 1]) { continue }
                    }
                    result.append(Hit(context: keyword.context, start: i, end: i + k.count))
                    matchedLength = k.count
                }
            }
            i += 1
        }
        return result
    }
}
