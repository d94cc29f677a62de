(function () {
  "use strict";
  var errors = [];
  function record(msg) {
    errors.push(String(msg));
    if (document.body) document.body.dataset.errors = errors.join(" | ");
  }
  window.addEventListener("error", function (e) { record(e.message || "error"); });
  var consoleError = console.error;
  console.error = function () {
    record(Array.prototype.slice.call(arguments).join(" "));
    return consoleError.apply(console, arguments);
  };

  function hasExtent(el) {
    try {
      var b = el.getBBox();
      return b.width > 0 || b.height > 0;
    } catch (e) {
      return false;
    }
  }

  function checkPlots() {
    var plots = document.querySelectorAll("svg.plot");
    var ok = 0;
    plots.forEach(function (p) {
      var r = p.getBoundingClientRect();
      var marks = p.querySelectorAll(".mark");
      var drawn = Array.prototype.some.call(marks, hasExtent);
      if (r.width > 0 && r.height > 0 && drawn) ok += 1;
      else record("plot not rendered: " + p.dataset.plot + " " + (p.dataset.label || ""));
    });
    document.body.dataset.plotsRendered = String(ok);
    document.body.dataset.plotsTotal = String(plots.length);
    document.body.dataset.errors = errors.join(" | ");
  }

  function setupLegend() {
    document.querySelectorAll(".legend-bar .item").forEach(function (item) {
      item.addEventListener("click", function () {
        var m = item.dataset.m;
        var off = item.classList.toggle("off");
        document.querySelectorAll('svg.plot [data-m="' + m + '"]:not(.cell)').forEach(function (el) {
          el.classList.toggle("off", off);
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.body.dataset.errors = errors.join(" | ");
    setupLegend();
    checkPlots();
  });
})();
