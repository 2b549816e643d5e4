// KamiRelay chat widget: no third-party code, no inline script; text is only set via textContent.
// Embedding: <div id="kamirelay-chat"></div><script src="https://RELAY/widget.js"></script>
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? new URL(script.src) : new URL(window.location.href);
  var wsURL = (base.protocol === "http:" ? "ws://" : "wss://") + base.host + "/chat";
  var T = {
    zh: { title: "在线客服", placeholder: "输入消息…", send: "发送", lang: "English", connecting: "正在连接…",
          connected: "已连接", reconnecting: "连接已断开，正在重新连接…", typing: "客服正在输入…",
          handoff: "已为您转接人工客服，请稍候。", ended: "会话已结束。", newChat: "（新的会话）",
          agent: "人工客服", bot: "智能客服",
          end: "结束", rate: "请为本次服务评分：", thanks: "感谢您的评价！",
          paused: "会话已暂停（长时间未操作），发送消息即可继续。",
          chatClosed: "此会话已结束，其记录已按要求删除。将为您开始新的会话。" },
    en: { title: "Support", placeholder: "Type a message…", send: "Send", lang: "中文", connecting: "Connecting…",
          connected: "Connected", reconnecting: "Connection lost, reconnecting…", typing: "Support is typing…",
          handoff: "You have been passed to a human agent; please wait.", ended: "The chat has ended.",
          agent: "Agent", bot: "Assistant",
          newChat: "(new chat)", end: "End", rate: "How was this chat?", thanks: "Thank you for your feedback!",
          paused: "The chat was paused after a while without activity; send a message to continue.",
          chatClosed: "This chat has ended and its records were deleted on request. A new chat will start." }
  };
  var langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "zh"];
  var lang = String(langs[0]).toLowerCase().indexOf("en") === 0 ? "en" : "zh";
  var root = document.getElementById("kamirelay-chat");
  if (!root) { root = document.createElement("div"); root.id = "kamirelay-chat"; document.body.appendChild(root); }
  root.className = "kr-root";

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  var header = el("div", "kr-header"), title = el("h1", null, ""), langButton = el("button", "kr-lang", "");
  var endButton = el("button", "kr-lang kr-end", "");
  langButton.type = "button"; endButton.type = "button";
  var tools = el("div", "kr-tools"); tools.appendChild(langButton); tools.appendChild(endButton);
  header.appendChild(title); header.appendChild(tools);
  var status = el("div", "kr-status", ""), log = el("div", "kr-log"), typing = el("div", "kr-typing", "");
  log.setAttribute("aria-live", "polite");
  var form = el("form", "kr-form"), input = el("input", "kr-input"), send = el("button", "kr-send", "");
  input.maxLength = 2000; input.autocomplete = "off"; send.type = "submit";
  form.appendChild(input); form.appendChild(send);
  root.appendChild(header); root.appendChild(status); root.appendChild(log); root.appendChild(form);

  function relabel() {
    var t = T[lang]; title.textContent = t.title; langButton.textContent = t.lang;
    input.placeholder = t.placeholder; send.textContent = t.send; typing.textContent = t.typing; endButton.textContent = t.end;
    document.documentElement.lang = lang === "zh" ? "zh" : "en";
    var labels = log.querySelectorAll(".kr-label");
    for (var i = 0; i < labels.length; i++) labels[i].textContent = t[labels[i].dataset.role];
  }
  relabel();

  var ws = null, ready = false, counter = 0, retry = 0, pending = {}, closedByUs = false, paused = false;
  var resumeToken = null, lastId = null;  // in memory only: a page reload starts a new chat
  function setStatus(key) { status.textContent = T[lang][key]; status.dataset.state = key; }
  function add(cls, text, id) {
    var b = el("div", "kr-bubble kr-" + cls, text); if (id) b.dataset.clientId = id;
    if (cls === "agent" || cls === "bot") {
      // Who is answering, a person or the assistant, is always visible on the bubble.
      var label = el("span", "kr-label", T[lang][cls]); label.dataset.role = cls;
      b.textContent = ""; b.appendChild(label); b.appendChild(el("span", "kr-text", text));
    }
    if (typing.parentNode) log.insertBefore(b, typing); else log.appendChild(b);
    log.scrollTop = log.scrollHeight; return b;
  }
  var typingTimer = null;
  function showTyping(on) {
    // The agent's console repeats "typing" every 2 s while they type; an agent who stops
    // without sending must not leave the indicator up for ever.
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { showTyping(false); }, 6000);
    if (on && !typing.parentNode) log.appendChild(typing);
    if (!on && typing.parentNode) log.removeChild(typing);
    log.scrollTop = log.scrollHeight;
  }

  function connect() {
    setStatus(retry ? "reconnecting" : "connecting");
    ws = new WebSocket(wsURL);
    ws.onopen = function () {
      var hello = { type: "hello", language: lang };
      if (resumeToken) { hello.resume = resumeToken; if (lastId !== null) hello.last_id = lastId; }
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (event) {
      var f; try { f = JSON.parse(event.data); } catch (e) { return; }
      if (f.type === "welcome") {
        ready = true; retry = 0; setStatus("connected"); send.disabled = false;
        if (root.dataset.session && !f.resumed) { add("system", T[lang].newChat); lastId = null; }
        root.dataset.session = f.session;
        root.dataset.resumed = f.resumed ? "true" : "false";
        resumeToken = f.resume_token;
        // Messages typed while disconnected were never acknowledged: send them again.
        Object.keys(pending).forEach(function (id) { ws.send(JSON.stringify({ type: "message", client_id: id, text: pending[id].text })); });
      } else if (f.type === "message") {
        if (typeof f.id === "number") lastId = lastId === null ? f.id : Math.max(lastId, f.id);
        if (f.role === "customer" && !f.client_id) {
          add("customer", f.text);  // missed while disconnected (resume)
        } else if (f.role === "customer" && f.client_id && pending[f.client_id]) {
          // Show what was stored: the masked text replaces what the customer typed.
          pending[f.client_id].bubble.textContent = f.text;
          pending[f.client_id].bubble.dataset.acknowledged = "true";
          delete pending[f.client_id];
        } else if (f.role !== "customer") {
          showTyping(false); add(f.role, f.text);
        }
      } else if (f.type === "redacted") {
        add("notice", f.notice);
      } else if (f.type === "handoff") {
        // Other states (agent joined, returned, closed) come with their own system message.
        if (f.state === "queued") add("system", T[lang].handoff);
        showTyping(false);
        if (f.state === "closed") askCsat();
      } else if (f.type === "typing") {
        showTyping(true);  // the agent is typing
      } else if (f.type === "queue") {
        showTyping(false);
      } else if (f.type === "feedback_received") {
        add("system", T[lang].thanks);
        closedByUs = true; ws.send(JSON.stringify({ type: "bye" }));
      } else if (f.type === "duplicate") {
        // Stored before the drop: the resume already showed the stored copy.
        if (pending[f.client_id]) { log.removeChild(pending[f.client_id].bubble); delete pending[f.client_id]; }
      } else if (f.type === "error" && f.code === "resume_failed") {
        resumeToken = null;
      } else if (f.type === "error" && f.code === "chat_closed") {
        // The chat's data was erased while it was open: the reconnect starts a new chat.
        resumeToken = null; showTyping(false); add("system", T[lang].chatClosed);
      } else if (f.type === "error" && f.code === "idle_timeout") {
        // The server closes an idle chat; it stays resumable. Reconnect when the customer writes.
        paused = true; showTyping(false); add("system", T[lang].paused);
      } else if (f.type === "error") {
        showTyping(false); add("system", f.message);
      }
    };
    ws.onclose = function () {
      ready = false; send.disabled = true; showTyping(false);
      if (closedByUs) { setStatus("ended"); return; }
      if (paused) { setStatus("paused"); send.disabled = false; return; }
      retry += 1; setStatus("reconnecting");
      setTimeout(connect, Math.min(10000, 500 * Math.pow(2, retry)));
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || (!ready && !paused)) return;
    counter += 1;
    var id = "w" + Date.now().toString(36) + "-" + counter;
    pending[id] = { text: text, bubble: add("customer", text, id) };
    if (paused) {
      // Resume the paused chat; pending messages are sent after the welcome.
      paused = false; retry = 0; connect();
    } else {
      ws.send(JSON.stringify({ type: "message", client_id: id, text: text }));
    }
    input.value = ""; showTyping(true);
  });
  // CSAT at the end: five buttons, then feedback and bye.
  endButton.addEventListener("click", askCsat);
  function askCsat() {
    if (!ready || root.querySelector(".kr-csat")) return;
    var panel = el("div", "kr-bubble kr-system kr-csat", T[lang].rate);
    for (var score = 1; score <= 5; score++) {
      (function (value) {
        var b = el("button", "kr-score", String(value)); b.type = "button"; b.dataset.score = String(value);
        b.addEventListener("click", function () {
          if (!ready) return;
          ws.send(JSON.stringify({ type: "feedback", csat: value }));
          Array.prototype.forEach.call(panel.querySelectorAll("button"), function (x) { x.disabled = true; });
        });
        panel.appendChild(b);
      })(score);
    }
    log.appendChild(panel); log.scrollTop = log.scrollHeight;
  }
  langButton.addEventListener("click", function () { lang = lang === "zh" ? "en" : "zh"; relabel(); setStatus(status.dataset.state || "connecting"); });
  send.disabled = true;
  connect();
})();
