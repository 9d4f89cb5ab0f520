/* Fetches fresh credentials from /new and turns them into a
 * dclogin: link that also accepts this relay's self-signed
 * certificate. */
(function () {
  'use strict';
  fetch('/new', { method: 'POST' })
    .then(function (r) { return r.json(); })
    .then(function (creds) {
      var url = creds.dclogin_url;
      if (!url) { return; }
      document.getElementById('dclogin-link').href = url;
      document.getElementById('dclogin-url').textContent = url;
    });
})();
