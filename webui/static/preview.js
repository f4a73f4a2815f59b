// The composer's audience preview: as the author types, the composer's fields go to
// the server (with the form's CSRF token), which answers with the preview rendered as
// HTML. Debounced, and only the latest answer is shown. No inline script (CSP).
(function () {
  "use strict";

  var region = document.getElementById("audience-preview");
  var form = region ? region.closest("form") : null;
  if (!region || !form || typeof window.fetch !== "function") {
    return;
  }
  var DELAY_MS = 400;
  var timer = null;
  var latest = 0;
  var lastSent = "";

  function signature(data) {
    var parts = [];
    data.forEach(function (value, key) { parts.push(key + "=" + value); });
    return parts.join("&");
  }

  function refresh() {
    var data = new FormData(form);
    var sent = signature(data);
    if (sent === lastSent) {
      return;
    }
    lastSent = sent;
    latest += 1;
    var ticket = latest;
    region.setAttribute("aria-busy", "true");
    fetch(region.dataset.previewUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "text/html" }
    }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (ticket !== latest) {
        return;
      }
      region.removeAttribute("aria-busy");
      if (html === null) {
        region.dataset.state = "error";
        lastSent = "";
        return;
      }
      var template = document.createElement("template");
      template.innerHTML = html.trim();
      region.replaceChildren(template.content);
      var body = region.querySelector("[data-state]");
      region.dataset.state = body ? body.dataset.state : "ready";
    }).catch(function () {
      if (ticket === latest) {
        region.removeAttribute("aria-busy");
        region.dataset.state = "error";
        lastSent = "";
      }
    });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, DELAY_MS);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  // A draft kept after a rejected post (or restored by the browser) gets its preview too.
  if (form.querySelector("textarea").value.trim()) {
    schedule();
  }
}());
