// The catalogue page (/ui/catalogue/): find a catalogue item, build a download request
// (columns, filters, sample, format), see its estimated size, follow it while it runs and
// download the result. Signs in with an account token: from a link, pasted, or through the
// cosphere auth request when the server has an OpenID Connect client.
(function () {
  "use strict";

  var fd = window.filedock;
  var config = fd.config;
  var $ = function (id) { return document.getElementById(id); };
  var FINISHED = ["done", "failed", "cancelled"];
  var SIGN_IN_POLL_MS = 2000;
  var SIGN_IN_FOR_MS = 10 * 60 * 1000;
  var HINTS = {BOOLEAN: "true or false", DATE: "YYYY-MM-DD", DATETIME: "YYYY-MM-DDThh:mm",
    TIMESTAMP: "YYYY-MM-DDThh:mm", INTEGER: "a whole number", FLOAT: "a number"};
  var item = null; // the chosen catalogue item
  var operators = {}; // column name -> the operators render_ui_data allows
  var filterCount = 0; // for unique ids of the filter rows' controls
  var runId = null;
  var runTimer = null;
  var signInTimer = null;

  document.addEventListener("DOMContentLoaded", function () {
    $("signin-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var token = $("token").value.trim();
      if (!token) { showSignIn("Paste a token first."); return; }
      fd.signIn(token);
      $("token").value = "";
      start();
    });
    $("account-button").addEventListener("click", signInWithAccount);
    $("sign-out").addEventListener("click", function () {
      fd.signOut();
      showSignIn("");
      fd.text($("message"), "Signed out.");
    });
    $("search-form").addEventListener("submit", function (event) {
      event.preventDefault();
      search();
    });
    $("add-filter").addEventListener("click", addFilter);
    $("estimate").addEventListener("click", estimate);
    $("request-form").addEventListener("submit", function (event) {
      event.preventDefault();
      requestExtract();
    });
    $("cancel").addEventListener("click", cancelRun);
    start();
  });

  // Signing in ----------------------------------------------------------------------------

  function start() {
    if (!fd.token()) { showSignIn(""); return; }
    fd.call("GET", config.accounts + "me/").then(function (answer) {
      if (answer.status === 401) { refused(); return; }
      if (answer.status !== 200) {
        fd.text($("message"), "Signing in failed: " + problems(answer).join(" "));
        return;
      }
      stopSignIn();
      fd.text($("who-name"), answer.body.email + " (" + answer.body.type + ")");
      fd.text($("message"), "");
      $("who").hidden = false;
      $("signin").hidden = true;
      $("search").hidden = false;
      $("query").focus();
    }, unreachable);
  }

  function refused() {
    fd.signOut();
    showSignIn("Your token was refused: it is not valid here or it has expired. Sign in again.");
  }

  function showSignIn(error) {
    stopRun();
    ["who", "search", "request", "run"].forEach(function (id) { $(id).hidden = true; });
    $("signin").hidden = false;
    $("account-signin").hidden = !config.signIn;
    fd.text($("signin-error"), error);
  }

  function signInWithAccount() {
    // Opened now, while the click lets a page open a tab; pointed at the sign-in page once
    // the auth request exists.
    var tab = window.open("", "_blank");
    var note = $("account-note");
    stopSignIn();
    fd.signOut();
    fd.text(note, "Starting sign-in…");
    fd.call("POST", config.accounts + "auth_requests/").then(function (answer) {
      if (answer.status !== 201) {
        if (tab) { tab.close(); }
        fd.text(note, "Sign-in could not start: " + problems(answer).join(" "));
        return;
      }
      var uri = new URL(answer.body.authenticate_ui_uri, location.href).href;
      $("account-link-a").setAttribute("href", uri);
      $("account-link").hidden = false;
      if (tab) {
        tab.opener = null;
        tab.location.href = uri;
      }
      fd.text(note, "Sign in on the page that opened (or open it below): this page " +
        "continues by itself.");
      waitForToken(answer.body.request_uuid, Date.now() + SIGN_IN_FOR_MS);
    }, function () {
      if (tab) { tab.close(); }
      unreachable();
    });
  }

  // Exchanges the auth request for a token once someone has signed in on its page; until
  // then the server answers 404 (not yet), and 400 once the request has expired.
  function waitForToken(requestUuid, deadline) {
    if (Date.now() > deadline) {
      fd.text($("account-note"), "Sign-in took too long. Start again.");
      return;
    }
    signInTimer = setTimeout(function () {
      var again = function () { waitForToken(requestUuid, deadline); };
      fd.call("POST", config.accounts + "auth_tokens/", {request_uuid: requestUuid})
        .then(function (answer) {
          if (answer.status === 201) {
            fd.signIn(answer.body.token);
            $("account-link").hidden = true;
            fd.text($("account-note"), "");
            start();
          } else if (answer.status === 400) {
            fd.text($("account-note"), "Sign-in expired. Start again.");
          } else {
            again();
          }
        }, again);
    }, SIGN_IN_POLL_MS);
  }

  function stopSignIn() {
    clearTimeout(signInTimer);
    signInTimer = null;
  }

  // Finding and choosing an item ----------------------------------------------------------

  function search() {
    var query = $("query").value.trim();
    var message = $("search-message");
    if (!query) { fd.text(message, "Type part of a dataset's name."); return; }
    fd.text(message, "Searching…");
    var url = config.catalogue + "?query=" + encodeURIComponent(query);
    fd.call("GET", url).then(function (answer) {
      if (answer.status === 401) { refused(); return; }
      $("items").replaceChildren();
      if (answer.status !== 200) { fd.text(message, problems(answer).join(" ")); return; }
      var items = answer.body.items;
      fd.text(message, items.length + (items.length === 1 ? " dataset" : " datasets") + " found.");
      items.forEach(function (found) {
        var choose = fd.make("button", {type: "button", "aria-label": "Choose " + found.name},
          "Choose");
        choose.addEventListener("click", function () { chooseItem(found); });
        var count = found.spec.length + (found.spec.length === 1 ? " column" : " columns");
        var row = fd.make("li", {class: "row"});
        row.append(fd.make("strong", {}, found.name),
          fd.make("span", {class: "note"}, found.executor_type + " · " + count), choose);
        $("items").append(row);
      });
    }, unreachable);
  }

  function chooseItem(chosen) {
    fd.call("POST", config.downloader + "render_ui_data/", {catalogue_item_id: chosen.id})
      .then(function (answer) {
        if (answer.status === 401) { refused(); return; }
        if (answer.status !== 200) {
          fd.text($("search-message"), problems(answer).join(" "));
          return;
        }
        item = chosen;
        operators = {};
        answer.body.columns_operators.forEach(function (column) {
          operators[column.name] = column.operators;
        });
        drawForm();
      }, unreachable);
  }

  function drawForm() {
    var columns = $("columns");
    fd.text($("item-name"), item.name);
    columns.replaceChildren(fd.make("legend", {}, "Columns"));
    item.spec.forEach(function (column, index) {
      var box = fd.make("input", {type: "checkbox", id: "column-" + index, value: column.name});
      var label = fd.make("label", {for: box.id}, " " + column.name + " ");
      box.checked = true;
      label.prepend(box);
      label.append(fd.make("span", {class: "note"}, column.type.toLowerCase()));
      columns.append(label);
    });
    $("filters").replaceChildren();
    $("no-filters").hidden = false;
    fd.text($("estimate-result"), "");
    $("form-errors").replaceChildren();
    $("request").hidden = false;
    $("request-title").scrollIntoView();
    (columns.querySelector("input") || $("add-filter")).focus();
  }

  // Filters -------------------------------------------------------------------------------

  function columnType(name) {
    var found = item.spec.filter(function (column) { return column.name === name; })[0];
    return found ? found.type : "STRING";
  }

  function addFilter() {
    var id = "filter-" + (filterCount += 1);
    var row = fd.make("div", {class: "filter", role: "group", "aria-label": "Filter"});
    var column = fd.make("select", {id: id + "-column", class: "filter-column"});
    var operator = fd.make("select", {id: id + "-operator", class: "filter-operator"});
    var value = fd.make("input", {type: "text", id: id + "-value", class: "filter-value"});
    var remove = fd.make("button", {type: "button"}, "Remove");
    item.spec.forEach(function (spec) {
      column.append(fd.make("option", {value: spec.name}, spec.name));
    });
    row.append(fd.make("label", {for: column.id}, "Column"), column,
      fd.make("label", {for: operator.id}, "Operator"), operator,
      fd.make("label", {for: value.id}, "Value"), value, remove);
    column.addEventListener("change", function () { fillOperators(row); });
    remove.addEventListener("click", function () {
      row.remove();
      $("no-filters").hidden = $("filters").children.length > 0;
      $("add-filter").focus();
    });
    $("filters").append(row);
    $("no-filters").hidden = true;
    fillOperators(row);
    column.focus();
  }

  function fillOperators(row) {
    var name = row.querySelector(".filter-column").value;
    var select = row.querySelector(".filter-operator");
    select.replaceChildren();
    (operators[name] || []).forEach(function (op) {
      select.append(fd.make("option", {value: op}, op));
    });
    var hint = HINTS[columnType(name)] || "text";
    row.querySelector(".filter-value").setAttribute("placeholder", hint);
  }

  // A filter's value as the server reads it: a number for INTEGER (a whole one) and FLOAT
  // columns, a boolean for BOOLEAN ones, when the text is one; else the text as typed, which
  // the server checks against the column's type and refuses, saying why.
  function filterValue(type, text) {
    var trimmed = text.trim();
    var number = Number(trimmed);
    if (trimmed !== "" && isFinite(number) &&
        (type === "FLOAT" || (type === "INTEGER" && /^[+-]?\d+$/.test(trimmed)))) {
      return number;
    }
    if (type === "BOOLEAN" && /^(true|false)$/i.test(trimmed)) {
      return trimmed.toLowerCase() === "true";
    }
    return type === "STRING" ? text : trimmed;
  }

  // The request ---------------------------------------------------------------------------

  function body() {
    var columns = [];
    var filters = [];
    $("columns").querySelectorAll("input:checked").forEach(function (box) {
      columns.push(box.value);
    });
    $("filters").querySelectorAll(".filter").forEach(function (row) {
      var name = row.querySelector(".filter-column").value;
      filters.push({name: name, operator: row.querySelector(".filter-operator").value,
        value: filterValue(columnType(name), row.querySelector(".filter-value").value)});
    });
    var ratio = $("ratio").value.trim();
    return {catalogue_item_id: item.id, spec: {columns: columns, filters: filters,
      randomize_ratio: ratio === "" || isNaN(Number(ratio)) ? ratio : Number(ratio),
      format: $("format").value}};
  }

  // The form's body, or null (saying why) when it cannot be sent.
  function ready() {
    $("request-form").querySelectorAll("[aria-invalid]").forEach(function (control) {
      control.removeAttribute("aria-invalid");
    });
    if ($("columns").querySelector("input:checked")) { return body(); }
    showProblems(["Columns: choose at least one."]);
    return null;
  }

  // True when the answer is the one expected; otherwise shows why on the form, marking the
  // filters' controls the server named.
  function accepted(answer, expected) {
    if (answer.status === expected) { $("form-errors").replaceChildren(); return true; }
    if (answer.status === 401) { refused(); return false; }
    var rows = $("filters").querySelectorAll(".filter");
    Object.keys((answer.body && answer.body.errors) || {}).forEach(function (key) {
      var named = /^spec\.filters\.(\d+)\.(name|operator|value)$/.exec(key);
      var row = named && rows[Number(named[1])];
      var control = row && row.querySelector(".filter-" + named[2].replace("name", "column"));
      if (control) { control.setAttribute("aria-invalid", "true"); }
    });
    showProblems(problems(answer));
    fd.text($("estimate-result"), "");
    return false;
  }

  function showProblems(lines) {
    $("form-errors").replaceChildren.apply($("form-errors"), lines.map(function (line) {
      return fd.make("li", {}, line);
    }));
  }

  function estimate() {
    var sent = ready();
    if (!sent) { return; }
    fd.text($("estimate-result"), "Estimating…");
    fd.call("POST", config.downloader + "estimate/", sent).then(function (answer) {
      if (accepted(answer, 200)) {
        fd.text($("estimate-result"), "Estimated size: " + fd.size(answer.body.estimated_size));
      }
    }, unreachable);
  }

  function requestExtract() {
    var sent = ready();
    if (!sent) { return; }
    $("submit").disabled = true;
    fd.call("POST", config.downloader, sent).then(function (answer) {
      $("submit").disabled = false;
      if (accepted(answer, 201)) { follow(answer.body); }
    }, function () { $("submit").disabled = false; unreachable(); });
  }

  // Following a request -------------------------------------------------------------------

  function follow(request) {
    stopRun();
    runId = request.id;
    $("run").hidden = false;
    showRun(request);
    $("run-title").scrollIntoView();
    poll(0);
  }

  function poll(round) {
    var id = runId;
    // Quick at first, then every few seconds for long extracts.
    runTimer = setTimeout(function () {
      fd.call("GET", config.downloader + id).then(function (answer) {
        if (id !== runId) { return; }
        if (answer.status === 401) { refused(); return; }
        if (answer.status !== 200) { fd.text($("run-detail"), problems(answer).join(" ")); return; }
        showRun(answer.body);
        if (FINISHED.indexOf(answer.body.status) < 0) { poll(round + 1); }
      }, function () { if (id === runId) { poll(round + 1); } });
    }, Math.min(500 + round * 250, 5000));
  }

  function showRun(request) {
    var status = request.status;
    var detail = request.estimated_size === null ? "" :
      "Estimated size: " + fd.size(request.estimated_size) + ". ";
    if (status === "done") { detail = "Size: " + fd.size(request.real_size) + "."; }
    if (status === "cancelled") { detail = "Cancelled."; }
    if (FINISHED.indexOf(status) < 0) { detail += "This page updates by itself."; }
    fd.text($("run-id"), "#" + request.id);
    fd.text($("run-status"), status);
    $("run-status").className = "status status-" + status;
    fd.text($("run-detail"), detail);
    fd.text($("run-failure"), request.failure || "The extract failed.");
    $("run-failure").hidden = status !== "failed";
    $("download").hidden = !(status === "done" && request.uri);
    if (request.uri) { $("download").setAttribute("href", request.uri); }
    $("cancel").hidden = FINISHED.indexOf(status) >= 0;
  }

  function cancelRun() {
    var id = runId;
    if (id === null) { return; }
    fd.call("DELETE", config.downloader + id).then(function (answer) {
      if (answer.status === 401) { refused(); return; }
      if (answer.status !== 200) { fd.text($("run-detail"), problems(answer).join(" ")); return; }
      stopRun();
      fd.text($("run-status"), "cancelled");
      $("run-status").className = "status status-cancelled";
      fd.text($("run-detail"), "You stopped waiting for this extract.");
      $("cancel").hidden = true;
    }, unreachable);
  }

  function stopRun() {
    clearTimeout(runTimer);
    runTimer = null;
    runId = null;
  }

  // Messages ------------------------------------------------------------------------------

  function fieldName(key) {
    var filter = /^spec\.filters\.(\d+)(?:\.(\w+))?$/.exec(key);
    if (filter) { return "Filter " + (Number(filter[1]) + 1) + (filter[2] ? " " + filter[2] : ""); }
    return {"spec.columns": "Columns", "spec.randomize_ratio": "Sample ratio",
      "spec.format": "File format", query: "Search"}[key] || key;
  }

  // The server's reasons: one line per field for a body that did not validate (`errors`
  // holds each field's messages), else the answer's event.
  function problems(answer) {
    var body = answer.body || {};
    var errors = body.errors;
    if (errors && typeof errors === "object" && !Array.isArray(errors)) {
      return Object.keys(errors).map(function (key) {
        return fieldName(key) + ": " + [].concat(errors[key]).join(" ");
      });
    }
    var event = body["@event"] || "The server answered " + answer.status;
    return [Array.isArray(errors) ? event + ": " + errors.join(" ") : event];
  }

  function unreachable() {
    fd.text($("message"), "The server could not be reached. Try again in a moment.");
  }
})();
