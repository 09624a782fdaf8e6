// Shared by filedock's pages: the page's settings, its sign-in token and its calls.
//
// The token arrives in the link's fragment (#token=…), which browsers never send to a
// server, and is kept in this tab's sessionStorage, under the page's path: the files page
// and the catalogue page hold different kinds of token. The fragment is removed from the
// address bar at once, so the token is not left in history or on screen.
(function () {
  "use strict";

  var key = "filedock.token:" + location.pathname;
  var config = JSON.parse(document.getElementById("filedock-config").textContent);

  var match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(key, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }

  // A call to the server with the token; resolves to {status, body} (body: parsed JSON or
  // null), rejects only when the server could not be reached.
  function call(method, url, body) {
    var headers = {};
    var token = sessionStorage.getItem(key);
    if (token) { headers.Authorization = "Bearer " + token; }
    var init = {method: method, headers: headers, credentials: "omit"};
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (ignored) { parsed = null; }
        return {status: response.status, body: parsed};
      });
    });
  }

  function text(element, value) {
    // textContent, never innerHTML: names and messages come from people and responses.
    element.textContent = value === null || value === undefined ? "" : String(value);
    return element;
  }

  function make(tag, attributes, content) {
    var element = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      element.setAttribute(name, attributes[name]);
    });
    if (content !== undefined) { text(element, content); }
    return element;
  }

  function size(bytes) {
    if (bytes === null || bytes === undefined) { return "–"; }
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return (unit === 0 ? String(value) : value.toFixed(value < 10 ? 1 : 0)) + " " + units[unit];
  }

  window.filedock = {
    config: config,
    token: function () { return sessionStorage.getItem(key); },
    signIn: function (token) { sessionStorage.setItem(key, token.trim()); },
    signOut: function () { sessionStorage.removeItem(key); },
    call: call,
    text: text,
    make: make,
    size: size
  };
})();
