/// The kinds of secret or personal data the redactor recognises.
///
/// The raw values are the names used in policy files, JSON output and placeholders
/// (upper-cased: `[CARD_KEY]`, `[PHONE]`).
public enum SecretType: String, CaseIterable, Sendable, Hashable, Codable {
    /// A payment card number (Luhn-valid PAN).
    case paymentCard = "payment_card"
    /// A bank card or account number given with a keyword, or an IBAN.
    case bankAccount = "bank_account"
    /// A card verification value (CVV / CVC / 安全码).
    case cvv
    /// A card's expiry date (MM/YY near 有效期 / exp).
    case cardExpiry = "card_expiry"
    /// A PIN or payment password (支付密码).
    case pin
    /// A one-time code (验证码 / OTP): a bearer secret.
    case oneTimeCode = "one_time_code"
    /// A payment code (付款码) shown by a wallet app: a bearer secret.
    case paymentCode = "payment_code"
    /// An Alipay / WeChat Pay transaction number: support needs it, so it is tokenised by default.
    case transactionNumber = "transaction_number"
    /// A phone number (Chinese mobile or landline, international E.164).
    case phone
    /// An e-mail address.
    case email
    /// A Chinese resident identity card number (居民身份证).
    case cnResidentID = "cn_resident_id"
    /// A card key (卡密): the product the shop sells.
    case cardKey = "card_key"

    /// The placeholder label, e.g. `CARD_KEY`.
    public var label: String { rawValue.uppercased() }
}

/// What the redactor does with a finding.
public enum RedactionAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Replace with a typed placeholder such as `[PHONE]`.
    case mask
    /// Keep the last few characters, e.g. `[PAYMENT_CARD:…1234]`.
    case partial
    /// Replace with a stable keyed pseudonym, e.g. `[PHONE:3f9a1c]`.
    case token
}
