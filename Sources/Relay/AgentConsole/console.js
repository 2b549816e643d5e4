// KamiRelay agent console: no third-party code, no inline script; text only via textContent.
// Talks to /agent/api/* (cookie session + X-CSRF-Token) and /agent/ws (real time).
(function () {
  "use strict";
  var T = {
    zh: { title: "客服工作台", login: "登录", username: "用户名", password: "密码", logout: "退出", lang: "English",
          waiting: "排队中", live: "进行中的会话", none: "暂无", take: "接入", back: "交回机器人", transfer: "转接",
          close: "结束", send: "发送", note: "内部备注", canned: "快捷回复…", typing: "顾客正在输入…",
          pick: "从左侧选择一个会话", ended: "会话已结束", waited: "已等待", reason: "原因", order: "订单",
          anger: "情绪(愤怒)", toQueue: "退回队列", resolution: "结束原因", escalated: "已超时", agentOffline: "客服离线，会话已退回队列", erased: "此会话已按数据主体请求删除", bad: "用户名或密码错误",
          locked: "尝试次数过多，账户已暂时锁定", error: "出错了", reconnecting: "连接断开，正在重连…", notes: "备注",
          urgent: "紧急", high: "高", normal: "普通", min: "分", sec: "秒", you: "你" },
    en: { title: "Agent console", login: "Log in", username: "Username", password: "Password", logout: "Log out", lang: "中文",
          waiting: "Waiting", live: "Live chats", none: "None", take: "Take", back: "Back to bot", transfer: "Transfer",
          close: "Close", send: "Send", note: "Internal note", canned: "Canned response…", typing: "Customer is typing…",
          pick: "Pick a chat on the left", ended: "The chat has ended", waited: "waiting", reason: "Reason", order: "Order",
          anger: "Anger", toQueue: "Back to queue", resolution: "Resolution", escalated: "over SLA", agentOffline: "agent offline, chat back in the queue", erased: "This chat was erased at the data subject's request", bad: "Wrong username or password",
          locked: "Too many attempts; the account is locked for a while", error: "Error", reconnecting: "Connection lost, reconnecting…",
          notes: "Notes", urgent: "urgent", high: "high", normal: "normal", min: "m", sec: "s", you: "you" }
  };
  var lang = String((navigator.languages && navigator.languages[0]) || navigator.language || "zh").toLowerCase().indexOf("en") === 0 ? "en" : "zh";
  var RESOLUTIONS = ["resolved", "refunded", "card_resent", "replaced", "no_response", "duplicate", "not_our_shop", "other"];
  var root = document.getElementById("agent-console");
  var me = null, csrf = null, ws = null, queue = { queued: [], active: [], agents_online: [] }, current = null, canned = [];
  var typingTimer = null, lastTyping = 0, lastTypingSession = null, retry = 0, loggedOut = false;

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function t(key) { return T[lang][key] || key; }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function api(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    return fetch(path, { method: method, headers: headers, credentials: "same-origin", body: body ? JSON.stringify(body) : undefined })
      .then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
  }
  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    return seconds >= 60 ? Math.floor(seconds / 60) + t("min") + (seconds % 60) + t("sec") : seconds + t("sec");
  }

  // ---- layout
  var bar = el("header", "ac-bar"), title = el("h1"), who = el("span", "ac-who"), langButton = el("button", "ac-lang"), logoutButton = el("button", "ac-logout");
  langButton.type = logoutButton.type = "button";
  bar.appendChild(title); bar.appendChild(who); bar.appendChild(langButton); bar.appendChild(logoutButton);
  root.appendChild(bar);
  var body = el("div"); root.appendChild(body);

  function relabel() {
    document.documentElement.lang = lang;
    title.textContent = t("title"); langButton.textContent = t("lang"); logoutButton.textContent = t("logout");
    logoutButton.style.display = me ? "" : "none";
    who.textContent = me ? me.agent + " · " + me.role + " · " + me.tenant : "";
    if (me) { renderQueue(); renderChat(); } else { showLogin(); }
  }

  // ---- login
  function showLogin(message) {
    root.dataset.state = "login";
    clear(body);
    var form = el("form", "ac-login"), user = el("input", "ac-username"), pass = el("input", "ac-password"), go = el("button", "primary ac-login-button", t("login")), err = el("div", "ac-error", message || "");
    user.placeholder = t("username"); user.autocomplete = "username"; pass.type = "password"; pass.placeholder = t("password"); pass.autocomplete = "current-password"; go.type = "submit";
    form.appendChild(el("h2", null, t("title"))); form.appendChild(user); form.appendChild(pass); form.appendChild(go); form.appendChild(err);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      api("POST", "/agent/api/login", { username: user.value.trim(), password: pass.value }).then(function (r) {
        pass.value = "";
        if (r.status === 200) { start(r.body); } else { err.textContent = r.body.error === "locked_out" ? t("locked") : t("bad"); }
      }).catch(function () { err.textContent = t("error"); });
    });
    body.appendChild(form);
    user.focus();
  }

  // ---- main view
  var main, queuePane, chatPane, head, summary, log, typing, compose, input, status;
  function start(info) {
    me = info; csrf = info.csrf; loggedOut = false;
    clear(body);
    main = el("div", "ac-main"); queuePane = el("aside", "ac-queue"); chatPane = el("section", "ac-chat");
    main.appendChild(queuePane); main.appendChild(chatPane); body.appendChild(main);
    status = el("div", "ac-error ac-status");
    relabel();
    connect();
  }

  function connect() {
    ws = new WebSocket("wss://" + location.host + "/agent/ws?csrf=" + encodeURIComponent(csrf));
    ws.onopen = function () { retry = 0; root.dataset.state = "connected"; status.textContent = ""; };
    ws.onmessage = function (event) { var f; try { f = JSON.parse(event.data); } catch (e) { return; } onFrame(f); };
    ws.onclose = function () {
      if (loggedOut || !me) return;
      root.dataset.state = "reconnecting"; status.textContent = t("reconnecting");
      retry += 1;
      setTimeout(function () {
        api("GET", "/agent/api/me").then(function (r) { if (r.status === 200) { csrf = r.body.csrf; connect(); } else { me = null; relabel(); } });
      }, Math.min(8000, 400 * Math.pow(2, retry)));
    };
  }
  function sendFrame(f) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(f)); }

  function onFrame(f) {
    if (f.type === "welcome") { canned = f.canned || []; renderChat(); }
    else if (f.type === "queue") { queue = f; renderQueue(); if (current) { refreshCurrent(); } }
    else if (f.type === "history") { current = f; current.ended = false; renderChat(); }
    else if (f.type === "message" && current && f.session === current.session) {
      current.messages.push(f); addMessage(f.role, f.text, f.id); if (f.role === "customer") showTyping(false);
    }
    else if (f.type === "note" && current && f.session === current.session) { current.notes.push(f); addMessage("note", f.author + ": " + f.text); }
    else if (f.type === "typing" && current && f.session === current.session) { showTyping(true); }
    else if (f.type === "chat_ended" && current && f.session === current.session) { current.ended = true; addMessage("system", t("ended") + " (" + f.how + ")"); renderChatHead(); }
    else if (f.type === "chat_erased") {
      // The customer's data was erased: the chat leaves the screen at once (the queue frame
      // that follows drops it from the lists); only the notice and the short id stay.
      if (current && f.session === current.session) { current = null; renderChat(); }
      if (status) status.textContent = t("erased") + " · #" + f.session.slice(0, 8);
    }
    else if (f.type === "assigned") { sendFrame({ type: "open", session: f.session }); }
    else if (f.type === "escalation") { status.textContent = t("escalated") + ": " + f.session.slice(0, 8); }
    else if (f.type === "agent_offline") { status.textContent = t("agentOffline") + ": " + f.agent + " · " + f.session.slice(0, 8); }
    else if (f.type === "error") { status.textContent = t("error") + ": " + f.message; if (f.code === "session_expired") { me = null; relabel(); } }
  }

  function refreshCurrent() {
    var all = queue.queued.concat(queue.active);
    for (var i = 0; i < all.length; i++) if (all[i].session === current.session) {
      current.state = all[i].state; current.agent = all[i].agent; current.escalated = all[i].escalated; renderChatHead(); return;
    }
  }

  function renderQueue() {
    if (!queuePane) return;
    clear(queuePane);
    [["waiting", queue.queued], ["live", queue.active]].forEach(function (group) {
      queuePane.appendChild(el("h2", null, t(group[0]) + " (" + group[1].length + ")"));
      if (!group[1].length) queuePane.appendChild(el("div", "ac-empty", t("none")));
      group[1].forEach(function (c) {
        var row = el("div", "ac-entry" + (current && current.session === c.session ? " selected" : ""));
        row.dataset.session = c.session; row.dataset.state = c.state; row.dataset.urgency = c.urgency;
        var meta = el("div", "ac-meta");
        meta.appendChild(el("span", "ac-urgency " + c.urgency, t(c.urgency)));
        meta.appendChild(el("span", null, c.reason));
        meta.appendChild(el("span", null, c.language));
        var waited = el("span", "ac-waited"); waited.dataset.since = c.enqueued_at; meta.appendChild(waited);
        if (c.escalated) meta.appendChild(el("span", "ac-escalated", t("escalated")));
        row.appendChild(meta);
        row.appendChild(el("div", null, "#" + c.session.slice(0, 8) + (c.order ? " · " + t("order") + " " + c.order : "") + (c.agent ? " · " + c.agent : "")));
        row.addEventListener("click", function () { sendFrame({ type: "open", session: c.session }); });
        queuePane.appendChild(row);
      });
    });
    tick();
  }
  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll(".ac-waited"), function (w) {
      w.textContent = t("waited") + " " + duration((Date.now() - Date.parse(w.dataset.since)) / 1000);
    });
  }
  setInterval(tick, 1000);

  function renderChatHead() {
    if (!head || !current) return;
    clear(head);
    head.appendChild(el("span", "ac-title", "#" + current.session.slice(0, 8) + " · " + t("reason") + ": " + current.reason + (current.order ? " · " + t("order") + " " + current.order : "")));
    head.appendChild(el("span", "ac-urgency " + current.urgency, t(current.urgency)));
    if (current.anger && current.anger.length) head.appendChild(el("span", "ac-anger", t("anger") + " " + current.anger.map(function (a) { return a.toFixed(2); }).join("→")));
    var mine = current.agent === me.agent, canAct = !current.ended && (mine || me.role === "supervisor");
    if (!current.ended && (current.state === "queued" || (me.role === "supervisor" && !mine))) {
      var take = el("button", "primary ac-take", t("take")); take.type = "button";
      take.addEventListener("click", function () { sendFrame({ type: "take", session: current.session }); });
      head.appendChild(take);
    }
    if (canAct && current.state === "active") {
      var back = el("button", "ac-return", t("back")); back.type = "button";
      back.addEventListener("click", function () { sendFrame({ type: "return_to_bot", session: current.session }); });
      var target = el("select", "ac-transfer-target");
      target.appendChild(new Option(t("toQueue"), "queue"));
      (queue.agents_online || []).forEach(function (a) { if (a !== current.agent) target.appendChild(new Option(a, a)); });
      var transfer = el("button", "ac-transfer", t("transfer")); transfer.type = "button";
      transfer.addEventListener("click", function () { sendFrame({ type: "transfer", session: current.session, to: target.value }); });
      var resolution = el("select", "ac-resolution");
      RESOLUTIONS.forEach(function (r) { resolution.appendChild(new Option(r, r)); });
      var close = el("button", "ac-close", t("close")); close.type = "button";
      close.addEventListener("click", function () { sendFrame({ type: "close", session: current.session, resolution: resolution.value }); });
      [back, target, transfer, resolution, close].forEach(function (x) { head.appendChild(x); });
    }
    if (input) { input.disabled = !(mine && !current.ended && current.state === "active"); }
  }

  function addMessage(role, text, id) {
    var m = el("div", "ac-msg " + role, text); if (id != null) m.dataset.id = id;
    log.appendChild(m); log.scrollTop = log.scrollHeight;
  }
  function showTyping(on) {
    typing.textContent = on ? t("typing") : "";
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { typing.textContent = ""; }, 4000);
  }

  function renderChat() {
    if (!chatPane) return;
    clear(chatPane);
    chatPane.appendChild(status);
    if (!current) { chatPane.appendChild(el("div", "ac-empty", t("pick"))); head = null; input = null; return; }
    head = el("div", "ac-chat-head"); summary = el("div", "ac-summary", current.summary || "");
    log = el("div", "ac-log"); typing = el("div", "ac-typing");
    var wrap = el("div"); wrap.appendChild(head); wrap.appendChild(summary);
    chatPane.appendChild(wrap); chatPane.appendChild(log); chatPane.appendChild(typing);
    (current.messages || []).forEach(function (m) { addMessage(m.role, m.text, m.id); });
    (current.notes || []).forEach(function (n) { addMessage("note", n.author + ": " + n.text); });
    compose = el("form", "ac-compose"); input = el("textarea", "ac-input");
    var buttons = el("div"), send = el("button", "primary ac-send", t("send")), note = el("button", "ac-note", t("note"));
    send.type = "submit"; note.type = "button";
    buttons.appendChild(send); buttons.appendChild(note);
    var tools = el("div", "ac-tools"), pick = el("select", "ac-canned");
    pick.appendChild(new Option(t("canned"), ""));
    canned.forEach(function (c) { pick.appendChild(new Option(c.key, c.key)); });
    pick.addEventListener("change", function () {
      canned.forEach(function (c) {
        if (c.key !== pick.value) return;
        var text = (current.language === "en" ? c.en : c.zh).split("{order}").join(current.order || "").split("{agent}").join(me.agent);
        input.value = text; input.focus();
      });
      pick.value = "";
    });
    tools.appendChild(pick);
    compose.appendChild(input); compose.appendChild(buttons); compose.appendChild(tools);
    compose.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value.trim(); if (!text) return;
      sendFrame({ type: "reply", session: current.session, text: text }); input.value = "";
    });
    note.addEventListener("click", function () {
      var text = input.value.trim(); if (!text) return;
      sendFrame({ type: "note", session: current.session, text: text }); input.value = "";
    });
    input.addEventListener("input", function () {
      // Throttled per chat: switching to another chat must not swallow its first typing signal.
      if (current.session !== lastTypingSession || Date.now() - lastTyping > 2000) {
        lastTyping = Date.now(); lastTypingSession = current.session;
        sendFrame({ type: "typing", session: current.session });
      }
    });
    chatPane.appendChild(compose);
    renderChatHead();
    renderQueue();
  }

  langButton.addEventListener("click", function () { lang = lang === "zh" ? "en" : "zh"; relabel(); });
  logoutButton.addEventListener("click", function () {
    loggedOut = true;
    api("POST", "/agent/api/logout").then(function () { me = null; csrf = null; current = null; if (ws) ws.close(); relabel(); });
  });

  api("GET", "/agent/api/me").then(function (r) { if (r.status === 200) start(r.body); else relabel(); }).catch(function () { relabel(); });
})();
