/* "问一句试试" on every admin page: sends the question to POST /admin/try and shows what the bot
   would answer, which step decided, and the closest matches with their scores. Everything is set
   with textContent (never HTML). The typed question stays in the box, also when the session has
   expired or the server cannot be reached. Without JavaScript the form opens a page instead. */
(function () {
  "use strict";

  var form = document.getElementById("try-form");
  var input = document.getElementById("try-text");
  var result = document.getElementById("try-result");
  if (!form || !input || !result || !window.fetch) {
    return;
  }
  var seq = 0;

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function show(nodes) {
    result.textContent = "";
    var close = el("button", "关闭", "link-button try-close");
    close.type = "button";
    close.addEventListener("click", hide);
    result.appendChild(close);
    nodes.forEach(function (node) {
      result.appendChild(node);
    });
    result.hidden = false;
  }

  function hide() {
    result.hidden = true;
    result.textContent = "";
    input.focus();
  }

  function problem(message) {
    show([el("p", message, "try-error")]);
  }

  function matchesTable(matches) {
    if (!matches.length) {
      return el("p", "知识库中没有任何相关的内容。", "hint");
    }
    var table = el("table", null, "try-matches");
    var head = table.createTHead().insertRow();
    ["条目或条款", "问题或原文", "匹配度"].forEach(function (name) {
      var th = el("th", name);
      th.scope = "col";
      head.appendChild(th);
    });
    var body = table.createTBody();
    matches.forEach(function (m) {
      var row = body.insertRow();
      var where = row.insertCell();
      if (m.faq_id) {
        var link = el("a", "条目 #" + m.faq_id);
        link.href = "/admin/faqs/" + encodeURIComponent(m.faq_id);
        where.appendChild(link);
      } else {
        where.textContent = m.clause || "";
      }
      var text = row.insertCell();
      text.className = "text";
      text.textContent = m.question || "";
      row.insertCell().textContent = Math.round((m.score || 0) * 100) + "%";
    });
    return table;
  }

  function render(question, data) {
    var meta = el("p", null, "meta");
    meta.appendChild(document.createTextNode("决定步骤："));
    meta.appendChild(el("strong", data.step_name || data.step, "try-step"));
    meta.appendChild(document.createTextNode("（"));
    meta.appendChild(el("code", data.step));
    meta.appendChild(document.createTextNode("）"));
    if (data.nlu) {
      meta.appendChild(document.createTextNode(" · 意图 " + data.nlu.intent + "（" + data.nlu.confidence + "）"));
    } else {
      meta.appendChild(document.createTextNode(" · 未使用意图识别（NLU），依赖意图的判断可能与机器人不同"));
    }
    if (data.inbox) {
      meta.appendChild(document.createTextNode(" · 这样问会进入未解答问题（" + data.inbox.kind_name + "）"));
    }
    show([
      el("h2", "“" + question + "”"),
      meta,
      el("div", data.reply, "bubble try-reply"),
      el("h3", "最接近的匹配"),
      matchesTable(data.matches || []),
    ]);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question) {
      problem("请输入要试问的问题。");
      input.focus();
      return;
    }
    var mine = ++seq;
    show([el("p", "正在试问……", "hint")]);
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      redirect: "manual",
    })
      .then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") !== -1;
        if (response.type === "opaqueredirect" || response.status === 401 || !json) {
          // the session ended: the server answers with the login page instead of JSON
          throw new Error("登录已过期，请重新登录后再试（您输入的问题仍在输入框中）。");
        }
        return response.json().then(function (data) {
          if (!response.ok) {
            throw new Error(data.message || "试问没有成功，请稍后再试。");
          }
          return data;
        });
      })
      .then(function (data) {
        if (mine === seq) {
          render(question, data);
        }
      })
      .catch(function (error) {
        if (mine === seq) {
          var message = error && error.message && /[\u4e00-\u9fff]/.test(error.message)
            ? error.message
            : "无法连接服务器，请稍后再试（您输入的问题仍在输入框中）。";
          problem(message);
        }
      });
  });

  result.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      hide();
    }
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !result.hidden) {
      hide();
    }
  });
})();
