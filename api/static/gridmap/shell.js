/* gridmap's page shell: the language switch keeps the rest of the address (path, filters) and
 * sets only ?lang=.  Loaded by every page (the home page, error pages and the map pages). */
(function () {
  "use strict";
  function wire() {
    var links = document.querySelectorAll("a[data-lang]");
    Array.prototype.forEach.call(links, function (a) {
      var url = new URL(window.location.href);
      url.searchParams.set("lang", a.getAttribute("data-lang"));
      a.setAttribute("href", url.pathname + url.search + url.hash);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
})();
