// Draw every chart of the SLO dashboard from the figure specs embedded in the
// page. When all are drawn, <body data-charts-drawn="N"> marks the page as
// complete for tests and scripts; a failed chart sets data-chart-error.
(function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("slo-figures").textContent);
  var config = { displaylogo: false, responsive: true, typesetMath: false };
  var drawings = [];

  document.querySelectorAll("[data-figure]").forEach(function (element) {
    var figure = specs[element.getAttribute("data-figure")];
    drawings.push(
      Plotly.newPlot(element, figure.data, figure.layout, config).then(function () {
        element.setAttribute("data-drawn", "true");
      })
    );
  });

  Promise.all(drawings).then(
    function () {
      document.body.setAttribute("data-charts-drawn", String(drawings.length));
    },
    function (error) {
      document.body.setAttribute("data-chart-error", String(error));
      throw error;
    }
  );
})();
