// Live chat: live.js forwards the stream's "conversation" events (a direct message joined
// one of the viewer's conversations) as "fedwall:conversation" DOM events. An open
// conversation fetches the new message, rendered and checked by the server, and appends
// it; the conversation list is fetched again; the Chat badge counts unread messages.
// An older page of a conversation has no data-live-chat: nothing is appended there.
// No inline script: the CSP forbids it.
(function () {
  "use strict";

  var body = document.body;
  var messages = document.querySelector("[data-live-chat]");
  var list = document.querySelector("[data-live-chat-list]");
  var status = document.getElementById("live-status");

  // A form's outcome (?sent=, ?done=, ?added= after its redirect) is shown once: the
  // address loses them, so a reload or a bookmark does not repeat the confirmation.
  function forgetOutcome() {
    if (window.location.pathname.indexOf("/chat") !== 0 || !window.history.replaceState) {
      return;
    }
    var url = new URL(window.location.href);
    var changed = false;
    ["sent", "done", "added"].forEach(function (name) {
      if (url.searchParams.has(name)) {
        url.searchParams.delete(name);
        changed = true;
      }
    });
    if (changed) {
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    }
  }

  function announce(text) {
    if (status && text) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 50);
    }
  }

  function get(url, accept) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: accept } })
      .then(function (response) { return response.ok ? response : null; });
  }

  function refreshBadge() {
    var badge = document.getElementById("chat-badge");
    if (!badge || !body.dataset.chatUnreadUrl) {
      return Promise.resolve();
    }
    return get(body.dataset.chatUnreadUrl, "application/json")
      .then(function (response) { return response ? response.json() : null; })
      .then(function (counts) {
        if (!counts) {
          return;
        }
        var label = document.getElementById("chat-label");
        badge.textContent = String(counts.unread);
        badge.hidden = counts.unread === 0;
        if (label) {
          label.textContent = counts.unread > 0 ? counts.label : "";
        }
      });
  }

  function showMessage(postId) {
    if (document.getElementById("message-" + postId)) {
      return Promise.resolve();
    }
    var url = messages.dataset.messageUrl.replace(/0$/, String(postId));
    return get(url, "text/html")
      .then(function (response) { return response ? response.text() : null; })
      .then(function (html) {
        if (!html || document.getElementById("message-" + postId)) {
          return;
        }
        var template = document.createElement("template");
        template.innerHTML = html.trim();
        var item = template.content.firstElementChild;
        if (!item) {
          return;
        }
        if (!item.classList.contains("mine")) {
          item.classList.add("arrived");
          announce(body.dataset.newMessageText);
        }
        messages.appendChild(item);
        item.scrollIntoView({ block: "nearest" });
      });
  }

  function refreshList() {
    return get(list.dataset.listUrl, "text/html")
      .then(function (response) { return response ? response.text() : null; })
      .then(function (html) {
        if (html) {
          list.innerHTML = html;
        }
      });
  }

  forgetOutcome();

  document.addEventListener("fedwall:conversation", function (event) {
    var data = event.detail || {};
    var done = Promise.resolve();
    if (messages && data.post_id) {
      done = showMessage(data.post_id);
    } else if (list) {
      done = refreshList();
    }
    done.then(refreshBadge, refreshBadge);
  });
}());
