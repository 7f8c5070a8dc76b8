// Sorts the leaderboard by the clicked column; numbers by data-sort, names as text.
(function () {
  "use strict";
  var table = document.getElementById("leaderboard");
  if (!table) { return; }
  var heads = table.querySelectorAll("th.sortable");
  Array.prototype.forEach.call(heads, function (th) {
    th.addEventListener("click", function () {
      var col = Array.prototype.indexOf.call(th.parentNode.children, th);
      var numeric = th.getAttribute("data-type") === "number";
      var asc = th.getAttribute("aria-sort") === "descending" ||
        (!th.hasAttribute("aria-sort") && !numeric);
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-sort") || a.cells[col].textContent;
        var y = b.cells[col].getAttribute("data-sort") || b.cells[col].textContent;
        var d = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
