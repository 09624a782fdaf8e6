// The files page (/ui/): drag-and-drop upload straight to the store through a signed URL,
// live processing status, and my files with download, share link and delete.
(function () {
  "use strict";

  var fd = window.filedock;
  var api = fd.config.api;
  var POLL_MS = 1000;
  var TERMINAL = ["ready", "rejected", "infected", "failed", "deleted"];
  var $ = function (id) { return document.getElementById(id); };
  var next = null;

  document.addEventListener("DOMContentLoaded", function () {
    $("signin-form").addEventListener("submit", function (event) {
      event.preventDefault();
      fd.signIn($("token").value);
      $("token").value = "";
      start();
    });
    $("sign-out").addEventListener("click", function () { fd.signOut(); showSignIn(""); });
    $("file-input").addEventListener("change", function (event) {
      uploadAll(event.target.files);
      event.target.value = "";
    });
    var drop = $("drop");
    ["dragenter", "dragover"].forEach(function (name) {
      drop.addEventListener(name, function (event) {
        event.preventDefault();
        drop.classList.add("over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      drop.addEventListener(name, function () { drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (event) {
      event.preventDefault();
      uploadAll(event.dataTransfer.files);
    });
    $("refresh").addEventListener("click", function () { loadFiles(false); });
    $("more").addEventListener("click", function () { loadFiles(true); });
    start();
  });

  function start() {
    if (!fd.token()) { showSignIn(""); return; }
    fd.call("GET", api + "me").then(function (answer) {
      if (answer.status !== 200) {
        fd.signOut();
        showSignIn(answer.status === 401
          ? "This token is not valid here, or it has expired: ask for a new link."
          : message(answer));
        return;
      }
      fd.text($("who-name"), answer.body.user_id);
      fd.text($("limit"), " (up to " + fd.size(answer.body.max_size) + " each)");
      $("who").hidden = false;
      $("signin").hidden = true;
      $("upload").hidden = false;
      $("files").hidden = false;
      loadFiles(false);
    }, function () { showSignIn("The server could not be reached."); });
  }

  function showSignIn(problem) {
    ["who", "upload", "files"].forEach(function (id) { $(id).hidden = true; });
    $("signin").hidden = false;
    fd.text($("signin-error"), problem);
  }

  function uploadAll(files) {
    Array.prototype.forEach.call(files, upload);
  }

  // One file: ask for a signed request, send the bytes there, then follow processing.
  function upload(file) {
    var bar = fd.make("progress", {max: "100", value: "0", "aria-label": "Upload of " + file.name});
    var state = fd.make("span", {"class": "status status-pending"}, "starting");
    var row = fd.make("li", {"data-name": file.name});
    row.append(fd.make("span", {}, file.name), bar, state);
    $("transfers").prepend(row);
    var show = function (status, words) {
      state.className = "status status-" + status;
      fd.text(state, words || status);
    };
    fd.call("POST", api + "uploads", {filename: file.name}).then(function (answer) {
      if (answer.status !== 201) { show("rejected", message(answer)); return null; }
      show("uploading", "uploading");
      return send(file, answer.body.upload, bar).then(function (status) {
        if (status === 0) {
          // No answer the page may read: the network, or a store that does not allow this
          // page's origin (an S3 bucket needs `filedock s3 cors`).
          show("failed", "the store did not take the upload (network, or the store's CORS)");
          return null;
        }
        if (status < 200 || status >= 300) {
          show("failed", "the store refused the upload (HTTP " + status + ")");
          return null;
        }
        bar.value = 100;
        show("processing", "processing");
        loadFiles(false);
        return follow(answer.body.file.file_id, show);
      });
    }).catch(function () { show("failed", "the server could not be reached"); });
  }

  // Resolves to the store's HTTP status, or 0 when there was no answer the page may read.
  function send(file, request, bar) {
    // XMLHttpRequest, not fetch: only it reports upload progress.
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open(request.method, request.url);
      Object.keys(request.headers || {}).forEach(function (name) {
        xhr.setRequestHeader(name, request.headers[name]);
      });
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) { bar.value = Math.round(100 * event.loaded / event.total); }
      });
      xhr.addEventListener("load", function () { resolve(xhr.status); });
      xhr.addEventListener("error", function () { resolve(0); });
      xhr.addEventListener("abort", function () { resolve(0); });
      xhr.send(file);
    });
  }

  function follow(fileId, show) {
    return fd.call("GET", api + "files/" + encodeURIComponent(fileId)).then(function (answer) {
      if (answer.status !== 200) { show("failed", message(answer)); return; }
      var file = answer.body;
      if (TERMINAL.indexOf(file.status) >= 0) {
        show(file.status, file.reason ? file.status + ": " + file.reason : file.status);
        loadFiles(false);
        return;
      }
      show(file.status);
      return new Promise(function (resolve) { setTimeout(resolve, POLL_MS); })
        .then(function () { return follow(fileId, show); });
    });
  }

  function loadFiles(more) {
    var url = api + "files" + (more && next ? "?after=" + encodeURIComponent(next) : "");
    return fd.call("GET", url).then(function (answer) {
      if (answer.status !== 200) { fd.text($("files-message"), message(answer)); return; }
      var rows = $("file-rows");
      if (!more) { rows.replaceChildren(); }
      answer.body.files.forEach(function (file) { rows.append(fileRow(file)); });
      next = answer.body.next;
      $("more").hidden = !next;
      fd.text($("files-message"), rows.children.length ? "" : "No files yet.");
    });
  }

  function fileRow(file) {
    var row = fd.make("tr", {"data-file-id": file.file_id});
    var status = fd.make("td", {"class": "status status-" + file.status},
      file.reason ? file.status + ": " + file.reason : file.status);
    var actions = fd.make("td", {"class": "actions"});
    var name = fd.make("td", {}, file.filename);
    if (file.status === "ready") {
      actions.append(
        button("Download", "Download " + file.filename, function () { download(file); }),
        button("Share", "Share " + file.filename, function () { share(file, row); })
      );
    }
    actions.append(button("Delete", "Delete " + file.filename, function () { remove(file); }));
    actions.lastChild.classList.add("danger");
    row.append(name, fd.make("td", {}, fd.size(file.size)), status,
      fd.make("td", {}, new Date(file.created_at).toLocaleString()), actions);
    return row;
  }

  function button(label, description, action) {
    var element = fd.make("button", {type: "button", "aria-label": description}, label);
    element.addEventListener("click", action);
    return element;
  }

  function download(file) {
    // A short-lived signed link, followed at once: the store serves it as an attachment.
    link(file, 60).then(function (url) {
      if (!url) { return; }
      var anchor = fd.make("a", {href: url, download: file.filename});
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
    });
  }

  // The link goes in a row of its own under the file's, replaced by the next one asked for.
  function share(file, row) {
    link(file, Number($("share-lifetime").value)).then(function (url) {
      if (!url) { return; }
      var old = row.nextElementSibling;
      if (old && old.classList.contains("share")) { old.remove(); }
      var cell = fd.make("td", {colspan: "5"});
      var field = fd.make("input", {type: "text", readonly: "", value: url,
        "aria-label": "Share link for " + file.filename});
      var copy = button("Copy", "Copy the share link", function () {
        field.select();
        if (navigator.clipboard) { navigator.clipboard.writeText(url).catch(function () {}); }
      });
      var words = fd.make("span", {"class": "note"},
        "Anyone with this link can download " + file.filename + " until it expires.");
      cell.append(field, " ", copy, " ", words);
      var shareRow = fd.make("tr", {"class": "share"});
      shareRow.append(cell);
      row.after(shareRow);
      field.focus();
      field.select();
    });
  }

  function link(file, seconds) {
    var url = api + "files/" + encodeURIComponent(file.file_id) + "/link";
    return fd.call("POST", url, {expires_in: seconds}).then(function (answer) {
      if (answer.status !== 200) { fd.text($("files-message"), message(answer)); return null; }
      return answer.body.url;
    });
  }

  function remove(file) {
    if (!window.confirm("Delete " + file.filename + "? This cannot be undone.")) { return; }
    fd.call("DELETE", api + "files/" + encodeURIComponent(file.file_id)).then(function (answer) {
      return loadFiles(false).then(function () {
        fd.text($("files-message"), answer.status === 204
          ? file.filename + " was deleted." : message(answer));
      });
    });
  }

  function message(answer) {
    if (answer.body && answer.body.error) { return answer.body.error; }
    return "The server answered " + answer.status + ".";
  }
})();
