// The front desk list follows /staff/front-desk/events (server-sent events with a fingerprint of the list, no
// client data) and falls back to polling /staff/front-desk/status. When the fingerprint changes it loads the list
// again (the server records that view) and swaps it in. Without script the page still works (reload by hand).
"use strict";

(function () {
  var holder, source = null, timer = null, busy = false, failures = 0;

  function reloadList() {
    if (busy) { return Promise.resolve(); }
    busy = true;
    return fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("front-desk");
        if (fresh) { holder.replaceWith(document.adoptNode(fresh)); holder = fresh; }
        document.body.setAttribute("data-front-desk-loaded", String(Date.now()));
      })
      .finally(function () { busy = false; });
  }

  function seen(stamp) {
    if (stamp && stamp !== holder.getAttribute("data-stamp")) { reloadList(); }
  }

  function poll() {
    fetch(holder.getAttribute("data-status-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("status " + r.status); } return r.json(); })
      .then(function (state) { seen(state.stamp); })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  function startPolling() {
    if (source) { source.close(); source = null; }
    if (timer) { return; }
    var seconds = Number(holder.getAttribute("data-poll-seconds")) || 10;
    timer = window.setInterval(poll, seconds * 1000);
  }

  function openStream() {
    source = new EventSource(holder.getAttribute("data-events-url"));
    source.addEventListener("open", function () { failures = 0; document.body.setAttribute("data-connection", "stream"); });
    source.addEventListener("changed", function (e) { seen(JSON.parse(e.data).stamp); });
    source.addEventListener("gone", function () { source.close(); source = null; });
    source.addEventListener("error", function () {
      document.body.setAttribute("data-connection", "lost");
      if (source && source.readyState === EventSource.CLOSED) {
        source.close(); source = null; failures += 1;
        if (failures < 5) { window.setTimeout(openStream, 2000 * failures); } else { startPolling(); }
      }
    });
  }

  window.addEventListener("DOMContentLoaded", function () {
    holder = document.getElementById("front-desk");
    if (!holder) { return; }
    if (window.EventSource) { openStream(); } else { startPolling(); }
  });
}());
