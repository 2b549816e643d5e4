import Redaction

/// The "masked for your safety" notice shown to the customer after a message had data masked.
public enum RedactionNotice {
    /// E.g. `为了您的安全，卡密、手机号已隐藏。` or `For your safety, the card key and phone number were masked.`
    public static func text(for types: [SecretType], language: String) -> String {
        let unique = types.reduce(into: [SecretType]()) { if !$0.contains($1) { $0.append($1) } }
        if language == "en" {
            let names = unique.map(englishName)
            let list: String
            switch names.count {
            case 0: list = "your data"
            case 1: list = "the " + names[0]
            default: list = "the " + names.dropLast().joined(separator: ", ") + " and " + names.last!
            }
            return "For your safety, \(list) \(names.count > 1 ? "were" : "was") masked. Never send card keys or payment details in chat."
        }
        let list = unique.isEmpty ? "敏感信息" : unique.map(chineseName).joined(separator: "、")
        return "为了您的安全，\(list)已隐藏。请勿在聊天中发送卡密或支付信息。"
    }

    static func chineseName(_ type: SecretType) -> String {
        switch type {
        case .paymentCard: return "银行卡号"
        case .bankAccount: return "银行账号"
        case .cvv: return "安全码"
        case .cardExpiry: return "卡片有效期"
        case .pin: return "密码"
        case .oneTimeCode: return "验证码"
        case .paymentCode: return "付款码"
        case .transactionNumber: return "交易单号"
        case .phone: return "手机号"
        case .email: return "邮箱"
        case .cnResidentID: return "身份证号"
        case .cardKey: return "卡密"
        }
    }

    static func englishName(_ type: SecretType) -> String {
        switch type {
        case .paymentCard: return "card number"
        case .bankAccount: return "bank account number"
        case .cvv: return "security code"
        case .cardExpiry: return "card expiry date"
        case .pin: return "PIN"
        case .oneTimeCode: return "one-time code"
        case .paymentCode: return "payment code"
        case .transactionNumber: return "transaction number"
        case .phone: return "phone number"
        case .email: return "e-mail address"
        case .cnResidentID: return "ID card number"
        case .cardKey: return "card key"
        }
    }
}
