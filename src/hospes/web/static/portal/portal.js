// Admin portal progressive enhancement (no framework, no build). Everything works without it:
// - live validation of provisioning expressions (GET .../validate-expression, changes nothing);
// - the provisioning progress bar polls its JSON while a cycle runs.
"use strict";
(function () {
  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  document.querySelectorAll("textarea[data-validate-url]").forEach(function (box) {
    const out = document.getElementById("live-expression");
    const kind = document.getElementById("f-source_type");
    if (!out) return;
    const check = debounce(function () {
      if (kind && kind.value !== "Function") {
        out.textContent = "";
        return;
      }
      const url = box.dataset.validateUrl + "?expression=" + encodeURIComponent(box.value);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          out.textContent = data.message;  // textContent: never markup
          out.className = "live " + (data.ok ? "ok" : "error");
          if (data.caret) {
            const pre = document.createElement("pre");
            pre.textContent = data.caret;
            out.appendChild(pre);
          }
          box.setAttribute("aria-invalid", data.ok ? "false" : "true");
        })
        .catch(function () { out.textContent = ""; });
    }, 300);
    box.addEventListener("input", check);
    if (kind) kind.addEventListener("change", check);
  });

  const progress = document.getElementById("prov-progress");
  if (progress && progress.dataset.pollUrl) {
    const bar = document.getElementById("prov-bar");
    const text = document.getElementById("prov-progress-text");
    const hint = progress.querySelector(".noscript-hint");
    if (hint) hint.hidden = true;
    const poll = function () {
      fetch(progress.dataset.pollUrl, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (typeof data.total === "number") {
            bar.max = Math.max(data.total, 1);
            bar.value = data.done;
            text.textContent = data.done + " / " + data.total + (data.eta ? " · ~" + data.eta + " s" : "");
          }
          if (data.running) setTimeout(poll, 2000);
        })
        .catch(function () {});
    };
    poll();
  }
})();
