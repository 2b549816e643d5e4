import Foundation

/// A tenant's rules for the human hand-off.
public struct AgentDeskPolicy: Sendable {
    /// When true, a card key an agent pastes reaches the customer as typed (the transcript and
    /// every agent screen still show it masked). Off by default: agents should re-send keys
    /// through the shop, not the chat.
    public var agentsMayDeliverCardKeys = false
    /// A queued chat nobody has taken after this long escalates: supervisors are notified and
    /// the customer is told.
    public var serviceLevel: TimeInterval = 5 * 60
    /// When agents work; nil means always.
    public var businessHours: BusinessHours?
    /// Canned responses agents can insert (variables `{order}`, `{agent}` are filled in by the console).
    public var cannedResponses: [CannedResponse] = []
    /// Chats one agent may have at once; taking another is refused.
    public var maxChatsPerAgent = 8
    /// Round-robin: queued chats are given to the online agents in turn (within
    /// ``maxChatsPerAgent``) instead of waiting for someone to take them.
    public var autoAssign = false
    /// An agent whose console has been gone this long (every socket closed, or the server
    /// restarted) loses their open chats: they go back to the front of their priority class in
    /// the queue, supervisors are notified and the customer is told.
    public var agentOfflineGrace: TimeInterval = 2 * 60

    public init(agentsMayDeliverCardKeys: Bool = false, serviceLevel: TimeInterval = 5 * 60, businessHours: BusinessHours? = nil,
                cannedResponses: [CannedResponse] = []) {
        self.agentsMayDeliverCardKeys = agentsMayDeliverCardKeys
        self.serviceLevel = serviceLevel
        self.businessHours = businessHours
        self.cannedResponses = cannedResponses
    }

    /// The demo shop's: always open, five-minute service level, a few canned responses.
    public static let demo = AgentDeskPolicy(cannedResponses: [
        CannedResponse(key: "greeting", zh: "您好，我是人工客服，请问订单 {order} 遇到了什么问题？",
                       en: "Hello, I'm a human agent. What went wrong with order {order}?"),
        CannedResponse(key: "checking", zh: "正在为您核实，请稍等一两分钟。", en: "I'm checking this for you; please give me a minute or two."),
        CannedResponse(key: "resent", zh: "卡密已重新发送到您下单时填写的邮箱，请查收（也请看看垃圾邮件）。",
                       en: "The card key has been re-sent to the e-mail address on the order; please check your inbox (and spam folder)."),
        CannedResponse(key: "refund", zh: "已为订单 {order} 提交退款，款项将原路退回，一般 1–3 个工作日到账。",
                       en: "A refund for order {order} has been submitted; it goes back to the original payment method within 1–3 working days."),
    ])
}

/// A canned response in both languages.
public struct CannedResponse: Sendable, Hashable {
    public var key: String
    public var zh: String
    public var en: String
    public init(key: String, zh: String, en: String) {
        self.key = key
        self.zh = zh
        self.en = en
    }
}

/// Opening hours every day, in a fixed UTC offset (e.g. 09:00–21:00 at UTC+8).
public struct BusinessHours: Sendable, Hashable {
    /// Minutes after local midnight.
    public var opens: Int
    public var closes: Int
    public var utcOffset: Int

    public init(opens: Int, closes: Int, utcOffsetSeconds: Int) {
        self.opens = opens
        self.closes = closes
        self.utcOffset = utcOffsetSeconds
    }

    func localMinute(_ date: Date) -> Int {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) + utcOffset
        return ((seconds / 60) % 1_440 + 1_440) % 1_440
    }

    public func isOpen(at date: Date) -> Bool {
        let minute = localMinute(date)
        return opens <= closes ? (minute >= opens && minute < closes) : (minute >= opens || minute < closes)
    }

    /// "09:00 (UTC+8)": when agents are next at work.
    public var opening: String {
        let hours = utcOffset / 3_600, minutes = abs(utcOffset % 3_600) / 60
        let zone = "UTC" + (hours >= 0 ? "+" : "") + "\(hours)" + (minutes == 0 ? "" : String(format: ":%02d", minutes))
        return String(format: "%02d:%02d", opens / 60, opens % 60) + " (\(zone))"
    }
}
