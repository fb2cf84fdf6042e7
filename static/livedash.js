/* livedash page script: the little htmx does not do by itself. Loaded with `defer` after
 * htmx and its SSE extension; no inline code anywhere (strict Content-Security-Policy).
 *
 * - Resume without loss: when an EventSource ends for good (a 502 during a deploy), the SSE
 *   extension builds a new one, which sends no Last-Event-ID (htmx-extensions issue 184). We
 *   wrap htmx.createEventSource to put the last id we saw into the URL instead.
 * - Connection status and the time of the last update in the header.
 * - The activity feed keeps at most data-cap items.
 * - Times are shown in the reader's time zone.
 */
(function () {
  "use strict";

  var lastId = null;
  var statusEl = null;
  var updatedEl = null;

  function withLastId(url, id) {
    var u = new URL(url, window.location.href);
    u.searchParams.set("lastEventId", id);
    return u.pathname + u.search;
  }

  function remember(event) {
    if (event && event.lastEventId) {
      lastId = event.lastEventId;
    }
  }

  function setStatus(state) {
    statusEl = statusEl || document.getElementById("connection-status");
    if (statusEl && statusEl.dataset.state !== state) {
      statusEl.dataset.state = state;
      statusEl.textContent = state;
    }
  }

  function localTime(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function localizeTimes(root) {
    var times = root.querySelectorAll ? root.querySelectorAll("time[datetime]") : [];
    for (var i = 0; i < times.length; i++) {
      var date = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(date.getTime())) {
        var prefix = times[i].classList.contains("alert__time") ? "since " : "";
        times[i].textContent = prefix + localTime(date);
      }
    }
  }

  function markUpdated() {
    updatedEl = updatedEl || document.getElementById("last-update");
    if (updatedEl) {
      var now = new Date();
      updatedEl.setAttribute("datetime", now.toISOString());
      updatedEl.textContent = localTime(now);
    }
  }

  function trimFeed(feed) {
    var cap = parseInt(feed.dataset.cap, 10);
    while (cap > 0 && feed.children.length > cap) {
      feed.removeChild(feed.lastElementChild);
    }
  }

  var create = htmx.createEventSource;
  htmx.createEventSource = function (url) {
    var source = create(lastId ? withLastId(url, lastId) : url);
    source.addEventListener("heartbeat", remember);
    source.addEventListener("open", function () { setStatus("live"); });
    source.addEventListener("error", function () { setStatus("reconnecting"); });
    return source;
  };

  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    remember(evt.detail);
  });

  document.addEventListener("htmx:sseMessage", function (evt) {
    markUpdated();
    var feed = document.getElementById("activity-feed");
    if (feed && (evt.target === feed || evt.detail.type === "snapshot")) {
      trimFeed(feed);
    }
  });

  htmx.onLoad(localizeTimes);
})();
