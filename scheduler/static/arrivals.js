// A part of a page marked data-follows-arrivals (the inbox's "waiting in the lobby" box, today's calendar)
// follows check-ins: every few seconds it asks the today list's status (appointment ids, arrivals and outcomes;
// no client data) and, when the set of clients waiting has changed, loads the page again and swaps that part
// in. Without script it is as fresh as the page.
"use strict";

(function () {
  var box, timer, busy = false;

  function waiting(state) {
    return state.ids.filter(function (id) {
      var row = state.rows[String(id)];
      return row && row.arrived && !row.outcome;
    }).sort(function (a, b) { return a - b; }).join(",");
  }

  function swapBox() {
    return fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(box.id);
        if (fresh) { box.replaceWith(document.adoptNode(fresh)); box = fresh; }
      });
  }

  function poll() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(box.getAttribute("data-status-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("status " + r.status); }
        return r.json();
      })
      .then(function (state) {
        if (waiting(state) !== box.getAttribute("data-ids")) { return swapBox(); }
      })
      .catch(function () { window.clearInterval(timer); })  // signed out or offline: stop asking
      .finally(function () { busy = false; document.body.setAttribute("data-arrivals-polled", String(Date.now())); });
  }

  window.addEventListener("DOMContentLoaded", function () {
    box = document.querySelector("[data-follows-arrivals]");
    if (!box) { return; }
    var seconds = Number(box.getAttribute("data-poll-seconds")) || 10;
    timer = window.setInterval(poll, seconds * 1000);
    document.addEventListener("visibilitychange", poll);
  });
})();
