// Call display: follows the board by server-sent events and falls back to polling; shows when the connection is
// lost and reconnects by itself. Texts come from the page (data-texts: [German, English] per key). The chime is
// off until someone switches it on here (browsers block sound that nobody asked for).
"use strict";

(function () {
  var root, texts, lastId = null, source = null, pollTimer = null, retryTimer = null, watchdog = null;
  var streamFailures = 0, audio = null, sound = false;
  var SILENCE_MS = 45000;  // the server sends something at least every 20 s

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function bilingual(key, tag) {
    var holder = el(tag || "span");
    var first = el("span", "", texts[key][0]);
    first.lang = "de";
    holder.appendChild(first);
    for (var i = 1; i < texts[key].length; i++) {
      var other = el("span", "second", texts[key][i]);
      other.lang = "en";
      holder.appendChild(document.createTextNode(" "));
      holder.appendChild(other);
    }
    return holder;
  }

  function render(board) {
    var calls = board.calls || [];
    var now = document.getElementById("now");
    var earlier = document.getElementById("earlier");
    var newest = calls.length ? calls[0].id : null;
    now.textContent = "";
    if (!calls.length) {
      now.appendChild(bilingual("none", "p")).className = "none";
    } else {
      var c = calls[0];
      var ref = el("p", "now-ref");
      ref.setAttribute("data-call", String(c.id));
      ref.appendChild(el("span", "sr-only", texts.reference[0] + " "));
      ref.appendChild(document.createTextNode(c.reference));
      now.appendChild(ref);
      var room = bilingual("room", "p");
      room.className = "now-room";
      room.appendChild(document.createTextNode(" "));
      room.appendChild(el("strong", "", c.room));
      now.appendChild(room);
      if (c.repeated) { now.appendChild(bilingual("again", "p")).className = "again"; }
    }
    earlier.textContent = "";
    calls.slice(1).forEach(function (c) {
      var row = el("tr");
      row.setAttribute("data-call", String(c.id));
      var cell = el("td", "ref", c.reference);
      if (c.repeated) { cell.appendChild(document.createTextNode(" ")); cell.appendChild(el("small", "again", texts.again[0])); }
      row.appendChild(cell);
      row.appendChild(el("td", "", c.room));
      earlier.appendChild(row);
    });
    if (lastId !== null && newest !== null && newest !== lastId) { announce(); }
    lastId = newest;
    document.body.setAttribute("data-board-at", String(Date.now()));
  }

  function announce() {
    var section = document.querySelector(".now");
    section.classList.remove("fresh");
    void section.offsetWidth;  // restart the animation
    section.classList.add("fresh");
    if (sound) { chime(); }
  }

  function chime() {
    if (!audio) { return; }
    var t = audio.currentTime;
    [660, 880].forEach(function (freq, i) {
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t + i * 0.35);
      gain.gain.exponentialRampToValueAtTime(0.3, t + i * 0.35 + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.35 + 0.6);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + i * 0.35);
      osc.stop(t + i * 0.35 + 0.65);
    });
  }

  function setSound(on) {
    var button = document.getElementById("sound");
    sound = on;
    if (on && !audio && (window.AudioContext || window.webkitAudioContext)) {
      audio = new (window.AudioContext || window.webkitAudioContext)();
    }
    if (on && audio && audio.state === "suspended") { audio.resume(); }
    button.textContent = "";
    button.appendChild(bilingual(on ? "sound_off" : "sound_on"));
    button.setAttribute("aria-pressed", on ? "true" : "false");
    try { window.localStorage.setItem("display-sound", on ? "on" : "off"); } catch (e) { /* private mode */ }
  }

  function online() {
    document.getElementById("state").hidden = true;
    document.body.classList.remove("offline");
    document.body.setAttribute("data-connection", source && !pollTimer ? "stream" : "poll");
  }

  function offline() {
    document.getElementById("state").hidden = false;
    document.body.classList.add("offline");
    document.body.setAttribute("data-connection", "lost");
  }

  function gone() {
    // The token was revoked: show the neutral screen the server gives.
    stopStream();
    window.location.reload();
  }

  function fetchBoard() {
    return fetch(root.getAttribute("data-board-url"), { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 404) { gone(); throw new Error("gone"); }
        if (!r.ok) { throw new Error("status " + r.status); }
        return r.json();
      })
      .then(function (board) { render(board); online(); return board; });
  }

  function stopStream() {
    if (source) { source.close(); source = null; }
    window.clearTimeout(watchdog);
  }

  function heard() {
    window.clearTimeout(watchdog);
    watchdog = window.setTimeout(function () { offline(); stopStream(); retryLater(); }, SILENCE_MS);
  }

  function retryLater() {
    window.clearTimeout(retryTimer);
    var wait = Math.min(30000, 1000 * Math.pow(2, Math.min(streamFailures, 5)));
    retryTimer = window.setTimeout(function () {
      fetchBoard().then(function () { if (streamFailures < 6) { openStream(); } else { startPolling(); } })
        .catch(function () { offline(); streamFailures += 1; retryLater(); });
    }, wait);
  }

  function openStream() {
    stopStream();
    source = new EventSource(root.getAttribute("data-events-url"));
    heard();
    source.addEventListener("open", function () { streamFailures = 0; heard(); online(); });
    source.addEventListener("board", function (e) { heard(); online(); render(JSON.parse(e.data)); });
    source.addEventListener("alive", function () { heard(); online(); });
    source.addEventListener("gone", gone);
    source.addEventListener("error", function () {
      offline();
      if (source && source.readyState === EventSource.CLOSED) { stopStream(); streamFailures += 1; retryLater(); }
    });
  }

  function startPolling() {
    stopStream();
    if (pollTimer) { return; }
    var seconds = Number(root.getAttribute("data-poll-seconds")) || 2;
    pollTimer = window.setInterval(function () { fetchBoard().catch(offline); }, seconds * 1000);
    fetchBoard().catch(offline);
  }

  window.addEventListener("DOMContentLoaded", function () {
    root = document.getElementById("display");
    if (!root) { return; }
    texts = JSON.parse(root.getAttribute("data-texts"));
    var first = document.querySelector("#now [data-call]");
    lastId = first ? Number(first.getAttribute("data-call")) : null;
    var button = document.getElementById("sound");
    button.hidden = !(window.AudioContext || window.webkitAudioContext);
    button.addEventListener("click", function () { setSound(!sound); if (sound) { chime(); } });
    var saved = null;
    try { saved = window.localStorage.getItem("display-sound"); } catch (e) { /* private mode */ }
    if (saved === "on") { setSound(true); }  // may stay silent until someone touches the screen once
    window.addEventListener("online", function () { streamFailures = 0; retryLater(); });
    window.addEventListener("offline", offline);
    if (window.EventSource) { openStream(); } else { startPolling(); }
  });
}());
