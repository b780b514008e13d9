"use strict";
(function () {
  var table = document.getElementById("tests");
  var filter = document.getElementById("filter");
  var outcome = document.getElementById("outcome");
  function rows() { return Array.prototype.slice.call(table.tBodies); }
  function key(body, column, numeric) {
    var cell = body.rows[0].cells[column];
    var value = cell.getAttribute("data-sort");
    if (value === null) { value = cell.textContent; }
    if (!numeric) { return value.toLowerCase(); }
    var number = parseFloat(value);
    return isNaN(number) ? -Infinity : number;
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
    if (!th.hasAttribute("data-col")) { return; }
    th.addEventListener("click", function () {
      var numeric = th.getAttribute("data-col") === "num";
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      rows().sort(function (a, b) {
        var x = key(a, column, numeric), y = key(b, column, numeric);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      }).forEach(function (body) { table.appendChild(body); });
    });
  });
  function apply() {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var wanted = outcome.value;
    var shown = 0;
    rows().forEach(function (body) {
      var text = body.rows[0].textContent.toLowerCase();
      var visible = words.every(function (w) { return text.indexOf(w) >= 0; }) &&
        (!wanted || body.getAttribute("data-outcome") === wanted);
      body.hidden = !visible;
      if (visible) { shown += 1; }
    });
    document.getElementById("shown").textContent = String(shown);
  }
  filter.addEventListener("input", apply);
  outcome.addEventListener("change", apply);
  apply();
  // A link to report.html#test-3 opens that test's details.
  var linked = location.hash ? document.getElementById(location.hash.slice(1)) : null;
  if (linked && linked.querySelector("details")) { linked.querySelector("details").open = true; }
  document.body.setAttribute("data-ready", "true");
})();
