// The "today" list refreshes itself: every few seconds it asks /staff/today/status (ids, arrivals, outcomes;
// no client data) and updates the rows in place. When appointments were added or removed, it loads the
// list again (the server records that view) and swaps it in. Without script the page still works.
"use strict";

(function () {
  var holder, timer, busy = false;

  function rowIds(selector) {
    return Array.prototype.map.call(holder.querySelectorAll(selector), function (row) {
      return Number(row.getAttribute("data-appointment"));
    });
  }

  function same(a, b) {
    return a.length === b.length && a.every(function (v, i) { return v === b[i]; });
  }

  function setText(cell, text, tagClass) {
    cell.textContent = "";
    if (!text) { cell.textContent = "\u2013"; return; }
    var tag = document.createElement("span");
    tag.className = "tag " + tagClass;
    tag.textContent = text;
    cell.appendChild(tag);
  }

  function apply(state) {
    var arrivals = false;  // a new arrival brings its call button: the list is then loaded again
    Object.keys(state.rows).forEach(function (id) {
      var s = state.rows[id];
      holder.querySelectorAll('tr[data-appointment="' + id + '"]').forEach(function (row) {
        var arrived = row.querySelector('[data-cell="arrived"]');
        if (arrived && (arrived.textContent.trim() !== (s.arrived || "\u2013"))) {
          setText(arrived, s.arrived, "ok");
          row.classList.toggle("arrived", Boolean(s.arrived));
          arrivals = arrivals || Boolean(s.arrived && row.querySelector('[data-cell="call"]'));
        }
        var outcome = row.querySelector('[data-cell="outcome"]');
        if (outcome && s.outcome && outcome.querySelector("form")) { setText(outcome, s.outcome, ""); }
      });
    });
    return arrivals;
  }

  function reloadList() {
    return fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("today-lists");
        if (fresh) { holder.replaceWith(document.adoptNode(fresh)); holder = fresh; }
      });
  }

  function poll() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(holder.getAttribute("data-status-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("status " + r.status); }
        return r.json();
      })
      .then(function (state) {
        var todayRows = rowIds('section[aria-labelledby="h-today"] tr[data-appointment]');
        var missingRows = rowIds('section[aria-labelledby="h-missing"] tr[data-appointment]');
        if (!same(todayRows, state.ids) || !same(missingRows, state.missing)) { return reloadList(); }
        if (apply(state)) { return reloadList(); }
      })
      .catch(function () { window.clearInterval(timer); })  // signed out or offline: stop asking
      .finally(function () { busy = false; document.body.setAttribute("data-today-polled", String(Date.now())); });
  }

  window.addEventListener("DOMContentLoaded", function () {
    holder = document.getElementById("today-lists");
    if (!holder) { return; }
    var seconds = Number(holder.getAttribute("data-poll-seconds")) || 10;
    timer = window.setInterval(poll, seconds * 1000);
    document.addEventListener("visibilitychange", poll);
  });
}());
