// Light progressive enhancement for the staff pages; every page works without it.
"use strict";

(function () {
  // Ask before the few actions that cannot be undone.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var text = button && button.getAttribute("data-confirm");
    if (text && !window.confirm(text)) { event.preventDefault(); }
  });

  // Keep the scroll position when reordering the inbox (the server answers with a redirect).
  var key = "staff-scroll:" + location.pathname;
  document.addEventListener("submit", function (event) {
    if (event.target.querySelector("[data-move]")) { sessionStorage.setItem(key, String(window.scrollY)); }
  });
  window.addEventListener("DOMContentLoaded", function () {
    var y = sessionStorage.getItem(key);
    if (y !== null) { sessionStorage.removeItem(key); window.scrollTo(0, Number(y)); }
    drawDashboard();
  });

  function drawDashboard() {
    var holder = document.getElementById("dashboard-data");
    if (!holder || typeof window.Chart === "undefined") { return; }
    var d = JSON.parse(holder.textContent);
    var t = JSON.parse(document.getElementById("dashboard-texts").textContent);
    var colours = { web: "#0b5394", kiosk: "#3d85c6", phone: "#b45f06", sms: "#8e7cc3", staff: "#6aa84f" };
    var labels = d.week_labels;
    function make(id, config) {
      var canvas = document.getElementById(id);
      if (canvas) { new window.Chart(canvas, config); }
    }
    var common = { responsive: true, maintainAspectRatio: false, animation: false };
    make("chart-channels", { type: "bar", data: { labels: labels, datasets: Object.keys(d.per_channel).map(function (ch) {
      return { label: d.channel_labels[ch] || ch, data: d.per_channel[ch], backgroundColor: colours[ch] };
    }) }, options: Object.assign({ scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }, common) });
    make("chart-digital", { type: "line", data: { labels: labels, datasets: [
      { label: t.digital, data: d.digital_share, borderColor: "#0b5394", spanGaps: true }] },
      options: Object.assign({ scales: { y: { min: 0, max: 100 } } }, common) });
    make("chart-backlog", { type: "bar", data: { labels: t.buckets, datasets: [
      { label: t.open, data: Object.values(d.backlog), backgroundColor: "#b45f06" }] },
      options: Object.assign({ scales: { y: { beginAtZero: true } } }, common) });
    make("chart-lead-time", { type: "line", data: { labels: labels, datasets: [
      { label: t.median, data: d.days_to_appointment_median, borderColor: "#0b5394", spanGaps: true },
      { label: t.p90, data: d.days_to_appointment_p90, borderColor: "#8e7cc3", spanGaps: true }] },
      options: Object.assign({ scales: { y: { beginAtZero: true } } }, common) });
    make("chart-rates", { type: "line", data: { labels: labels, datasets: [
      { label: t.reach, data: d.callback_reach_rate, borderColor: "#6aa84f", spanGaps: true },
      { label: t.noshow, data: d.no_show_rate, borderColor: "#8a1c1c", spanGaps: true }] },
      options: Object.assign({ scales: { y: { min: 0, max: 100 } } }, common) });
    make("chart-overdue", { type: "bar", data: { labels: labels, datasets: [
      { label: t.overdue, data: d.overdue_per_week, backgroundColor: "#8a1c1c" }] },
      options: Object.assign({ scales: { y: { beginAtZero: true } } }, common) });
    make("chart-attendance", { type: "line", data: { labels: labels, datasets: [
      { label: t.attendance, data: d.attendance_rate, borderColor: "#6aa84f", spanGaps: true }] },
      options: Object.assign({ scales: { y: { min: 0, max: 100 } } }, common) });
    make("chart-moves", { type: "bar", data: { labels: labels, datasets: [
      { label: t.moved, data: d.moves_per_week, backgroundColor: "#3d85c6" },
      { label: t.expired, data: d.expired_per_week, backgroundColor: "#b45f06" }] },
      options: Object.assign({ scales: { y: { beginAtZero: true } } }, common) });
    document.body.setAttribute("data-charts", "drawn");
  }
}());
