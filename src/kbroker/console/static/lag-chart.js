// Draws a consumer group's lag history (from /group/lag) with uPlot, and refreshes it every 10 s.
(function () {
  var box = document.getElementById("lag-chart");
  if (!box) return;
  var plot = null;
  function draw() {
    fetch(box.dataset.src).then(function (r) { return r.json(); }).then(function (doc) {
      if (plot) plot.destroy();
      var series = [{}].concat(doc.labels.map(function (label, i) {
        return { label: label, stroke: i === 0 ? "#1d2430" : "hsl(" + (i * 47) % 360 + ",60%,45%)", width: i === 0 ? 2 : 1 };
      }));
      plot = new uPlot({ width: Math.min(900, box.clientWidth || 900), height: 220, series: series,
                         axes: [{}, { label: "lag" }] }, doc.data, box);
      box.dataset.points = String(doc.data[0].length);
    });
  }
  draw();
  setInterval(draw, 10000);
})();
