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
 * - Screens heal themselves: every stream opens with a `build` event; when its id is not the
 *   one this page was rendered by (<html data-build>), a deploy happened and the page reloads
 *   once. After minutes without a working stream it reloads too, with backoff, but only once
 *   /healthz answers (a reload against a dead server would leave a browser error page, which
 *   never recovers by itself).
 * - Dev mode only: a `dev-reload` event (a template, CSS or JS file changed) reloads the page.
 *   A production server never sends it.
 * - The theme toggle: dark or light, remembered in this browser (localStorage).
 *
 * Hooks are `data-js-*` attributes, never styling classes; every word shown comes from the
 * templates (data-label-* attributes), none from here.
 */
(function () {
  "use strict";

  var lastId = null;
  var statusEl = null;
  var updatedEl = null;
  var current = null;
  var lastTraffic = Date.now();
  var liveSince = Date.now(); // the last moment the stream was known to work
  var root = document.documentElement;
  var THEME_KEY = "livedash-theme";
  var HEAL_KEY = "livedash-heal"; // sessionStorage: {build, attempts} across self-reloads
  var MAX_BACKOFF_MS = 60 * 60 * 1000;

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
    statusEl = statusEl || document.querySelector("[data-js-status]");
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
    statusEl = statusEl || document.querySelector("[data-js-status]");
    if (state === "live") {
      liveSince = Date.now();
    }
    root.setAttribute("data-live", state === "live" ? "true" : "false");
    if (statusEl && statusEl.dataset.state !== state) {
      statusEl.dataset.state = state;
      statusEl.textContent = statusEl.getAttribute("data-label-" + state) || state;
    }
  }

  function healState() {
    try {
      return JSON.parse(window.sessionStorage.getItem(HEAL_KEY) || "{}") || {};
    } catch (e) {
      return {};
    }
  }

  function saveHealState(state) {
    try {
      window.sessionStorage.setItem(HEAL_KEY, JSON.stringify(state));
    } catch (e) { /* storage off: no memory across reloads, still correct */ }
  }

  // A deploy: the stream's build is not the page's. Reload once per new build, so a proxy
  // that keeps serving the old page cannot make a reload loop.
  function checkBuild(event) {
    var build = event && event.data;
    if (!build || build === root.dataset.build) {
      return;
    }
    var heal = healState();
    if (heal.reloadedFor === build) {
      return;
    }
    heal.reloadedFor = build;
    saveHealState(heal);
    window.location.reload();
  }

  // Several minutes (data-heal-after-ms) without a working stream: reload (a new page, new
  // scripts), with backoff (3, 6, 12 ... 60 min by default) and only when the server answers, so a dead server never leaves a
  // browser error page on the wall.
  var healing = false;
  function healIfDead() {
    statusEl = statusEl || document.querySelector("[data-js-status]");
    var after = statusEl ? parseInt(statusEl.dataset.healAfterMs, 10) : NaN;
    if (!(after > 0)) {
      return;
    }
    var heal = healState();
    var wait = Math.min(after * Math.pow(2, heal.attempts || 0), MAX_BACKOFF_MS);
    if (healing || root.getAttribute("data-live") === "true" || Date.now() - liveSince < wait) {
      return;
    }
    healing = true;
    window.fetch("/healthz", { cache: "no-store" }).then(function (response) {
      // Read the answer to its end first: a reload mid-body would abort the request.
      return response.text().then(function () { return response.ok; });
    }).then(function (ok) {
      if (ok) {
        heal.attempts = (heal.attempts || 0) + 1;
        saveHealState(heal);
        window.location.reload();
      } else {
        liveSince = Date.now(); // try again after the next wait
      }
    }, function () {
      liveSince = Date.now();
    }).then(function () { healing = false; });
  }

  function applyTheme(theme) {
    var toggle = document.querySelector("[data-js-theme-toggle]");
    if (theme === "dark" || theme === "light") {
      root.setAttribute("data-theme", theme);
    } else {
      root.removeAttribute("data-theme");
    }
    if (toggle) {
      var dark = theme ? theme === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
      toggle.setAttribute("aria-pressed", dark ? "true" : "false");
      toggle.hidden = false;
    }
  }

  function storedTheme() {
    try {
      return window.localStorage.getItem(THEME_KEY);
    } catch (e) {
      return null;
    }
  }

  function toggleTheme() {
    var toggle = document.querySelector("[data-js-theme-toggle]");
    var next = toggle && toggle.getAttribute("aria-pressed") === "true" ? "light" : "dark";
    try {
      window.localStorage.setItem(THEME_KEY, next);
    } catch (e) { /* not remembered, still applied */ }
    applyTheme(next);
  }

  function localTime(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function localizeTimes(root) {
    var times = root.querySelectorAll ? root.querySelectorAll("time[datetime]") : [];
    for (var i = 0; i < times.length; i++) {
      var date = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(date.getTime())) {
        times[i].textContent = localTime(date);
      }
    }
  }

  function markUpdated() {
    updatedEl = updatedEl || document.querySelector("[data-js-updated]");
    if (updatedEl) {
      var now = new Date();
      updatedEl.setAttribute("datetime", now.toISOString());
      updatedEl.textContent = localTime(now);
    }
  }

  function countAlertsInTitle() {
    var heading = document.querySelector("[data-js-title]");
    var alerts = document.querySelectorAll("[data-js-alert]").length;
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
    source.addEventListener("build", checkBuild);
    if (root.hasAttribute("data-dev")) { // dev mode only: production pages do not listen
      source.addEventListener("dev-reload", function () { window.location.reload(); });
    }
    source.addEventListener("open", function () {
      lastTraffic = Date.now();
      setStatus("live");
      var heal = healState();
      if (heal.attempts) {
        heal.attempts = 0;
        saveHealState(heal);
      }
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
    var feed = document.querySelector("[data-js-feed]");
    if (feed && (evt.target === feed || evt.detail.type === "snapshot")) {
      trimFeed(feed);
    }
  });

  document.addEventListener("click", function (evt) {
    if (evt.target && evt.target.closest && evt.target.closest("[data-js-theme-toggle]")) {
      toggleTheme();
    }
  });

  applyTheme(storedTheme());
  htmx.onLoad(localizeTimes);
  window.setInterval(watchdog, 1000);
  window.setInterval(healIfDead, 1000);
})();
