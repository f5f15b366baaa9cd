// Lobby kiosk front end: touch-first, one screen at a time, keeps nothing after a flow or 60 s idle.
// Every text comes from /kiosk/api/config in the chosen language; this file holds none.
(() => {
  "use strict";

  const TOKEN_KEY = "kiosk-device-token";
  const DEFAULT_LANG = "de";
  const REFERENCE_KEYS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ".split("");
  const PHONE_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "0"];
  // Date of birth (8 digits) or customer number (3 digits, any letter, 6 digits).
  const IDENTITY_KEYS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
  // An e-mail address (optional step): letters, digits and the signs addresses commonly hold.
  const EMAIL_KEYS = "1234567890qwertyuiopasdfghjkl@zxcvbnm._-+".split("");
  const SVG_NS = "http://www.w3.org/2000/svg";
  const FALLBACK_ICON = "fallback";
  const pictograms = new Set();  // the icon names of /kiosk/icons.svg, once it is in the page

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  let config = null;
  let state = null;
  let history = [];
  let idleTimer = null;

  function freshState(lang) {
    return {
      lang: lang, kind: null, concern: null, weekdays: new Set(), parts: new Set(), phone: "", email: "",
      needs: new Set(), interpreterLanguage: "",
      sms: false, key: newKey(), checkinMode: "reference", checkinValue: "", checkinIdentity: "",
      screen: "start",
    };
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return "kiosk-" + crypto.randomUUID();
    return "kiosk-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  function deviceToken() {
    const match = location.hash.match(/token=([^&]+)/);
    if (match) {
      localStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      window.history.replaceState(null, "", location.pathname + location.search);
    }
    return localStorage.getItem(TOKEN_KEY) || "";
  }

  function idleSeconds() {
    const fromUrl = Number(params.get("idle"));
    if (fromUrl > 0) return fromUrl;
    const fromPage = Number(document.body.dataset.idle);
    if (fromPage > 0) return fromPage;
    return (config && config.idle_seconds) || 60;
  }

  async function api(path, body) {
    const options = { headers: { "X-Kiosk-Token": deviceToken(), "Accept": "application/json" } };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path + "?lang=" + encodeURIComponent(state.lang), options);
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    return { ok: response.ok, status: response.status, data: data };
  }

  function text(key) { return (config && config.texts[key]) || ""; }

  function applyTexts() {
    document.documentElement.lang = config.html_lang;
    document.documentElement.dir = config.dir;
    document.title = text("title");
    document.querySelectorAll("[data-text]").forEach((el) => { el.textContent = text(el.dataset.text); });
    $("receipt-qr").alt = text("receipt_qr");
  }

  function renderLanguages() {
    const list = $("language-list");
    list.replaceChildren();
    config.languages.forEach((l) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "tile language";
      b.lang = l.html_lang;
      b.dir = l.dir;
      b.textContent = l.name;
      b.dataset.lang = l.code;
      if (l.code === state.lang) b.setAttribute("aria-current", "true");
      b.addEventListener("click", () => chooseLanguage(l.code));
      li.appendChild(b);
      list.appendChild(li);
    });
  }

  // The pictograms are SVG <symbol>s in /kiosk/icons.svg (no emoji: kiosk machines often lack an emoji font).
  // The sprite goes into the page once, so that every <use href="#icon-NAME"> finds its symbol.
  async function loadPictograms() {
    try {
      const response = await fetch("/kiosk/icons.svg");
      if (!response.ok) return;
      const sprite = new DOMParser().parseFromString(await response.text(), "image/svg+xml").documentElement;
      if (sprite.namespaceURI !== SVG_NS) return;
      sprite.querySelectorAll("symbol[id^='icon-']").forEach((s) => pictograms.add(s.id.slice(5)));
      $("pictograms").replaceChildren(document.importNode(sprite, true));
    } catch (e) {
      // Without pictograms the labels still say everything.
    }
  }

  function pictogram(name) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("viewBox", "0 0 24 24");
    const use = document.createElementNS(SVG_NS, "use");
    use.setAttribute("href", "#icon-" + (pictograms.has(name) ? name : FALLBACK_ICON));
    svg.appendChild(use);
    return svg;
  }

  function renderConcerns() {
    const list = $("concern-list");
    list.replaceChildren();
    config.concerns.forEach((c) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "tile concern";
      b.dataset.concern = c.code;
      const label = document.createElement("span");
      label.textContent = c.label;
      b.append(pictogram(c.icon), label);
      if (c.description) {  // the office's short description under the label (issue 18)
        const about = document.createElement("span");
        about.className = "tile-hint";
        about.textContent = c.description;
        b.append(about);
      }
      b.addEventListener("click", () => { state.concern = c.code; go("kind"); });
      li.appendChild(b);
      list.appendChild(li);
    });
  }

  function renderWeekdays() {
    const list = $("weekday-list");
    list.replaceChildren();
    config.weekdays.forEach((d) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "toggle";
      b.dataset.weekday = String(d.value);
      b.setAttribute("aria-pressed", state.weekdays.has(d.value) ? "true" : "false");
      b.textContent = d.label;
      b.addEventListener("click", () => {
        toggle(state.weekdays, d.value);
        b.setAttribute("aria-pressed", state.weekdays.has(d.value) ? "true" : "false");
      });
      list.appendChild(b);
    });
  }

  // Needs (appointments only): toggles; with the interpreter, one language (the kiosk's own when offered).
  function renderNeeds() {
    const list = $("need-list");
    list.replaceChildren();
    config.needs.forEach((n) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "toggle";
      b.dataset.need = n.code;
      b.setAttribute("aria-pressed", state.needs.has(n.code) ? "true" : "false");
      b.textContent = n.label;
      b.addEventListener("click", () => {
        toggle(state.needs, n.code);
        b.setAttribute("aria-pressed", state.needs.has(n.code) ? "true" : "false");
        if (n.code === "interpreter" && !state.interpreterLanguage) {
          const own = config.interpreter_languages.find((l) => l.code === state.lang);
          state.interpreterLanguage = own ? own.code : "";
        }
        renderInterpreterLanguages();
      });
      list.appendChild(b);
    });
    renderInterpreterLanguages();
  }

  function renderInterpreterLanguages() {
    const shown = state.needs.has("interpreter");
    $("interpreter-languages").hidden = !shown;
    const list = $("interpreter-language-list");
    list.replaceChildren();
    if (!shown) return;
    config.interpreter_languages.forEach((l) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "toggle";
      b.dataset.interpreterLanguage = l.code;
      b.setAttribute("aria-pressed", state.interpreterLanguage === l.code ? "true" : "false");
      b.textContent = l.name;
      b.addEventListener("click", () => {
        state.interpreterLanguage = state.interpreterLanguage === l.code ? "" : l.code;
        renderInterpreterLanguages();
      });
      list.appendChild(b);
    });
  }

  function chosenNeeds() {
    return config.needs.filter((n) => state.needs.has(n.code)).map((n) => {
      if (n.code !== "interpreter" || !state.interpreterLanguage) return n.label;
      const language = config.interpreter_languages.find((l) => l.code === state.interpreterLanguage);
      return n.label + " (" + (language ? language.name : state.interpreterLanguage) + ")";
    });
  }

  function toggle(set, value) { if (set.has(value)) set.delete(value); else set.add(value); }

  function keypad(container, keys, onKey) {
    container.replaceChildren();
    keys.forEach((k) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "key";
      b.textContent = k;
      b.addEventListener("click", () => onKey(k));
      container.appendChild(b);
    });
    const del = document.createElement("button");
    del.type = "button";
    del.className = "key wide-key";
    del.dataset.text = "key_delete";
    del.textContent = text("key_delete");
    del.addEventListener("click", () => onKey("DEL"));
    const clear = document.createElement("button");
    clear.type = "button";
    clear.className = "key wide-key";
    clear.dataset.text = "key_clear";
    clear.textContent = text("key_clear");
    clear.addEventListener("click", () => onKey("CLEAR"));
    container.append(del, clear);
  }

  function edit(value, key, limit) {
    if (key === "DEL") return value.slice(0, -1);
    if (key === "CLEAR") return "";
    return value.length < limit ? value + key : value;
  }

  function renderPhone() {
    $("phone-display").textContent = state.phone;
    $("phone-hint").textContent = text(state.kind === "callback" ? "phone_hint_callback" : "phone_hint_appointment");
  }

  function renderCheckin() {
    $("checkin-display").textContent = state.checkinValue;
    $("checkin-mode-phone").setAttribute("aria-pressed", state.checkinMode === "phone" ? "true" : "false");
    $("checkin-mode-reference").setAttribute("aria-pressed", state.checkinMode === "reference" ? "true" : "false");
    keypad($("checkin-keypad"), state.checkinMode === "phone" ? PHONE_KEYS : REFERENCE_KEYS, (k) => {
      state.checkinValue = edit(state.checkinValue, k, state.checkinMode === "phone" ? 20 : 9);
      $("checkin-display").textContent = state.checkinValue;
    });
    // By phone, the number alone is not enough: the next screen asks for date of birth or customer number.
    const button = $("checkin-send");
    button.dataset.text = state.checkinMode === "phone" ? "next" : "checkin_send";
    button.textContent = text(button.dataset.text);
  }

  function renderCheckinIdentity() {
    $("checkin-identity-display").textContent = state.checkinIdentity;
    keypad($("checkin-identity-keypad"), IDENTITY_KEYS, (k) => {
      state.checkinIdentity = edit(state.checkinIdentity, k, 10);
      $("checkin-identity-display").textContent = state.checkinIdentity;
    });
  }

  function renderSummary() {
    const dl = $("summary");
    dl.replaceChildren();
    const concern = config.concerns.find((c) => c.code === state.concern);
    const days = config.weekdays.filter((d) => state.weekdays.has(d.value)).map((d) => d.label);
    const parts = ["morning", "afternoon"].filter((p) => state.parts.has(p)).map((p) => text(p));
    const rows = [
      ["concern", concern ? concern.label : ""],
      ["kind", text(state.kind === "callback" ? "kind_callback" : "kind_appointment")],
      ["days", days.length ? days.join(", ") : text("any_time")],
      ["parts", parts.length ? parts.join(", ") : text("any_time")],
      ["phone", state.phone],
    ];
    if (state.kind === "appointment") {
      const needs = chosenNeeds();
      rows.push(["needs_summary", needs.length ? needs.join(", ") : text("needs_none")]);
    }
    if (state.email) rows.push(["email", state.email]);
    rows.forEach(([key, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = text(key);
      const dd = document.createElement("dd");
      dd.textContent = value;
      if (key === "phone" || key === "email") dd.dir = "ltr";
      dl.append(dt, dd);
    });
    $("sms-consent").setAttribute("aria-pressed", state.sms ? "true" : "false");
  }

  function show(name) {
    document.querySelectorAll(".screen").forEach((s) => { s.hidden = s.dataset.screen !== name; });
    state.screen = name;
    $("bar").hidden = name === "start" || name === "message";
    const heading = document.querySelector(`[data-screen="${name}"] h1`);
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
    window.scrollTo(0, 0);
  }

  function go(name) {
    history.push(state.screen);
    if (name === "when") {
      $("when-heading").textContent = text(state.kind === "callback" ? "when_heading_callback" : "when_heading_appointment");
      renderWeekdays();
    }
    if (name === "needs") renderNeeds();
    if (name === "phone") { renderPhone(); $("phone-error").textContent = ""; }
    if (name === "email") { $("email-display").textContent = state.email; $("email-error").textContent = ""; }
    if (name === "confirm") { renderSummary(); $("confirm-error").textContent = ""; }
    if (name === "checkin") renderCheckin();
    if (name === "checkin-identity") renderCheckinIdentity();
    show(name);
  }

  function back() {
    const previous = history.pop();
    if (previous) show(previous); else reset();
  }

  async function loadConfig(lang) {
    state.lang = lang;
    const result = await api("/kiosk/api/config");
    if (!result.ok) {
      $("message").textContent = result.data.message || "";
      show("message");
      return false;
    }
    config = result.data;
    applyTexts();
    renderLanguages();
    renderConcerns();
    keypad($("email-keypad"), EMAIL_KEYS, (k) => {
      state.email = edit(state.email, k, 254);
      $("email-display").textContent = state.email;
      $("email-error").textContent = "";
    });
    keypad($("phone-keypad"), PHONE_KEYS, (k) => {
      state.phone = edit(state.phone, k, 20);
      $("phone-display").textContent = state.phone;
      $("phone-error").textContent = "";
    });
    return true;
  }

  async function chooseLanguage(lang) {
    if (await loadConfig(lang)) go("home");
  }

  async function send() {
    const button = $("send");
    button.disabled = true;
    $("confirm-error").textContent = text("sending");
    const body = {
      concern: state.concern, phone: state.phone, language: state.lang, sms_consent: state.sms,
      idempotency_key: state.key, email: state.kind === "appointment" && state.email ? state.email : undefined,
      windows: { weekdays: Array.from(state.weekdays).sort(), parts: Array.from(state.parts).sort() },
    };
    if (state.kind === "appointment") {
      body.needs = Array.from(state.needs);
      if (state.needs.has("interpreter") && state.interpreterLanguage) body.interpreter_language = state.interpreterLanguage;
    }
    try {
      const result = await api(state.kind === "callback" ? "/kiosk/api/callbacks" : "/kiosk/api/requests", body);
      if (result.ok) {
        $("receipt-reference").textContent = result.data.reference;
        $("receipt-qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(result.data.qr_svg);
        history.length = 0;
        show(window.kioskWalkIn ? window.kioskWalkIn.screenFor(result.data) : "receipt");
        return;
      }
      const fields = result.data.fields || {};
      if (fields.phone) {
        $("confirm-error").textContent = "";
        go("phone");
        $("phone-error").textContent = fields.phone;
        return;
      }
      if (fields.email) {
        $("confirm-error").textContent = "";
        go("email");
        $("email-error").textContent = fields.email;
        return;
      }
      $("confirm-error").textContent = result.data.message || text("error_generic");
    } catch (e) {
      $("confirm-error").textContent = text("error_generic");
    } finally {
      button.disabled = false;
    }
  }

  async function checkIn() {
    const body = { language: state.lang };
    if (state.checkinMode === "phone") {
      body.phone = state.checkinValue;
      if (/[A-Z]/.test(state.checkinIdentity)) body.customer_number = state.checkinIdentity;
      else body.birth_date = state.checkinIdentity;
    } else {
      body.reference = state.checkinValue;
    }
    try {
      const result = await api("/kiosk/api/check-in", body);
      const fields = Object.values(result.data.fields || {});
      $("checkin-result").textContent = fields[0] || result.data.message || text("error_generic");
      $("checkin-result").classList.toggle("positive", Boolean(result.data.checked_in));
    } catch (e) {
      $("checkin-result").textContent = text("error_generic");
    }
    state.checkinValue = "";
    state.checkinIdentity = "";
    history.length = 0;
    show("checkin-result");
  }

  function clearScreens() {
    ["phone-display", "phone-error", "email-display", "email-error", "confirm-error", "checkin-display", "checkin-identity-display",
      "checkin-result", "receipt-reference", "summary", "need-list", "interpreter-language-list"].forEach((id) => { $(id).replaceChildren(); });
    $("receipt-qr").removeAttribute("src");
    if (window.kioskWalkIn) window.kioskWalkIn.clear();
    $("checkin-result").classList.remove("positive");
    document.querySelectorAll("[aria-pressed]").forEach((b) => b.setAttribute("aria-pressed", "false"));
  }

  async function reset() {
    state = freshState(DEFAULT_LANG);
    history.length = 0;
    clearScreens();
    if (await loadConfig(DEFAULT_LANG)) show("start");
  }

  function touched() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (state.screen !== "start" || state.lang !== DEFAULT_LANG) reset(); else touched();
    }, idleSeconds() * 1000);
  }

  function wire() {
    document.querySelectorAll("[data-go]").forEach((b) => b.addEventListener("click", () => go(b.dataset.go)));
    document.querySelectorAll("[data-kind]").forEach((b) => b.addEventListener("click", () => {
      state.kind = b.dataset.kind;
      go("when");
    }));
    document.querySelectorAll("[data-part]").forEach((b) => b.addEventListener("click", () => {
      toggle(state.parts, b.dataset.part);
      b.setAttribute("aria-pressed", state.parts.has(b.dataset.part) ? "true" : "false");
    }));
    document.querySelectorAll("[data-reset]").forEach((b) => b.addEventListener("click", () => reset()));
    $("back").addEventListener("click", back);
    // The e-mail step only for appointments, where the office allows e-mail; it can always be skipped.
    $("phone-next").addEventListener("click", () => {
      go(state.kind === "appointment" && config.email_allowed ? "email" : "confirm");
    });
    $("when-next").addEventListener("click", () => go(state.kind === "appointment" ? "needs" : "phone"));
    $("email-skip").addEventListener("click", () => { state.email = ""; go("confirm"); });
    $("email-next").addEventListener("click", () => go("confirm"));
    $("sms-consent").addEventListener("click", () => {
      state.sms = !state.sms;
      $("sms-consent").setAttribute("aria-pressed", state.sms ? "true" : "false");
    });
    $("send").addEventListener("click", send);
    $("print").addEventListener("click", () => window.print());
    $("checkin-mode-phone").addEventListener("click", () => {
      state.checkinMode = "phone"; state.checkinValue = ""; renderCheckin();
    });
    $("checkin-mode-reference").addEventListener("click", () => {
      state.checkinMode = "reference"; state.checkinValue = ""; renderCheckin();
    });
    $("checkin-send").addEventListener("click", () => {
      if (state.checkinMode === "phone") go("checkin-identity"); else checkIn();
    });
    $("checkin-identity-send").addEventListener("click", checkIn);
    ["pointerdown", "keydown", "touchstart"].forEach((e) => document.addEventListener(e, touched, { passive: true }));
  }

  document.addEventListener("DOMContentLoaded", async () => {
    state = freshState(DEFAULT_LANG);
    deviceToken();
    wire();
    await loadPictograms();
    await reset();
    touched();
  });
})();
