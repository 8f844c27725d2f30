// The compare page's charts, drawn by Chart.js (Debian's libjs-chart.js, embedded in the binary).
'use strict';

const Charts = (() => {
  const live = new Set();  // charts of the current view, destroyed when it changes

  function destroyAll() { for (const c of live) c.destroy(); live.clear(); }

  // Points not beaten on both axes by another point (lower latency and lower drop), by latency.
  function paretoFront(points) {
    const sorted = [...points].sort((a, b) => a.x - b.x || a.y - b.y);
    const front = [];
    let best = Infinity;
    for (const p of sorted) if (p.y < best) { front.push(p); best = p.y; }
    return front;
  }

  function label(p) { return `${p.target} ${p.precision}`; }

  // Latency (p50 ms) against accuracy drop, one point per variant, the Pareto front as a line,
  // the recommended variant drawn larger in another colour.
  function scatter(canvas, points, recommendedId) {
    const front = paretoFront(points);
    const chart = new Chart(canvas, {
      type: 'scatter',
      data: {
        datasets: [
          { label: 'variants', data: points, pointRadius: points.map((p) => (p.id === recommendedId ? 9 : 5)),
            pointBackgroundColor: points.map((p) => (p.id === recommendedId ? '#c62828' : '#0b5cad')), order: 1 },
          { label: 'Pareto front', data: front, type: 'line', borderColor: '#1a7f37', borderDash: [6, 4], pointRadius: 0,
            fill: false, showLine: true, order: 2 },
        ],
      },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: 'p50 latency, ms (field figure where one exists, else local)' }, beginAtZero: true },
          // With every drop near zero Chart.js would span 0..1 and flatten the points onto the axis.
          y: { title: { display: true, text: 'accuracy drop' }, beginAtZero: true, suggestedMax: Math.max(0.01, ...points.map((p) => p.y * 1.2)) },
        },
        plugins: {
          tooltip: { callbacks: { label: (c) => `${label(c.raw)}: ${c.raw.x.toFixed(3)} ms, drop ${c.raw.y.toFixed(4)} (${c.raw.origin})` } },
          legend: { position: 'bottom' },
        },
      },
    });
    live.add(chart);
    return chart;
  }

  // Bundle size and latency per variant, on two axes.
  function bars(canvas, points) {
    const chart = new Chart(canvas, {
      type: 'bar',
      data: {
        labels: points.map(label),
        datasets: [
          { label: 'bundle size, MB', data: points.map((p) => p.sizeMb), backgroundColor: '#8fb8e0', yAxisID: 'size' },
          { label: 'p50 latency, ms', data: points.map((p) => p.x), backgroundColor: '#f0b86e', yAxisID: 'latency' },
        ],
      },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: {
          size: { position: 'left', title: { display: true, text: 'MB' }, beginAtZero: true },
          latency: { position: 'right', title: { display: true, text: 'ms' }, beginAtZero: true, grid: { drawOnChartArea: false } },
        },
        plugins: { legend: { position: 'bottom' } },
      },
    });
    live.add(chart);
    return chart;
  }

  return { scatter, bars, paretoFront, destroyAll };
})();
