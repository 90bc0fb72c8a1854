// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function format(seconds) {
    if (seconds <= 0) return "now";
    if (seconds < 60) return "in less than a minute";
    var minutes = Math.floor(seconds / 60);
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    var parts = [];
    if (hours) parts.push(hours + " h");
    if (minutes || !hours) parts.push(minutes + " min");
    return "in " + parts.join(" ");
  }

  // Keep "expires in 3 h 12 min" true while the page stays open.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var seconds = Math.floor((Date.parse(el.getAttribute("datetime")) - now) / 1000);
      var text = format(seconds);
      if (el.textContent !== text) el.textContent = text;
      if (seconds <= 0) el.classList.add("passed");
    });
  }
  tick();
  setInterval(tick, 15000);

  // After a passkey is added, reload so the list of passkeys shows it.
  document.addEventListener("otp_webauthn.register_complete", function () {
    setTimeout(function () { window.location.reload(); }, 800);
  });
})();
