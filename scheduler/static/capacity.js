// Demand against capacity: draws the chart from the page's JSON; the table below it works without this script.
"use strict";

(function () {
  window.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("capacity-data");
    var canvas = document.getElementById("capacity-chart");
    if (!holder || !canvas || typeof window.Chart === "undefined") { return; }
    var d = JSON.parse(holder.textContent);
    var t = JSON.parse(document.getElementById("capacity-texts").textContent);
    new window.Chart(canvas, {
      data: {
        labels: d.labels,
        datasets: [
          { type: "bar", label: t.demand, data: d.demand, backgroundColor: "#b45f06", yAxisID: "y" },
          { type: "bar", label: t.capacity, data: d.capacity, backgroundColor: "#0b5394", yAxisID: "y" },
          { type: "line", label: t.days, data: d.days, borderColor: "#8a1c1c", spanGaps: false, yAxisID: "days" },
          { type: "line", label: t.within, data: d.within, borderColor: "#555", borderDash: [6, 4], pointRadius: 0,
            yAxisID: "days" }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: {
          y: { beginAtZero: true, position: "left" },
          days: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } }
        }
      }
    });
    document.body.setAttribute("data-charts", "drawn");
  });
}());
