// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Copy button for the manual-entry key.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    button.hidden = false;
    var label = button.textContent;  // the words come from the page, in its language
    button.addEventListener("click", function () {
      var text = source.textContent.replace(/\s+/g, "");
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = button.getAttribute("data-copied") || "Copied";
        setTimeout(function () { button.textContent = label; }, 2000);
      }, function () {
        button.textContent = button.getAttribute("data-copy-failed") || "Select and copy by hand";
      });
    });
  });
  // Countdown to the next 30-second code.
  var countdown = document.getElementById("mfa-countdown");
  if (countdown) {
    countdown.hidden = false;
    var tick = function () {
      var left = 30 - Math.floor(Date.now() / 1000) % 30;
      var text = countdown.getAttribute("data-text") || "The app shows a new code in {s} s.";
      countdown.textContent = text.replace("{s}", String(left));
    };
    tick();
    setInterval(tick, 1000);
  }
})();
