/* Staff admin: swap the clause text when another clause is picked, and keep the
   preview in step with what is typed. Everything is set with textContent: what
   staff type is always shown as text, never as HTML. The pages work without it. */
(function () {
  "use strict";

  var source = document.getElementById("source");
  var answer = document.getElementById("answer");
  var preview = document.getElementById("preview");
  var note = document.getElementById("preview-note");
  var clauseTitle = document.getElementById("clause-title");
  var clauseText = document.getElementById("clause-text");

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

  if (source) {
    source.addEventListener("change", function () {
      showClause();
      updatePreview();
    });
  }
  if (answer) {
    answer.addEventListener("input", updatePreview);
  }
})();
