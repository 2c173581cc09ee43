// The alert queue refreshes itself: the server renders the list, this fetches it again every second.
(function () {
  "use strict";
  var box = document.getElementById("queue");
  if (!box) { return; }
  var src = box.getAttribute("data-src");
  function poll() {
    fetch(src, { credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login"); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) { if (typeof html === "string") { box.innerHTML = html; } })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 1000);
}());
