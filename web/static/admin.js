/* Staff admin: swap the clause text when another clause is picked, keep the
   preview in step with what is typed, and check the figures against the clause
   while typing (the server's grounding rule, POST /admin/faqs/check: one rule for
   the preview and every save). Everything is set with textContent: what staff
   type is always shown as text, never as HTML. The pages work without it. */
(function () {
  "use strict";

  var source = document.getElementById("source");
  var answer = document.getElementById("answer");
  var preview = document.getElementById("preview");
  var note = document.getElementById("preview-note");
  var clauseTitle = document.getElementById("clause-title");
  var clauseText = document.getElementById("clause-text");
  var grounding = document.getElementById("grounding");
  var form = document.getElementById("entry-form");
  var question = document.getElementById("question");
  var checkTimer = null;
  var checkSeq = 0;

  function selectedOption() {
    return source && source.selectedIndex >= 0 ? source.options[source.selectedIndex] : null;
  }

  function showClause() {
    var option = selectedOption();
    if (!option || !clauseText || !clauseTitle) {
      return;
    }
    clauseTitle.textContent = option.textContent;
    clauseText.textContent = option.getAttribute("data-text") || "";
  }

  // Mirrors Answer.message(): the answer (trimmed, as it is saved) and the source line.
  function updatePreview() {
    if (!preview || !answer) {
      return;
    }
    var option = selectedOption();
    var line = option ? option.getAttribute("data-line") || "" : "";
    var text = answer.value.trim();
    preview.textContent = line ? text + "\n" + line : text;
    if (note) {
      note.textContent = "根据您正在填写的内容（尚未保存）";
    }
  }

  // Asks the server whether every figure of the typed answer stands in the chosen clause.
  function checkGrounding() {
    if (!grounding || !form || !window.fetch) {
      return;
    }
    var data = new URLSearchParams();
    ["csrf_token", "question", "answer", "source"].forEach(function (name) {
      var field = form.elements[name];
      if (field) {
        data.append(name, field.value);
      }
    });
    var seq = ++checkSeq;
    fetch("/admin/faqs/check", { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (result) {
        if (!result || seq !== checkSeq) {
          return; // a later check is on its way
        }
        var extra = result.ok || result.code === "unknown_source" ? "" : " 所引条款原文见下方“依据条款原文”。";
        grounding.textContent = result.message + extra;
        grounding.className = "grounding " + (result.ok ? "grounding-ok" : "grounding-problem");
      })
      .catch(function () {
        /* the save checks again; nothing is lost */
      });
  }

  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(checkGrounding, 300);
  }

  if (source) {
    source.addEventListener("change", function () {
      showClause();
      updatePreview();
      scheduleCheck();
    });
  }
  if (answer) {
    answer.addEventListener("input", function () {
      updatePreview();
      scheduleCheck();
    });
  }
  if (question) {
    question.addEventListener("input", scheduleCheck);
  }
})();
