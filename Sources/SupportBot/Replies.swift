/// The bot's own reply texts (FAQ answers come from the knowledge base). `{shop_name}` and other
/// tenant variables are filled in; `%order%`, `%status%` … are filled by the dialogue.
enum Replies {
    typealias T = LocalizedText

    static let apology = T(zh: "非常抱歉给您带来不好的体验。", en: "I'm really sorry about this.")
    static let greeting = T(zh: "您好，欢迎来到{shop_name}！我可以帮您查订单、补发卡密、解答付款和退款问题。请问有什么可以帮您？",
                            en: "Hi, welcome to {shop_name}! I can check orders, re-send card keys and answer questions about payment and refunds. How can I help?")
    static let thanks = T(zh: "不客气！还有其他问题随时找我。", en: "You're welcome! Ask me anytime if anything else comes up.")
    static let goodbye = T(zh: "感谢光临{shop_name}，祝您生活愉快，再见！", en: "Thanks for visiting {shop_name}. Goodbye!")
    static let fallback = T(zh: "抱歉，这个问题我回答不了。我能帮您查订单、处理没收到卡密或卡密无效、充值失败、退款和付款问题。",
                            en: "Sorry, I can't help with that. I can check orders and help with missing or invalid card keys, failed top-ups, refunds and payments.")
    static let fallbackOfferAgent = T(zh: "看来我没能理解您的问题，我为您转接人工客服（客服时间：{opening_hours}）。",
                                      en: "I don't seem to understand, so I'm passing you to a human agent (hours: {opening_hours}).")
    static let clarify = T(zh: "我不太确定您的意思。您是想问：%options%？", en: "I'm not sure what you mean. Is it about: %options%?")

    static let askOrderNumber = T(zh: "请发送您的订单号（16 位字母和数字，可在下单页面或邮件中找到）。",
                                  en: "Please send your order number (16 letters and digits, shown on the checkout page and in your e-mail).")
    static let reaskOrderNumber = T(zh: "没有找到订单号。订单号是 16 位大写字母和数字，例如 %example%。",
                                    en: "I couldn't find an order number. It has 16 capital letters and digits, like %example%.")
    static let giveUpOrderNumber = T(zh: "没关系，您找到订单号后随时发给我。也可以输入“人工”联系客服。",
                                     en: "No problem, send the order number whenever you find it, or type \"agent\" for a human.")
    static let orderNotFound = T(zh: "没有查到订单 %order%，请核对订单号是否完整正确。",
                                 en: "I couldn't find order %order%. Please check that the number is complete and correct.")
    static let status = T(zh: "订单 %order% 的状态：%status%。", en: "Order %order% status: %status%.")
    static let askContactForDetails = T(zh: "如需查看商品、金额等详情，请发送下单时填写的邮箱或手机号以验证身份。",
                                        en: "To see details such as product and amount, please send the e-mail or phone number used for the order so I can verify it's you.")
    static let details = T(zh: "商品：%product% × %quantity%，金额：%amount%，下单时间：%created%。",
                           en: "Product: %product% × %quantity%, amount: %amount%, ordered: %created%.")
    static let verified = T(zh: "验证通过。", en: "Thanks, verified.")
    static let verificationFailed = T(zh: "该联系方式与订单记录不一致，请发送下单时使用的邮箱或手机号。",
                                      en: "That contact doesn't match the order. Please send the e-mail or phone used when ordering.")
    static let verificationLocked = T(zh: "多次验证未通过，为保护订单安全，已为您转接人工客服。",
                                      en: "Verification failed several times; to protect the order I've passed you to a human agent.")
    static let maskedContact = T(zh: "出于安全，您发送的联系方式已被系统遮盖，无法用于核对。请联系人工客服验证。",
                                 en: "For security your contact detail was masked and can't be used for verification. A human agent can verify you.")
    static let recentOrders = T(zh: "您最近的订单：\n%orders%", en: "Your recent orders:\n%orders%")
    static let noRecentOrders = T(zh: "没有查到与您联系方式相关的订单。", en: "I found no orders for your contact.")

    static let neverInChat = T(zh: "为保障安全，卡密不会在聊天中显示。", en: "For security, card keys are never shown in chat.")
    static let offerResend = T(zh: "订单 %order% 已完成，卡密已发送到下单邮箱（请检查垃圾邮件箱）。为保障安全，卡密不会在聊天中显示。需要我重新发送到下单邮箱吗？（回复“是”或“不用”）",
                               en: "Order %order% is completed and the card keys were e-mailed to the purchase address (check the spam folder). For security, card keys are never shown in chat. Shall I re-send them to the purchase e-mail? (yes / no)")
    static let resent = T(zh: "已重新发送到下单邮箱，几分钟内送达，请注意查收（包括垃圾邮件箱）。",
                          en: "Done — the card keys are on their way to the purchase e-mail again; please check your inbox (and spam) in a few minutes.")
    static let alreadyResent = T(zh: "本次会话中已为订单 %order% 补发过一次，请稍候查收邮箱。如仍未收到，我为您转人工。",
                                 en: "I already re-sent order %order% in this chat; please give it a few minutes. If it still doesn't arrive, ask for an agent.")
    static let resendDeclined = T(zh: "好的，不重新发送。还有什么可以帮您？", en: "OK, I won't re-send. Anything else I can help with?")
    static let resendFailed = T(zh: "补发暂时失败，已为您转接人工客服处理。", en: "The re-send failed; I've passed you to a human agent.")
    static let outOfStock = T(zh: "订单 %order% 已付款，但商品暂时缺货，卡密未能自动发放。非常抱歉！已为您优先转接人工客服处理补货或退款。",
                              en: "Order %order% is paid but the product ran out of stock, so no card key could be issued. We're very sorry! I've passed you to a human agent with high priority for a refill or refund.")
    static let unpaidAskTransaction = T(zh: "订单 %order% 显示%status%。如果您已经付款，请发送支付凭证中的交易单号（支付宝/微信账单详情里可以找到），我转交人工核实。",
                                        en: "Order %order% shows as %status%. If you have paid, please send the payment transaction number (in your Alipay/WeChat bill details) and I'll pass it to an agent to check.")
    static let transactionReceived = T(zh: "已收到交易单号，已为您转接人工客服核实付款，请稍候。",
                                       en: "Got the transaction number. I've passed it to a human agent to check the payment; please hold on.")
    static let reaskTransaction = T(zh: "请发送支付交易单号（支付宝或微信账单详情中的“交易单号”）。",
                                    en: "Please send the payment transaction number (\"transaction no.\" in your Alipay or WeChat bill details).")
    static let processing = T(zh: "订单 %order% 正在处理中，通常几分钟内自动发卡到下单邮箱，请稍候。如果超过 30 分钟仍未收到，请联系人工。",
                              en: "Order %order% is being processed; card keys are usually e-mailed within a few minutes. If nothing arrives within 30 minutes, ask for an agent.")
    static let processingTooLong = T(zh: "订单 %order% 处理时间过长，已为您转接人工客服。", en: "Order %order% is taking too long; I've passed you to a human agent.")
    static let orderFailed = T(zh: "订单 %order% 处理失败，已为您转接人工客服处理。", en: "Order %order% failed; I've passed you to a human agent.")
    static let completedPayment = T(zh: "订单 %order% 已付款并完成，卡密已发送到下单邮箱。如果被重复扣款，请发送交易单号，我转交人工核实。",
                                    en: "Order %order% is paid and completed; the card keys went to the purchase e-mail. If you were charged twice, send the transaction number and I'll pass it to an agent.")
    static let cardInvalid = T(zh: "抱歉卡密无法使用。请先确认：复制时没有多余空格、兑换的平台和地区与商品说明一致。我已为订单 %order% 转接人工客服核查。",
                               en: "Sorry the key doesn't work. Please check there are no extra spaces and that the platform and region match the product page. I've passed order %order% to a human agent to check.")
    static let rechargeFailed = T(zh: "抱歉充值没有成功。我已把订单 %order% 转给人工客服核查，请不要重复下单。",
                                  en: "Sorry the top-up failed. I've passed order %order% to a human agent; please don't order again meanwhile.")
    static let unpaidCancel = T(zh: "订单 %order% 尚未付款，无需取消，未付款订单会自动过期，不会扣款。",
                                en: "Order %order% isn't paid, so there's nothing to cancel: unpaid orders expire on their own and nothing is charged.")
    static let expiredCancel = T(zh: "订单 %order% 已过期，没有扣款。如果您其实已付款，请发送交易单号。",
                                 en: "Order %order% has expired and nothing was charged. If you did pay, send the transaction number.")
    static let refundHandoff = T(zh: "已为订单 %order% 转接人工客服处理退款申请。", en: "I've passed the refund request for order %order% to a human agent.")
    static let humanAgent = T(zh: "好的，正在为您转接人工客服（客服时间：{opening_hours}），请稍候。",
                              en: "Sure, I'm connecting you to a human agent (hours: {opening_hours}). Please hold on.")
    static let complaint = T(zh: "非常抱歉给您带来困扰，您的投诉已记录，已优先转接人工客服处理。",
                             en: "We're very sorry. Your complaint is recorded and I've passed you to a human agent with priority.")
    static let fraud = T(zh: "感谢您的举报，我们非常重视。请不要向任何人透露卡密、验证码或支付密码。已紧急转接人工客服处理。",
                         en: "Thank you for reporting this; we take it seriously. Never share card keys, codes or payment passwords with anyone. I've escalated this to a human agent urgently.")
    static let persistentAnger = T(zh: "我已为您优先转接人工客服，马上有人处理。", en: "I've passed you to a human agent with priority; someone will be with you shortly.")
    static let alreadyHandedOff = T(zh: "已为您转接人工客服，请稍候，客服会尽快回复。", en: "You're in the queue for a human agent, who will reply shortly.")
    static let backendDown = T(zh: "抱歉，订单系统暂时无法访问，请稍后再试。已为您转接人工客服。",
                               en: "Sorry, the order system is unavailable right now. Please try again later; I've passed you to a human agent.")
    static let dontSendSecrets = T(zh: "提醒：请不要在聊天中发送卡密、银行卡号、验证码或密码，系统已自动遮盖。",
                                   en: "Note: please don't send card keys, card numbers, codes or passwords in chat; they were masked automatically.")

    static func statusName(_ status: OrderStatus) -> T {
        switch status {
        case .waitingForPayment: return T(zh: "待支付", en: "waiting for payment")
        case .pending: return T(zh: "待处理", en: "pending")
        case .processing: return T(zh: "处理中", en: "processing")
        case .completed: return T(zh: "已完成（卡密已发送到下单邮箱）", en: "completed (card keys sent to the purchase e-mail)")
        case .failed: return T(zh: "失败", en: "failed")
        case .abnormal: return T(zh: "异常（已付款但缺货）", en: "abnormal (paid, out of stock)")
        case .expired: return T(zh: "已过期", en: "expired")
        }
    }

    /// How intents are described when the bot asks which one the customer meant.
    static func intentName(_ intent: String) -> T? {
        let names: [String: T] = [
            "order_status": T(zh: "查询订单", en: "checking an order"),
            "card_not_received": T(zh: "付款后没收到卡密", en: "a card key not received"),
            "card_invalid": T(zh: "卡密无效或已被使用", en: "an invalid or used card key"),
            "recharge_failed": T(zh: "充值失败", en: "a failed top-up"),
            "refund": T(zh: "退款", en: "a refund"),
            "cancel_order": T(zh: "取消订单", en: "cancelling an order"),
            "payment_issue": T(zh: "付款问题", en: "a payment problem"),
            "payment_methods": T(zh: "支付方式", en: "payment methods"),
            "invoice": T(zh: "发票", en: "an invoice"),
            "purchase_help": T(zh: "如何购买", en: "how to buy"),
            "account_help": T(zh: "查询密码或邮箱填错", en: "query password or a wrong e-mail"),
            "human_agent": T(zh: "人工客服", en: "a human agent"),
            "complaint": T(zh: "投诉", en: "a complaint"),
            "fraud_report": T(zh: "举报诈骗或盗用", en: "reporting fraud or misuse"),
        ]
        return names[intent]
    }
}
