/* livedash page script: the little htmx does not do by itself. Loaded with `defer` after
 * htmx and its SSE extension; no inline code anywhere (strict Content-Security-Policy).
 *
 * - Resume without loss: when an EventSource ends for good (a 502 during a deploy), the SSE
 *   extension builds a new one, which sends no Last-Event-ID (bigskysoftware/htmx-extensions#184). We
 *   wrap htmx.createEventSource to put the last id we saw into the URL instead.
 * - Connection status and the time of the last update in the header.
 * - A watchdog that reconnects when the line goes silent (no heartbeat) without an error.
 * - The activity feed keeps at most data-cap items.
 * - Times are shown in the reader's time zone.
 * - The tab title counts the open alerts, "(2) livedash", so a background tab still tells.
 * - Logged out (a revoked viewer link, an expired session): when the stream is refused for
 *   good, ask (HEAD of the stream) whether the session still holds; if not, go to the login
 *   page instead of retrying a stream that will never open.
 */
(function () {
  "use strict";

  var lastId = null;
  var statusEl = null;
  var updatedEl = null;
  var current = null;
  var lastTraffic = Date.now();

  function withLastId(url, id) {
    var u = new URL(url, window.location.href);
    u.searchParams.set("lastEventId", id);
    return u.pathname + u.search;
  }

  function remember(event) {
    lastTraffic = Date.now();
    if (event && event.lastEventId) {
      lastId = event.lastEventId;
    }
  }

  // A connection can die without a word (a laptop sleeps, a NAT forgets it): the server
  // sends a heartbeat every data-heartbeat-ms, so silence for two of those means the line is
  // dead. Close it and hand it to the SSE extension's own reconnect path, which builds a
  // new EventSource (through createEventSource below, so it resumes from lastId).
  function watchdog() {
    statusEl = statusEl || document.getElementById("connection-status");
    var heartbeat = statusEl ? parseInt(statusEl.dataset.heartbeatMs, 10) : NaN;
    if (!current || current.readyState !== EventSource.OPEN || !(heartbeat > 0)) {
      return;
    }
    if (Date.now() - lastTraffic > 2 * heartbeat + 1000) {
      var dead = current;
      current = null;
      dead.close();
      setStatus("reconnecting");
      if (typeof dead.onerror === "function") {
        dead.onerror(new Event("error"));
      }
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

  function countAlertsInTitle() {
    var heading = document.querySelector(".topbar__title");
    var alerts = document.querySelectorAll("#alerts > .alert").length;
    if (heading) {
      document.title = (alerts ? "(" + alerts + ") " : "") + heading.textContent;
    }
  }

  function trimFeed(feed) {
    var cap = parseInt(feed.dataset.cap, 10);
    while (cap > 0 && feed.children.length > cap) {
      feed.removeChild(feed.lastElementChild);
    }
  }

  var checking = false;
  function checkSession() {
    if (checking || !window.fetch) {
      return;
    }
    checking = true;
    // HEAD of the stream answers at once: 200 while the session holds, 401 once it is gone.
    fetch("/dashboard/stream", { method: "HEAD", cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign("/login");
          return true; // leaving: never check (and navigate) again
        }
        return false;
      })
      .catch(function () { return false; })
      .then(function (leaving) { checking = leaving; });
  }

  var create = htmx.createEventSource;
  htmx.createEventSource = function (url) {
    var source = create(lastId ? withLastId(url, lastId) : url);
    current = source;
    source.addEventListener("heartbeat", remember);
    source.addEventListener("open", function () {
      lastTraffic = Date.now();
      setStatus("live");
    });
    source.addEventListener("error", function () {
      setStatus("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        checkSession();
      }
    });
    return source;
  };

  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    remember(evt.detail);
  });

  document.addEventListener("htmx:sseMessage", function (evt) {
    markUpdated();
    countAlertsInTitle();
    var feed = document.getElementById("activity-feed");
    if (feed && (evt.target === feed || evt.detail.type === "snapshot")) {
      trimFeed(feed);
    }
  });

  htmx.onLoad(localizeTimes);
  window.setInterval(watchdog, 1000);
})();
