// Live updates for signed-in pages: new posts arrive in the home timeline, deleted and
// edited posts change in place, the notification badge counts (chat: static/chat.js). The server sends ids
// over Server-Sent Events; the page fetches what to show, rendered as the server renders
// it, so every visibility check stays on the server. No inline script: the CSP forbids it.
(function () {
  "use strict";

  var body = document.body;

  // The "Edit" link of a post leads to its thread's edit form, folded in a <details>.
  var target = window.location.hash ? document.getElementById(window.location.hash.slice(1)) : null;
  if (target && target.tagName === "DETAILS") {
    target.open = true;
  }

  var streamUrl = body.dataset.liveUrl;
  if (!streamUrl || typeof window.EventSource !== "function") {
    return;
  }
  var timeline = document.querySelector("[data-live-timeline]");
  var status = document.getElementById("live-status");

  function announce(text) {
    if (status && text) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 50);
    }
  }

  function postUrl(postId, shareId) {
    var url = body.dataset.postUrl.replace(/0$/, String(postId));
    return shareId ? url + "?share=" + encodeURIComponent(shareId) : url;
  }

  function fetchPost(postId, shareId) {
    return fetch(postUrl(postId, shareId), {
      credentials: "same-origin",
      headers: { Accept: "text/html" }
    }).then(function (response) {
      if (!response.ok) {
        return null;
      }
      return response.text().then(function (html) {
        var template = document.createElement("template");
        template.innerHTML = html.trim();
        return template.content.firstElementChild;
      });
    });
  }

  function statusSelector(postId, shareId) {
    return shareId ? "#status-" + shareId : "#status-" + postId;
  }

  function onUpdate(data) {
    if (!timeline || document.querySelector(statusSelector(data.post_id, data.share_id))) {
      return;
    }
    fetchPost(data.post_id, data.share_id).then(function (article) {
      if (!article || document.getElementById(article.id)) {
        return;
      }
      var empty = timeline.querySelector(".empty");
      if (empty) {
        empty.remove();
      }
      article.classList.add("arrived");
      timeline.insertBefore(article, timeline.firstElementChild);
      announce(body.dataset.newPostText);
    });
  }

  function onStatusUpdate(data) {
    var shown = document.querySelectorAll('[data-post-id="' + data.post_id + '"]');
    Array.prototype.forEach.call(shown, function (old) {
      fetchPost(data.post_id, old.dataset.shareId).then(function (article) {
        if (article && old.parentNode) {
          old.parentNode.replaceChild(article, old);
        }
      });
    });
  }

  function onDelete(data) {
    var selector = data.share_id
      ? '[data-share-id="' + data.share_id + '"]'
      : '[data-post-id="' + data.post_id + '"]';
    Array.prototype.forEach.call(document.querySelectorAll(selector), function (gone) {
      gone.remove();
    });
  }

  function onNotification() {
    var badge = document.getElementById("unread-badge");
    if (!badge) {
      return;
    }
    fetch(body.dataset.unreadUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (counts) {
        if (!counts) {
          return;
        }
        var label = document.getElementById("unread-label");
        badge.textContent = String(counts.unread);
        badge.hidden = counts.unread === 0;
        if (label) {
          label.textContent = counts.unread > 0 ? counts.label : "";
        }
        if (counts.unread > 0) {
          announce(counts.label);
        }
      });
  }

  function handler(callback) {
    return function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      callback(data);
    };
  }

  var source = new EventSource(streamUrl);
  source.addEventListener("ready", function () { body.dataset.liveState = "ready"; });
  source.addEventListener("update", handler(onUpdate));
  source.addEventListener("status.update", handler(onStatusUpdate));
  source.addEventListener("delete", handler(onDelete));
  source.addEventListener("notification", handler(onNotification));
  // Chat messages: static/chat.js shows them (one stream per page serves both scripts).
  source.addEventListener("conversation", handler(function (data) {
    document.dispatchEvent(new CustomEvent("fedwall:conversation", { detail: data }));
  }));
  source.addEventListener("error", function () {
    if (body.dataset.liveState === "ready") {
      announce(body.dataset.liveErrorText);
    }
    body.dataset.liveState = source.readyState === EventSource.CLOSED ? "closed" : "connecting";
  });
  window.addEventListener("pagehide", function () { source.close(); });
}());
