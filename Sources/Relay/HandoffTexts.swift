import Foundation

/// What the customer is told about the human hand-off, in the chat's language (zh/en).
enum HandoffTexts {
    static func minutes(_ seconds: TimeInterval) -> Int { max(1, Int((seconds / 60).rounded(.up))) }

    static func queued(position: Int, expectedWait: TimeInterval, language: String) -> String {
        let m = minutes(expectedWait)
        if language == "en" {
            return position <= 1
                ? "You are next in line for a human agent; the expected wait is about \(m) minute\(m == 1 ? "" : "s")."
                : "You are number \(position) in the queue for a human agent; the expected wait is about \(m) minutes."
        }
        return position <= 1 ? "已为您转接人工客服，您是下一位，预计等待约 \(m) 分钟。"
            : "已为您转接人工客服，您目前排在第 \(position) 位，预计等待约 \(m) 分钟。"
    }

    static func closedHours(opensAt: String, language: String) -> String {
        language == "en"
            ? "Our agents are offline right now. Someone will answer after \(opensAt); you can leave a message here and it will be waiting for them."
            : "人工客服现在不在线，将在 \(opensAt) 之后回复您。您可以在这里留言，客服上线后会第一时间看到。"
    }

    static func agentJoined(language: String) -> String {
        language == "en" ? "A human agent has joined the chat." : "人工客服已接入，正在为您服务。"
    }

    static func transferred(language: String) -> String {
        language == "en" ? "You are being passed to another agent; please wait a moment." : "正在为您转接另一位客服，请稍候。"
    }

    static func returnedToBot(language: String) -> String {
        language == "en" ? "The agent has handed you back to the support assistant; you can keep asking here."
            : "人工客服已将会话交回智能客服，您可以继续提问。"
    }

    static func closed(language: String) -> String {
        language == "en" ? "The agent has closed this chat. How did we do? Please rate this chat from 1 to 5."
            : "本次人工服务已结束，请为本次服务评分（1–5 分）。"
    }

    static func slaBreached(language: String) -> String {
        language == "en"
            ? "Sorry for the wait — all agents are busy longer than we aim for. A supervisor has been told and your chat is being prioritised."
            : "抱歉让您久等了，目前客服繁忙，等待时间超出了我们的承诺。我们已通知主管优先处理您的问题。"
    }

    static func agentOffline(language: String) -> String {
        language == "en"
            ? "The agent who was helping you has lost their connection. Your chat is back in the queue, ahead of other chats of the same priority, and the next free agent will continue it; nothing you wrote is lost."
            : "为您服务的客服已断开连接。您的会话已重新排队，排在同等优先级会话的最前面，下一位空闲的客服会接着为您处理，您之前的消息都还在。"
    }
}
