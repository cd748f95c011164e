// Admin portal progressive enhancement (no framework, no build). Everything works without it:
// - live validation of provisioning expressions (GET .../validate-expression, changes nothing);
// - the provisioning progress bar polls its JSON while a cycle runs, and the status panel reloads the page when a
//   cycle ends or the job changes state (so "Last cycle" is never stale);
// - pickers list the users or groups matching what is typed (GET .../admin/pick, changes nothing).
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

  // Pickers: as the administrator types, the matching users or groups are listed under the box; choosing one
  // fills the box with its sign-in name (a group: its name), which the server resolves when the form is sent.
  document.querySelectorAll("input[data-pick-url]").forEach(function (box) {
    const list = document.getElementById(box.getAttribute("aria-controls"));
    if (!list) return;
    let active = -1;
    const options = function () { return Array.prototype.slice.call(list.querySelectorAll("li")); };
    const close = function () {
      list.hidden = true;
      active = -1;
      box.setAttribute("aria-expanded", "false");
      box.removeAttribute("aria-activedescendant");
    };
    const choose = function (item) {
      box.value = item.dataset.value;
      close();
      box.focus();
    };
    const highlight = function (index) {
      const items = options();
      if (!items.length) return;
      active = (index + items.length) % items.length;
      items.forEach(function (li, i) { li.setAttribute("aria-selected", i === active ? "true" : "false"); });
      box.setAttribute("aria-activedescendant", items[active].id);
    };
    const search = debounce(function () {
      const text = box.value.trim();
      if (!text) { close(); return; }
      const url = box.dataset.pickUrl + "&q=" + encodeURIComponent(text);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          list.replaceChildren();
          data.results.forEach(function (found, i) {
            const li = document.createElement("li");
            li.id = list.id + "-" + i;
            li.setAttribute("role", "option");
            li.dataset.value = found.value;
            const name = document.createElement("strong");
            name.textContent = found.name;  // textContent: never markup
            li.appendChild(name);
            if (found.detail) {
              const detail = document.createElement("span");
              detail.textContent = " " + found.detail;
              li.appendChild(detail);
            }
            li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(li); });
            list.appendChild(li);
          });
          list.hidden = data.results.length === 0;
          box.setAttribute("aria-expanded", list.hidden ? "false" : "true");
          active = -1;
        })
        .catch(close);
    }, 200);
    box.addEventListener("input", search);
    box.addEventListener("blur", close);
    box.addEventListener("keydown", function (event) {
      if (list.hidden) return;
      if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
      else if (event.key === "Escape") { close(); }
      else if (event.key === "Enter" && active >= 0) { event.preventDefault(); choose(options()[active]); }
    });
  });

  // The Users list's "select all": shown only with the script, it checks or clears the page's rows.
  const all = document.getElementById("select-all");
  if (all) {
    const boxes = document.querySelectorAll("input[name=ids]");
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
  }

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

  const status = document.getElementById("prov-status");
  if (status && status.dataset.pollUrl && ["Active", "Quarantine"].indexOf(status.dataset.code) >= 0) {
    const watch = function () {
      fetch(status.dataset.pollUrl, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          const ended = data.lastEnded || "";
          if ((data.code && data.code !== status.dataset.code) || ended !== status.dataset.lastEnded) {
            window.location.reload();
            return;
          }
          setTimeout(watch, 5000);
        })
        .catch(function () { setTimeout(watch, 15000); });
    };
    setTimeout(watch, 5000);
  }
})();
