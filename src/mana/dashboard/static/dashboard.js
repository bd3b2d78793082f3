// Draws every <canvas data-chart="…"> with the vendored Chart.js from the JSON the server put
// beside it. Only glue: the figures, labels and the table fallback all come from the server.
"use strict";

(function () {
  function axisOptions(spec) {
    var titles = !spec.compact;
    var scales = {
      x: { title: { display: titles, text: spec.xTitle }, stacked: spec.stacked },
      y: {
        title: { display: titles && !!spec.yTitle, text: spec.yTitle },
        stacked: spec.stacked,
        beginAtZero: spec.yMin === 0,
      },
    };
    if (spec.yMin !== null) scales.y.min = spec.yMin;
    if (spec.yMax !== null) scales.y.max = spec.yMax;
    // Ratings are whole stars: label every one, however small the chart.
    if (spec.yMin === 1 && spec.yMax === 5) scales.y.ticks = { stepSize: 1, autoSkip: false };
    if (spec.compact) {
      // "2026-11-19" → "11-19": the full dates are in the table under the chart.
      scales.x.ticks = {
        maxRotation: 0,
        callback: function (value) { return String(this.getLabelForValue(value)).slice(5); },
      };
    }
    var usesY2 = spec.series.some(function (s) { return s.axis === "y2"; });
    if (usesY2) {
      scales.y2 = {
        position: "right",
        beginAtZero: true,
        title: { display: titles && !!spec.y2Title, text: spec.y2Title },
        grid: { drawOnChartArea: false },
      };
      if (spec.y2Max !== null) scales.y2.max = spec.y2Max;
    }
    return scales;
  }

  function dataset(s) {
    var bar = s.kind === "bar";
    return {
      type: s.kind,
      label: s.label,
      data: s.values,
      yAxisID: s.axis,
      borderColor: s.colour,
      backgroundColor: s.barColours || s.colour,
      borderWidth: bar ? 0 : 2,
      pointRadius: bar ? 0 : 3,
      spanGaps: false,
      // A 5-star day sits on the top edge: draw its point whole.
      clip: bar ? undefined : false,
      // Lines in front of bars.
      order: bar ? 2 : 1,
    };
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") return;
    var spec = JSON.parse(source.textContent);
    var chart = new Chart(canvas, {
      data: { labels: spec.labels, datasets: spec.series.map(dataset) },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: {
            display: spec.series.length > 1,
            labels: spec.compact ? { boxWidth: 12, font: { size: 11 } } : {},
          },
        },
        scales: axisOptions(spec),
      },
    });
    canvas.dataset.points = String(spec.labels.length);
    return chart;
  }

  function drawAll() {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
    document.documentElement.dataset.chartsReady = "true";
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
