/*
 * 杭州市民服务助手 — resident chat widget. Dependency-free, no build step.
 *
 *   <script src="https://assistant.example/static/widget.js"
 *           data-server="https://assistant.example:5005"   (Rasa; default: this script's host, port 5005)
 *           data-feedback="https://assistant.example"      (staff service; default: this script's origin)
 *           data-title="杭州市民服务助手" data-greeting="您好！…" defer></script>
 *
 * Transport: Rasa's REST channel (POST {server}/webhooks/rest/webhook). The conversation lives in
 * Rasa's tracker under a sender id kept in localStorage; the transcript (last 100 messages) is kept
 * there too and shown again after a reload. A sent message is kept as the server returns it
 * (resident_text: ID and phone numbers masked), so a shared computer never shows them again.
 * Everything is rendered with textContent — never HTML.
 */
(function () {
  "use strict";

  if (window.__hzChatWidgetLoaded) return;
  window.__hzChatWidgetLoaded = true;

  var script =
    document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-server]') ||
    document.querySelector('script[src*="widget.js"]');
  var data = (script && script.dataset) || {};
  var scriptUrl = new URL((script && script.src) || location.href, location.href);

  var REQUEST_TIMEOUT_MS = 15000;
  var MAX_MESSAGES = 100;
  var OFFLINE_TEXT = "暂时连接不上服务器，请稍后再试。您的问题没有丢失，恢复后可点击重新发送。";
  var POLL_MS = 1500; // while a hand-off to staff is open (issue 15)
  var HOTLINE = /12345/g;
  var HANDOFF_STEPS = { handoff: true, handed_over: true };
  // the plan's topics: in the greeting and under a "not covered" reply; each sends a question the bot answers
  var TOPICS = [
    { title: "老旧小区加装电梯", payload: "老旧小区加装电梯" },
    { title: "托育托位", payload: "托育托位" },
    { title: "积分落户", payload: "积分落户" },
    { title: "租赁住房", payload: "租赁住房" },
    { title: "其他", payload: "行动计划主要讲了什么" },
  ];
  var EMPTY_REPLY_TEXT = "抱歉，我暂时没有可以回复的内容。您可以换个说法再问一次，或拨打12345政务服务便民热线咨询。";

  function httpUrl(value, fallback) {
    if (!value || !String(value).trim()) return fallback;
    try {
      var url = new URL(value, location.href);
      if (url.protocol === "http:" || url.protocol === "https:") return url.href.replace(/\/+$/, "");
    } catch (e) {
      /* not a URL: use the default */
    }
    return fallback;
  }

  var config = {
    server: httpUrl(data.server, scriptUrl.protocol + "//" + scriptUrl.hostname + ":5005"),
    feedback: httpUrl(data.feedback, scriptUrl.origin),
    title: (data.title || "").trim() || "杭州市民服务助手",
    greeting:
      (data.greeting || "").trim() ||
      "您好！我是杭州市民服务助手，可以为您解读杭州的《行动计划（2021—2025年）》：老旧小区加装电梯、托育托位、积分落户、租赁住房等。请直接输入您的问题。",
  };

  // -- storage (localStorage may be unavailable: private mode, disabled cookies) ------------------

  var KEY = "hzchat:" + config.server + ":";
  var store = {
    get: function (name) {
      try {
        return window.localStorage.getItem(KEY + name);
      } catch (e) {
        return null;
      }
    },
    set: function (name, value) {
      try {
        window.localStorage.setItem(KEY + name, value);
      } catch (e) {
        /* full or unavailable: the widget still works for this page view */
      }
    },    remove: function (name) {
      try {
        window.localStorage.removeItem(KEY + name);
      } catch (e) {
        /* unavailable: nothing was kept */
      }
    },
  };
  var session = {
    get: function (name) {
      try {
        return window.sessionStorage.getItem(KEY + name);
      } catch (e) {
        return null;
      }
    },
    set: function (name, value) {
      try {
        window.sessionStorage.setItem(KEY + name, value);
      } catch (e) {
        /* ignore */
      }
    },
  };

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) hex += (bytes[i] + 256).toString(16).slice(1);
    return "web-" + hex;
  }

  var sender = store.get("sender");
  if (!sender || !/^web-[0-9a-f]{32}$/.test(sender)) {
    sender = randomId();
    store.set("sender", sender);
  }

  function cleanButtons(buttons) {
    if (!Array.isArray(buttons)) return [];
    return buttons
      .filter(function (b) {
        return b && typeof b.title === "string" && b.title && typeof b.payload === "string" && b.payload;
      })
      .map(function (b) {
        return { title: b.title, payload: b.payload };
      });
  }

  function loadTranscript() {
    try {
      var items = JSON.parse(store.get("log") || "[]");
      if (!Array.isArray(items)) return [];
      return items.filter(function (m) {
        return m && (m.from === "me" || m.from === "bot") && typeof m.text === "string";
      });
    } catch (e) {
      return [];
    }
  }

  var transcript = loadTranscript();
  var nextId = 1;
  transcript.forEach(function (m) {
    m.id = nextId++;
    m.buttons = cleanButtons(m.buttons);
    m.sending = false;
  });

  function saveTranscript() {
    if (transcript.length > MAX_MESSAGES) transcript.splice(0, transcript.length - MAX_MESSAGES);
    store.set(
      "log",
      JSON.stringify(
        transcript.map(function (m) {
          return {
            from: m.from,
            text: m.text,
            payload: m.payload || undefined,
            buttons: m.buttons && m.buttons.length ? m.buttons : undefined,
            answer: m.answer || undefined,
            question: m.question || undefined, // sent with 有帮助/没帮助, so staff see what was asked
            step: m.step || undefined,
            staff: m.staff || undefined,
            rated: m.rated || undefined,
            failed: m.failed || m.sending || undefined, // a reload while waiting: offer to send again
          };
        })
      )
    );
  }

  // -- DOM helpers: nodes and textContent only -----------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") node.textContent = value;
        else if (name === "className") node.className = value;
        else node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  function icon(paths, size) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size || "20");
    svg.setAttribute("height", size || "20");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach(function (d) {
      var path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", d);
      path.setAttribute("fill", "currentColor");
      svg.appendChild(path);
    });
    return svg;
  }
  var ICON_CHAT = [
    "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z",
  ];
  var ICON_CLOSE = [
    "M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z",
  ];
  var ICON_UP = [
    "M2 10h4v11H2zM8 21h9.3a2 2 0 0 0 2-1.6l1.6-7.2A2 2 0 0 0 19 9.8h-5.3l.8-4.1a1.7 1.7 0 0 0-3-1.4L8 9v12z",
  ];
  var ICON_DOWN = [
    "M22 14h-4V3h4zM16 3H6.7a2 2 0 0 0-2 1.6l-1.6 7.2A2 2 0 0 0 5 14.2h5.3l-.8 4.1a1.7 1.7 0 0 0 3 1.4L16 15V3z",
  ];
  var ICON_SEND = ["M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z"];

  // -- styles (in the shadow root: the host page's CSS cannot reach in, ours cannot leak out) ------

  var CSS = [
    ":host { all: initial; }",
    ".root { --brand: #0a4b8f; --brand-dark: #073866; --ink: #1a1a1a; --muted: #4a5260; --line: #c5ccd6;",
    "  --wash: #eef2f7; --paper: #ffffff; --warn-ink: #6b2a00; --warn-wash: #fff3e0; --ok-ink: #14532d;",
    "  --focus: #1a1a1a;",
    "  font-family: \"PingFang SC\", \"Hiragino Sans GB\", \"Microsoft YaHei\", \"Noto Sans CJK SC\", \"Source Han Sans SC\",",
    "    \"WenQuanYi Micro Hei\", system-ui, sans-serif;",
    "  font-size: 16px; line-height: 1.6; color: var(--ink); text-align: left; letter-spacing: normal; }",
    ".root.large { font-size: 20px; }",
    ".root *, .root *::before, .root *::after { box-sizing: border-box; }",
    // one class per control (no ".root button" rule: its higher specificity would beat the colours below)
    ".launcher, .head button, .reply, .rate button, .notice button, .send, .foot textarea { font: inherit;",
    "  letter-spacing: inherit; margin: 0; }",
    ".root :focus { outline: none; }",
    ".root :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; box-shadow: 0 0 0 5px #fff; }",
    ".root textarea:focus-visible, .root textarea:focus { outline: 3px solid var(--brand); outline-offset: 1px; box-shadow: none; }",
    ".vh { position: absolute !important; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;",
    "  clip: rect(0 0 0 0); white-space: nowrap; border: 0; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; display: inline-flex;",
    "  align-items: center; gap: 8px; min-height: 52px; padding: 10px 20px; border: 2px solid #fff;",
    "  border-radius: 999px; background: var(--brand); color: #fff; font-size: 1.0625em; font-weight: 600;",
    "  cursor: pointer; box-shadow: 0 4px 14px rgba(0, 0, 0, 0.28); }",
    ".launcher:hover { background: var(--brand-dark); }",
    ".panel { position: fixed; right: 20px; bottom: 86px; z-index: 2147483001; width: 400px;",
    "  height: min(640px, calc(100vh - 110px)); display: flex; flex-direction: column; background: var(--paper);",
    "  border: 1px solid var(--line); border-radius: 12px; box-shadow: 0 10px 32px rgba(0, 0, 0, 0.28);",
    "  overflow: hidden; }",
    ".root.large .panel { width: 460px; }",
    ".panel[hidden] { display: none; }",
    ".head { display: flex; align-items: center; gap: 6px; padding: 8px 8px 8px 16px; background: var(--brand);",
    "  color: #fff; flex: none; }",
    ".head h2 { flex: 1; margin: 0; font-size: 1.0625em; font-weight: 600; line-height: 1.3; min-width: 0; }",
    ".head button { min-width: 44px; min-height: 44px; display: inline-flex; align-items: center;",
    "  justify-content: center; gap: 4px; padding: 4px 10px; border: 1px solid rgba(255, 255, 255, 0.7);",
    "  border-radius: 8px; background: transparent; color: #fff; cursor: pointer; }",
    ".head button:hover { background: rgba(255, 255, 255, 0.15); }",
    ".head button[aria-pressed=\"true\"] { background: #fff; color: var(--brand); border-color: #fff; }",
    ".head :focus-visible { outline-color: #fff; box-shadow: 0 0 0 5px var(--ink); }",
    ".body { flex: 1; overflow-y: auto; padding: 12px 12px 4px; background: var(--wash); overscroll-behavior: contain; }",
    ".log { display: flex; flex-direction: column; gap: 10px; }",
    ".msg { max-width: 88%; padding: 8px 12px; border-radius: 12px; overflow-wrap: anywhere; }",
    ".msg .text { white-space: pre-wrap; margin: 0; }",
    ".bot { align-self: flex-start; background: var(--paper); border: 1px solid var(--line); border-top-left-radius: 4px; }",
    ".me { align-self: flex-end; background: var(--brand); color: #fff; border-top-right-radius: 4px; }",
    ".me.failed { background: var(--paper); color: var(--ink); border: 2px dashed var(--brand); }",
    ".who { display: block; font-size: 0.8125em; color: var(--muted); margin-bottom: 2px; }",
    ".me .who { color: #dfe9f5; }",
    ".me.failed .who { color: var(--muted); }",
    ".source { display: block; margin: 6px 0 0; padding-top: 6px; border-top: 1px solid var(--line);",
    "  font-size: 0.8125em; color: var(--muted); white-space: pre-wrap; }",
    ".source a, .text a { color: var(--brand); }",
    ".bot.staff { border-color: var(--brand); border-width: 2px; }",
    ".bot.staff .who { color: var(--brand); font-weight: 600; }",
    ".replies { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }",
    ".replies-label { width: 100%; font-size: 0.8125em; color: var(--muted); }",
    ".reply { text-align: left; min-height: 40px; padding: 6px 12px; border: 1px solid var(--brand);",
    "  border-radius: 18px; background: var(--paper); color: var(--brand); cursor: pointer; line-height: 1.4; }",
    ".reply:hover { background: #e3ecf7; }",
    ".rate { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 8px; font-size: 0.875em;",
    "  color: var(--muted); }",
    ".rate-q { flex-basis: 100%; }",
    ".rate-q:empty { display: none; }",
    ".rate button { display: inline-flex; align-items: center; gap: 4px; min-height: 40px; min-width: 44px;",
    "  padding: 4px 12px; border: 1px solid #6b7480; border-radius: 8px; background: var(--paper);",
    "  color: var(--ink); cursor: pointer; }",
    ".rate button:hover:not(:disabled) { border-color: var(--brand); color: var(--brand); }",
    ".rate button:disabled { cursor: default; color: var(--muted); }",
    ".rate button[aria-pressed=\"true\"] { border-color: var(--brand); color: var(--brand); background: #e3ecf7; }",
    ".rate .thanks { color: var(--ok-ink); font-weight: 600; }",
    ".notice { align-self: stretch; padding: 10px 12px; border: 1px solid #e0a66b; border-radius: 8px;",
    "  background: var(--warn-wash); color: var(--warn-ink); }",
    ".notice p { margin: 0 0 8px; }",
    ".notice button { min-height: 40px; padding: 6px 16px; border: 0; border-radius: 8px; background: var(--brand);",
    "  color: #fff; cursor: pointer; font-weight: 600; }",
    ".typing { display: flex; align-items: center; gap: 8px; margin: 10px 0 6px; color: var(--muted);",
    "  font-size: 0.875em; }",
    ".typing[hidden] { display: none; }",
    ".dots { display: inline-flex; gap: 4px; }",
    ".dots i { width: 7px; height: 7px; border-radius: 50%; background: var(--muted); animation: hzdot 1.2s infinite ease-in-out; }",
    ".dots i:nth-child(2) { animation-delay: 0.2s; } .dots i:nth-child(3) { animation-delay: 0.4s; }",
    "@keyframes hzdot { 0%, 80%, 100% { opacity: 0.25; } 40% { opacity: 1; } }",
    "@media (prefers-reduced-motion: reduce) { .dots i { animation: none; } }",
    ".foot { flex: none; border-top: 1px solid var(--line); background: var(--paper); padding: 8px 10px 10px; }",
    ".row { display: flex; align-items: flex-end; gap: 8px; }",
    ".foot textarea { flex: 1; min-width: 0; min-height: 44px; max-height: 8em; resize: none; padding: 9px 10px;",
    "  border: 1px solid #6b7480; border-radius: 8px; background: var(--paper); color: var(--ink); line-height: 1.5; }",
    ".foot textarea::placeholder { color: #5e6673; opacity: 1; }",
    ".send { display: inline-flex; align-items: center; gap: 4px; min-height: 44px; padding: 8px 14px; border: 0;",
    "  border-radius: 8px; background: var(--brand); color: #fff; font-weight: 600; cursor: pointer; flex: none; }",
    ".send:hover { background: var(--brand-dark); }",
    ".hint { margin: 4px 2px 0; font-size: 0.75em; color: var(--muted); }",
    "@media (max-width: 520px) {",
    "  .panel, .root.large .panel { left: 0; right: 0; top: 0; bottom: 0; width: 100%; height: 100%; border: 0;",
    "    border-radius: 0; }",
    "  .root.open .launcher { display: none; }",
    "  .launcher { right: 12px; bottom: 12px; }",
    "  .msg { max-width: 94%; }",
    "}",
    "@media (forced-colors: active) { .launcher, .send, .me, .notice button { border: 2px solid ButtonText; } }",
  ].join("\n");

  // -- build the widget ----------------------------------------------------------------------------

  var host = document.createElement("div");
  host.setAttribute("data-hz-chat", "");
  host.style.setProperty("all", "initial", "important");
  host.style.setProperty("display", "block", "important");
  var shadow = host.attachShadow({ mode: "open" });

  if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.appendChild(el("style", { text: CSS }));
  }

  var largeText = store.get("large") === "1";
  var root = el("div", { className: "root" + (largeText ? " large" : ""), lang: "zh-CN" });
  shadow.appendChild(root);

  var launcher = el("button", {
    type: "button",
    className: "launcher",
    "aria-expanded": "false",
    "aria-controls": "hz-panel",
  });
  launcher.appendChild(icon(ICON_CHAT, "22"));
  launcher.appendChild(el("span", { text: "在线咨询" }));

  var titleNode = el("h2", { id: "hz-title", text: config.title });
  var largeButton = el("button", { type: "button", "aria-pressed": largeText ? "true" : "false", text: "大字" });
  largeButton.setAttribute("title", "放大文字");
  var closeButton = el("button", { type: "button", "aria-label": "关闭对话窗口" });
  closeButton.appendChild(icon(ICON_CLOSE, "22"));
  var clearButton = el("button", { type: "button", text: "新对话" });
  clearButton.setAttribute("title", "清空记录，开始新对话（本机保存的对话和会话编号都会删除）");
  clearButton.setAttribute("aria-label", "清空记录，开始新对话");
  var head = el("div", { className: "head" }, [titleNode, clearButton, largeButton, closeButton]);

  var log = el("div", { className: "log", role: "log", "aria-live": "polite", "aria-label": "对话记录" });
  var typingDots = el("span", { className: "dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]);
  var typing = el("div", { className: "typing", role: "status", hidden: true }, [
    typingDots,
    el("span", { text: "正在输入…" }),
  ]);
  var body = el("div", { className: "body" }, [log, typing]);

  var input = el("textarea", {
    id: "hz-input",
    rows: "1",
    maxlength: "500",
    placeholder: "请输入您的问题",
    autocomplete: "off",
    "aria-describedby": "hz-hint",
  });
  var label = el("label", { className: "vh", for: "hz-input", text: "输入您的问题" });
  var sendButton = el("button", { type: "submit", className: "send" });
  sendButton.appendChild(icon(ICON_SEND, "18"));
  sendButton.appendChild(el("span", { text: "发送" }));
  var hint = el("p", { className: "hint", id: "hz-hint", text: "按回车发送，Shift+回车换行。请勿输入身份证号、手机号等个人信息。答复仅供参考，具体以主管部门为准。" });
  var form = el("form", { className: "foot", "aria-label": "发送消息" }, [
    label,
    el("div", { className: "row" }, [input, sendButton]),
    hint,
  ]);

  var panel = el("div", { id: "hz-panel", className: "panel", role: "dialog", "aria-labelledby": "hz-title", hidden: true }, [
    head,
    body,
    form,
  ]);
  root.appendChild(launcher);
  root.appendChild(panel);

  // -- rendering -----------------------------------------------------------------------------------

  var SOURCE_PREFIX = "来源：";

  // 12345 as a tel: link wherever it appears (text nodes and an <a>: never HTML)
  function textWithPhone(tag, className, text) {
    var node = el(tag, { className: className });
    var last = 0;
    String(text).replace(HOTLINE, function (match, offset) {
      if (offset > last) node.appendChild(document.createTextNode(text.slice(last, offset)));
      node.appendChild(el("a", { href: "tel:12345", text: "12345" }));
      last = offset + match.length;
      return match;
    });
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
    return node;
  }

  function shortSource(clause) {
    if (clause.indexOf("2022报告") === 0) return "2022年进展报道 " + clause.replace(/^2022报告·?/, "");
    return "行动计划 " + clause;
  }

  function hasHandoffButton(buttons) {
    return (buttons || []).some(function (b) {
      return b.payload === "转人工";
    });
  }

  function handoffButton(container) {
    var b = el("button", { type: "button", className: "reply", text: "转人工" });
    b.addEventListener("click", function () {
      send("转人工");
    });
    container.appendChild(b);
  }

  function splitSource(message) {
    var text = message.text || "";
    var source = message.answer && typeof message.answer.source === "string" ? message.answer.source : "";
    var lines = text.replace(/\s+$/, "").split("\n");
    var last = lines[lines.length - 1] || "";
    if (lines.length > 1 && last.trim().indexOf(SOURCE_PREFIX) === 0) {
      lines.pop();
      source = source || last.trim();
    } else if (source && lines.length === 1 && last.trim() === source) {
      lines = [];
    }
    return { text: lines.join("\n"), source: source };
  }

  function renderRating(message) {
    var row = el("div", { className: "rate", role: "group", "aria-label": "对这条答复的评价" });
    var question = el("span", { className: "rate-q", text: "这条答复有帮助吗？" });
    var up = el("button", { type: "button", "aria-label": "有帮助", title: "有帮助" });
    up.appendChild(icon(ICON_UP, "18"));
    up.appendChild(el("span", { "aria-hidden": "true", text: "有帮助" }));
    var down = el("button", { type: "button", "aria-label": "没帮助", title: "没帮助" });
    down.appendChild(icon(ICON_DOWN, "18"));
    down.appendChild(el("span", { "aria-hidden": "true", text: "没帮助" }));
    var status = el("span", { className: "thanks", tabindex: "-1" });
    row.appendChild(question);
    row.appendChild(up);
    row.appendChild(down);
    row.appendChild(status);

    function showRated(rating) {
      up.disabled = down.disabled = true;
      up.setAttribute("aria-pressed", rating === "up" ? "true" : "false");
      down.setAttribute("aria-pressed", rating === "down" ? "true" : "false");
      question.textContent = "";
      status.className = "thanks";
      status.textContent = "感谢反馈";
    }

    function rate(rating) {
      var hadFocus = shadow.activeElement === up || shadow.activeElement === down;
      up.disabled = down.disabled = true; // a disabled button loses focus: keep it nearby
      if (hadFocus) status.focus();
      status.className = "";
      status.textContent = "正在提交…";
      request(config.feedback + "/api/v1/feedback", {
        faq_id: message.answer.faq_id,
        rating: rating,
        question: typeof message.question === "string" ? message.question : undefined, // masked by the server
      })
        .then(function (response) {
          if (response.status !== 201 && response.status !== 200) throw new Error("HTTP " + response.status);
          message.rated = rating;
          saveTranscript();
          showRated(rating);
          if (rating === "down") offerPerson();
        })
        .catch(function () {
          up.disabled = down.disabled = false;
          if (hadFocus) (rating === "up" ? up : down).focus();
          status.textContent = "反馈没有提交成功，请稍后再试。";
        });
    }

    up.addEventListener("click", function () {
      rate("up");
    });
    down.addEventListener("click", function () {
      rate("down");
    });
    function offerPerson() {
      if (row.querySelector(".reply")) return;
      status.textContent = "感谢反馈。需要找工作人员吗？";
      handoffButton(row);
    }
    if (message.rated) showRated(message.rated);
    if (message.rated === "down") offerPerson();
    return row;
  }

  function renderMessage(message) {
    var node;
    if (message.from === "me") {
      node = el("div", { className: "msg me" + (message.failed ? " failed" : "") }, [
        el("span", { className: "who vh", text: "我：" }),
        el("p", { className: "text", text: message.text }),
      ]);
      message.node = node;
      return node;
    }
    var parts = splitSource(message);
    node = el("div", { className: "msg bot" + (message.staff ? " staff" : "") }, [
      el("span", { className: message.staff ? "who" : "who vh", text: message.staff ? "工作人员：" : "助手：" }),
    ]);
    if (parts.text) node.appendChild(textWithPhone("p", "text", parts.text));
    var clause = message.answer && message.answer.clause;
    if (clause) {
      // the short source ("行动计划 第9条") opens the clause with the document's full title
      var link = el("a", {
        className: "clause-link",
        href: config.feedback + "/clauses/" + encodeURIComponent(clause),
        target: "_blank",
        rel: "noopener",
        title: parts.source.replace(SOURCE_PREFIX, "") || null,
        text: shortSource(clause),
      });
      node.appendChild(el("p", { className: "source" }, [document.createTextNode(SOURCE_PREFIX), link]));
    } else if (parts.source) {
      node.appendChild(el("p", { className: "source", text: parts.source }));
    }
    if (message.step === "not_covered" && !hasHandoffButton(message.buttons)) {
      var onward = el("div", { className: "replies" });
      handoffButton(onward);
      node.appendChild(onward);
    }
    if (message.buttons && message.buttons.length) {
      var replies = el("div", { className: "replies" });
      if (message.answer) replies.appendChild(el("span", { className: "replies-label", text: "您可能还想问：" }));
      message.buttons.forEach(function (button) {
        var b = el("button", { type: "button", className: "reply", text: button.title });
        b.addEventListener("click", function () {
          send(button.payload, button.title);
        });
        replies.appendChild(b);
      });
      node.appendChild(replies);
    }
    var faqId = message.answer && message.answer.faq_id;
    if (typeof faqId === "number" && faqId > 0 && Math.floor(faqId) === faqId) node.appendChild(renderRating(message));
    message.node = node;
    return node;
  }

  function renderFailure(message) {
    var retry = el("button", { type: "button", text: "重新发送" });
    var notice = el("div", { className: "notice" }, [el("p", { text: OFFLINE_TEXT }), retry]);
    retry.addEventListener("click", function () {
      deliver(message, true);
      input.focus(); // the notice with this button goes away
    });
    message.notice = notice;
    return notice;
  }

  function append(message) {
    log.appendChild(renderMessage(message));
    if (message.failed) log.appendChild(renderFailure(message));
    scrollToEnd();
  }

  function scrollToEnd() {
    body.scrollTop = body.scrollHeight;
  }

  // -- talking to the servers -----------------------------------------------------------------------

  function request(url, payload) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () {
      if (controller) controller.abort();
    }, REQUEST_TIMEOUT_MS);
    return fetch(url, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
      signal: controller ? controller.signal : undefined,
    }).finally(function () {
      clearTimeout(timer);
    });
  }

  function botMessages(replies) {
    var out = [];
    replies.forEach(function (reply) {
      if (!reply || typeof reply !== "object") return;
      var custom = reply.custom;
      if (custom && typeof custom === "object" && custom.answer && typeof custom.answer === "object") {
        var target = out[out.length - 1];
        if (target) {
          var faqId = Number(custom.answer.faq_id);
          target.answer = {
            faq_id: isFinite(faqId) && faqId > 0 ? Math.floor(faqId) : undefined,
            source: typeof custom.answer.source === "string" ? custom.answer.source : "",
            clause: typeof custom.answer.clause === "string" ? custom.answer.clause : undefined,
          };
          if (typeof custom.step === "string") target.step = custom.step;
        }
        return;
      }
      if (custom && typeof custom === "object" && typeof custom.step === "string") {
        if (out.length) out[out.length - 1].step = custom.step;
        return;
      }
      var text = typeof reply.text === "string" ? reply.text : "";
      var buttons = cleanButtons(reply.buttons);
      if (text || buttons.length) out.push({ from: "bot", text: text, buttons: buttons });
    });
    return out;
  }

  // The server returns the message as it kept it, personal data masked (resident_text): the
  // transcript in localStorage and on screen keep that, not the ID or phone number typed.
  function keepAsServerKeptIt(message, replies) {
    if (message.payload) return; // a button: its title is shown, its payload was sent
    for (var i = 0; i < replies.length; i++) {
      var kept = replies[i] && replies[i].resident_text;
      if (typeof kept === "string" && kept) {
        if (kept !== message.text) {
          message.text = kept;
          var shown = message.node && message.node.querySelector(".text");
          if (shown) shown.textContent = kept;
        }
        return;
      }
    }
  }

  var queue = Promise.resolve();
  var pending = 0;

  function setTyping(on) {
    pending += on ? 1 : -1;
    typing.hidden = pending <= 0;
    scrollToEnd();
  }

  function deliver(message, retrying) {
    if (message.sending) return;
    message.sending = true;
    if (retrying) {
      message.failed = false;
      if (message.notice && message.notice.parentNode) message.notice.parentNode.removeChild(message.notice);
      message.notice = null;
      if (message.node) message.node.classList.remove("failed");
    }
    saveTranscript();
    queue = queue.then(function () {
      setTyping(true);
      return request(config.server + "/webhooks/rest/webhook", {
        sender: sender,
        message: message.payload || message.text,
      })
        .then(function (response) {
          // 429 carries a polite "please slow down" in the usual reply format
          if (!response.ok && response.status !== 429) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (replies) {
          if (!Array.isArray(replies)) throw new Error("unexpected reply");
          keepAsServerKeptIt(message, replies);
          var messages = botMessages(replies);
          if (!messages.length) messages = [{ from: "bot", text: EMPTY_REPLY_TEXT, buttons: [] }];
          messages.forEach(function (m) {
            m.id = nextId++;
            m.question = message.text; // what the resident asked, for the feedback on this answer
            transcript.push(m);
            append(m);
            if (m.step && HANDOFF_STEPS[m.step]) startPolling();
          });
        })
        .catch(function () {
          message.failed = true;
          if (message.node) {
            message.node.classList.add("failed");
            var notice = renderFailure(message);
            if (message.node.parentNode === log) message.node.parentNode.insertBefore(notice, message.node.nextSibling);
          }
        })
        .then(function () {
          message.sending = false;
          saveTranscript();
          setTyping(false);
        });
    });
  }

  function send(text, shown) {
    var message = { id: nextId++, from: "me", text: shown || text, buttons: [] };
    if (shown && shown !== text) message.payload = text;
    transcript.push(message);
    append(message);
    deliver(message, false);
  }

  // -- hand-off to staff: poll the staff service for their replies (issue 15) ----------------------

  var pollTimer = null;

  function startPolling() {
    store.set("handoff", "1");
    if (!pollTimer) pollTimer = setTimeout(poll, POLL_MS);
  }

  function stopPolling() {
    store.set("handoff", "");
    clearTimeout(pollTimer);
    pollTimer = null;
  }

  function poll() {
    pollTimer = null;
    var cursor = store.get("cursor");
    var url = config.feedback + "/webchat/" + encodeURIComponent(sender) + "/messages";
    if (cursor && /^[0-9]+$/.test(cursor)) url += "?after=" + cursor;
    var polledFor = sender;
    fetch(url, { mode: "cors", credentials: "omit", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (state) {
        if (polledFor !== sender) return; // the conversation was cleared meanwhile
        (Array.isArray(state.messages) ? state.messages : []).forEach(function (m) {
          if (!m || typeof m.text !== "string") return;
          var message = { id: nextId++, from: "bot", text: m.text, buttons: [], staff: m.from === "staff" };
          transcript.push(message);
          append(message);
        });
        if (typeof state.cursor === "number") store.set("cursor", String(state.cursor));
        saveTranscript();
        if (state.handoff) startPolling();
        else stopPolling();
      })
      .catch(function () {
        if (store.get("handoff") === "1") pollTimer = setTimeout(poll, POLL_MS * 4); // try again, slower
      });
  }

  function greeting() {
    return { from: "bot", text: config.greeting, buttons: TOPICS };
  }

  function newConversation() {
    stopPolling();
    ["log", "sender", "cursor", "draft", "handoff"].forEach(store.remove);
    sender = randomId();
    store.set("sender", sender);
    transcript.length = 0;
    while (log.firstChild) log.removeChild(log.firstChild);
    log.appendChild(renderMessage(greeting()));
    input.value = "";
    autosize();
    input.focus();
  }

  clearButton.addEventListener("click", newConversation);

  // -- behaviour ------------------------------------------------------------------------------------

  var composing = false; // our own IME flag: KeyboardEvent.isComposing alone is not enough
  var compositionTimer = null;

  input.addEventListener("compositionstart", function () {
    clearTimeout(compositionTimer);
    composing = true;
  });
  input.addEventListener("compositionend", function () {
    // Some browsers fire the Enter keydown that commits the text right after compositionend.
    clearTimeout(compositionTimer);
    compositionTimer = setTimeout(function () {
      composing = false;
    }, 0);
  });
  input.addEventListener("blur", function () {
    composing = false;
  });

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 220) + "px";
  }

  input.addEventListener("input", function () {
    store.set("draft", input.value);
    autosize();
  });

  input.addEventListener("keydown", function (event) {
    if (event.isComposing || event.keyCode === 229 || composing) return; // the IME owns this key
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      submit();
    }
  });

  function submit() {
    var text = input.value.trim();
    if (!text) {
      input.focus();
      return;
    }
    input.value = "";
    store.set("draft", "");
    autosize();
    send(text);
    input.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });

  function open(focusInput) {
    panel.hidden = false;
    root.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    session.set("open", "1");
    autosize();
    scrollToEnd();
    if (focusInput) input.focus();
  }

  function close() {
    panel.hidden = true;
    root.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    session.set("open", "0");
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) open(true);
    else close();
  });
  closeButton.addEventListener("click", close);
  root.addEventListener("keydown", function (event) {
    if ((event.key === "Escape" || event.key === "Esc") && !panel.hidden && !composing && !event.isComposing) {
      event.preventDefault();
      close();
    }
  });

  largeButton.addEventListener("click", function () {
    largeText = !largeText;
    root.classList.toggle("large", largeText);
    largeButton.setAttribute("aria-pressed", largeText ? "true" : "false");
    store.set("large", largeText ? "1" : "0");
    autosize();
  });

  // -- start ----------------------------------------------------------------------------------------

  log.appendChild(renderMessage(greeting()));
  transcript.forEach(append);
  input.value = store.get("draft") || "";
  if (store.get("handoff") === "1") startPolling();

  function mount() {
    document.body.appendChild(host);
    if (session.get("open") === "1") open(false);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  // for embedding pages: window.hzChatWidget.open() / .close()
  window.hzChatWidget = {
    open: function () {
      open(true);
    },
    close: close,
  };
})();
