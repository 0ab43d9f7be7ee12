// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Copy button for the manual-entry key.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = source.textContent.replace(/\s+/g, "");
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      }, function () {
        button.textContent = "Select and copy by hand";
      });
    });
  });
  // Countdown to the next 30-second code.
  var countdown = document.getElementById("mfa-countdown");
  if (countdown) {
    countdown.hidden = false;
    var tick = function () {
      var left = 30 - Math.floor(Date.now() / 1000) % 30;
      countdown.textContent = "The app shows a new code in " + left + " s.";
    };
    tick();
    setInterval(tick, 1000);
  }
})();
// Security keys and passkeys: the WebAuthn ceremony, the one thing the console cannot do
// without JavaScript. A button with data-webauthn="create" or "get" fetches its options
// (data-options, a POST with the form's CSRF token), asks the browser's authenticator, puts
// the answer into the form's "credential" field and submits the form.
(function () {
  "use strict";
  var PKC = window.PublicKeyCredential;
  document.querySelectorAll("[data-webauthn]").forEach(function (button) {
    var form = button.form;
    if (!form) { return; }
    var shown = form.querySelector("[data-webauthn-error]");
    var fail = function (message) {
      if (shown) { shown.textContent = message; shown.className = "error"; shown.hidden = false; }
      button.disabled = false;
    };
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (!PKC || !PKC.parseCreationOptionsFromJSON) {
        fail("This browser cannot use security keys or passkeys.");
        return;
      }
      if (!form.reportValidity()) { return; }
      button.disabled = true;
      var body = new FormData();
      body.append("csrf", form.elements.csrf.value);
      fetch(button.getAttribute("data-options"), {
        method: "POST", body: body, credentials: "same-origin"
      }).then(function (response) {
        if (response.redirected) {  // a step-up or a new sign-in is due first
          window.location.assign(response.url);
          return Promise.reject(null);
        }
        if (!response.ok) { return Promise.reject(new Error("options")); }
        return response.json();
      }).then(function (data) {
        if (button.getAttribute("data-webauthn") === "create") {
          return navigator.credentials.create(
            {publicKey: PKC.parseCreationOptionsFromJSON(data.public_key)});
        }
        return navigator.credentials.get(
          {publicKey: PKC.parseRequestOptionsFromJSON(data.public_key)});
      }).then(function (credential) {
        form.elements.credential.value = JSON.stringify(credential.toJSON());
        form.submit();
      }).catch(function (error) {
        if (error !== null) {
          fail("The security key did not answer, or the request was cancelled. Try again.");
        }
      });
    });
  });
})();
