// What every console page shares: the header and its menu (one list, filtered by the member's
// role in the chosen town), calls to the staff API (session cookie + CSRF header), refusals
// turned into Japanese (or English) sentences, Japan time in and out, and yen.
// Loaded after i18n.js, common.js and console-strings.js, before the page's own script.
// It builds the header as soon as it runs (deferred scripts run before DOMContentLoaded), so
// i18n.js finds the language switch and the header's texts when it applies the language.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const TOWN_KEY = "furusato.console.town";
  const STAFF_ROLES = ["owner", "editor", "moderator", "analyst"];
  // The menu. `roles`: who may use the page (the server decides anyway; a hidden link only
  // spares a refusal). A page whose API is not on this deployment is left out of this list.
  const NAV = [
    { page: "home", key: "nav.home", roles: STAFF_ROLES },
    { page: "drops", key: "nav.drops", roles: ["owner", "editor"] },
    { page: "campaigns", key: "nav.campaigns", roles: ["owner", "editor", "analyst"] },
    { page: "orders", key: "nav.orders", roles: ["owner", "editor", "analyst"] },
    { page: "parks", key: "nav.parks", roles: STAFF_ROLES },
    { page: "names", key: "nav.names", roles: ["owner", "editor", "moderator"] },
    { page: "benefits", key: "nav.benefits", roles: ["owner", "editor", "analyst", "moderator"] },
    { page: "spots", key: "nav.spots", roles: ["owner", "editor", "analyst", "moderator"] },
    { page: "announcements", key: "nav.announcements", roles: ["owner", "editor", "analyst", "moderator"] },
    { page: "polls", key: "nav.polls", roles: ["owner", "editor", "analyst", "moderator"] },
    { page: "analytics", key: "nav.analytics", roles: ["owner", "editor", "analyst"] },
    { page: "registration", key: "nav.registration", roles: ["owner", "editor", "analyst"] },
    { page: "data-requests", key: "nav.data_requests", roles: ["owner"] },
    { page: "members", key: "nav.members", roles: ["owner"] },
    { page: "audit", key: "nav.audit", roles: ["owner", "analyst"] },
    { page: "settings", key: "nav.settings", roles: ["owner"] },
  ];
  // Error codes with their own sentence in console-strings.js ("cerr.<code>").
  const KNOWN_CODES = [
    "unauthorized", "forbidden", "csrf_failed", "rate_limited", "not_found", "code_invalid", "code_expired",
    "code_locked", "code_used", "invite_invalid", "invite_not_found", "invite_expired", "invite_used",
    "invite_not_pending", "role_too_high", "last_owner", "already_member", "member_not_found",
    "drop_not_found", "drop_not_live", "drop_not_paused", "drop_terms_locked", "drop_publishing",
    "drop_state_changed", "drop_ended", "publish_failed", "chain_unavailable",
    "campaign_not_found", "code_taken", "invalid_code", "poster_unavailable",
    "order_not_found", "not_refundable", "refund_unsupported", "refund_refused",
    "payment_provider_unavailable", "payload_too_large",
    "park_not_found", "lot_not_found", "lot_not_unsold", "not_unsold", "lot_has_bids", "contracts_not_ready",
    "sign_unavailable", "proposal_not_found", "proposal_not_pending", "reason_not_found", "reason_inactive",
    "reason_code_taken", "name_invalid",
  ];

  let state = { me: null, town: null };

  function el(id) { return document.getElementById(id); }

  function store(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* private mode: the choice lasts for the page */ }
  }

  function load(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

  function make(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      const value = attrs[name];
      if (value === undefined || value === null || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name === "htmlFor") node.htmlFor = value;
      else if (name in node && typeof value !== "string") node[name] = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) node.append(child);
    });
    return node;
  }

  function cookie(name) {
    const found = document.cookie.split(";").map(function (part) { return part.trim(); })
      .find(function (part) { return part.indexOf(name + "=") === 0; });
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function query(params) {
    const search = new URLSearchParams();
    Object.keys(params || {}).forEach(function (key) {
      const value = params[key];
      if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
    });
    const text = search.toString();
    return text ? "?" + text : "";
  }

  // fetch() against the API with the session cookie; writes carry the CSRF header. Never
  // throws. Answers {ok, status, body, network}. A 401 sends the page to sign-in (unless
  // options.allow401, for the sign-in page itself).
  async function api(method, path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    if (opts.json !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = cookie("furusato_csrf");
    let response;
    try {
      response = await fetch(path + query(opts.query), {
        method: method,
        headers: headers,
        credentials: "same-origin",
        body: opts.json !== undefined ? JSON.stringify(opts.json) : undefined,
      });
    } catch (e) {
      return { ok: false, status: 0, body: null, network: true };
    }
    let body = null;
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    const result = { ok: response.ok, status: response.status, body: body, network: false };
    if (response.status === 401 && !opts.allow401) toSignIn();
    return result;
  }

  function townPath(rest) {
    return "/api/v1/staff/towns/" + encodeURIComponent(state.town ? state.town.slug : "") + (rest ? "/" + rest : "");
  }

  function townApi(method, rest, options) { return api(method, townPath(rest), options); }

  function toSignIn() {
    const here = location.pathname + location.search;
    location.replace("/console/" + (here.indexOf("/console/") === 0 && here !== "/console/" ? query({ next: here }) : ""));
  }

  // A link to another console page in the same town: page("order", {id: "ord_1"}).
  function page(name, params) {
    const all = Object.assign({ town: state.town ? state.town.slug : "" }, params || {});
    return "/console/" + name + ".html" + query(all);
  }

  function errorCode(result) {
    return (result && result.body && result.body.error && result.body.error.code) || "";
  }

  // The sentence for a refused call: a known code in the page's language, else the server's
  // own message, else the status.
  function errorText(result) {
    if (!result || result.network) return t("common.network");
    const code = errorCode(result);
    if (result.status === 403 && (code === "forbidden" || !code)) return t("cerr.forbidden");
    if (code && KNOWN_CODES.indexOf(code) >= 0) return t("cerr." + code);
    if (result.status === 404) return t("cerr.not_found");
    if (result.status === 422) return t("cerr.fields");
    if (result.status === 429) return t("cerr.rate_limited");
    if (result.status >= 500) return t("common.server");
    const message = result.body && result.body.error && result.body.error.message;
    return message ? t("cerr.server_said", { message: message }) : t("cerr.unknown", { status: result.status });
  }

  // A 422 body → {fieldName: true} for the fields the server named.
  function fieldErrors(result) {
    const fields = {};
    const detail = result && result.body && result.body.detail;
    (Array.isArray(detail) ? detail : []).forEach(function (problem) {
      const loc = Array.isArray(problem.loc) ? problem.loc : [];
      const name = loc.length > 1 ? loc[1] : loc[0];
      if (typeof name === "string") fields[name] = true;
    });
    return fields;
  }

  // Shows `text` in the message element `id` (a live region), or hides it when text is "".
  function say(id, text, tone) {
    const box = el(id);
    if (!box) return;
    box.hidden = !text;
    box.textContent = text || "";
    box.className = "notice" + (tone ? " notice-" + tone : "");
    if (text && tone === "error" && box.tabIndex === -1) box.focus();
  }

  // ----- Japan time -----
  const JST_MS = 9 * 3600 * 1000;
  // The API answers UTC; a time without an offset (SQLite hands some back naive) is UTC too,
  // never the browser's local time.
  function instant(iso) {
    const text = String(iso);
    return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) || text.length <= 10 ? text : text + "Z");
  }
  // ISO instant → "YYYY-MM-DDTHH:MM" in Japan time, for <input type=datetime-local>.
  function toInput(iso) {
    if (!iso) return "";
    const ms = instant(iso);
    if (isNaN(ms)) return "";
    return new Date(ms + JST_MS).toISOString().slice(0, 16);
  }
  // <input type=datetime-local> value (Japan time) → ISO with +09:00, or null when empty.
  function fromInput(value) {
    if (!value) return null;
    return (value.length === 16 ? value + ":00" : value) + "+09:00";
  }
  function dateTime(iso) {
    if (!iso) return "—";
    const ms = instant(iso);
    if (isNaN(ms)) return "—";
    const j = new Date(ms + JST_MS).toISOString();
    return j.slice(0, 4) + "/" + j.slice(5, 7) + "/" + j.slice(8, 10) + " " + j.slice(11, 16);
  }
  function todayJst() { return new Date(Date.now() + JST_MS).toISOString().slice(0, 10); }

  function yen(amount) { return amount === null || amount === undefined ? "—" : F.util.yen(amount); }
  function count(n) { return n === null || n === undefined ? "—" : Number(n).toLocaleString("ja-JP"); }

  function townName(town) {
    if (!town) return "";
    return F.i18n.current() === "en" ? (town.name_en || town.name_ja || town.slug) : (town.name_ja || town.slug);
  }

  // ----- header -----
  function buildHeader() {
    const header = make("header", { className: "site-header console-header" }, [
      make("a", { className: "brand", href: "/console/home.html", id: "brand-link" }, [
        make("span", { "data-i18n": "console.brand", text: "ふるさと 管理画面" }),
      ]),
      make("span", { className: "console-town", id: "console-town" }),
      make("button", {
        type: "button", className: "menu-button", id: "menu-button", "aria-expanded": "false",
        "aria-controls": "console-nav", hidden: true,
      }, [make("span", { "data-i18n": "nav.menu", text: "メニュー" })]),
      make("button", { type: "button", className: "lang-switch", id: "lang-switch", lang: "en", "aria-label": "Switch language", text: "English" }),
    ]);
    const nav = make("nav", { className: "console-nav", id: "console-nav", "aria-label": "管理画面のメニュー", hidden: true });
    const skip = make("a", { className: "skip-link", href: "#main", "data-i18n": "nav.skip", text: "本文へ移動" });
    document.body.prepend(skip, header, nav);
    el("menu-button").addEventListener("click", function () {
      const open = el("menu-button").getAttribute("aria-expanded") !== "true";
      el("menu-button").setAttribute("aria-expanded", String(open));
      nav.classList.toggle("open", open);
    });
  }

  function buildNav(current) {
    const nav = el("console-nav");
    const role = state.town ? state.town.role : "";
    const list = make("ul", {});
    NAV.filter(function (item) { return item.roles.indexOf(role) >= 0; }).forEach(function (item) {
      const link = make("a", { href: page(item.page), text: t(item.key) });
      if (item.page === current) link.setAttribute("aria-current", "page");
      list.append(make("li", {}, [link]));
    });
    const signOut = make("button", { type: "button", className: "link-button", id: "sign-out", text: t("nav.signout") });
    signOut.addEventListener("click", async function () {
      await api("DELETE", "/api/v1/staff/session", { allow401: true });
      location.replace("/console/");
    });
    list.append(make("li", { className: "nav-signout" }, [
      make("span", { className: "nav-email", text: state.me ? state.me.email : "" }), signOut,
    ]));
    nav.replaceChildren(list);
    nav.hidden = false;
    el("menu-button").hidden = false;
    el("brand-link").href = page("home");
    renderTown();
  }

  function renderTown() {
    const box = el("console-town");
    if (!box) return;
    box.replaceChildren();
    if (!state.town) return;
    const towns = state.me ? state.me.towns : [];
    if (towns.length > 1) {
      const id = "town-choice";
      const select = make("select", { id: id });
      towns.forEach(function (town) {
        select.append(make("option", { value: town.slug, text: townName(town), selected: town.slug === state.town.slug }));
      });
      select.addEventListener("change", function () {
        store(TOWN_KEY, select.value);
        location.href = "/console/home.html" + query({ town: select.value });
      });
      box.append(make("label", { htmlFor: id, className: "visually-hidden", text: t("nav.town") }), select);
    } else {
      box.textContent = townName(state.town);
    }
    box.append(make("span", { className: "role-badge", text: t("role." + state.town.role) }));
  }

  // Loads who is signed in and the town to work on, draws the menu, then calls
  // start({me, town}). `roles`: who may use this page; others see why and where to go.
  async function ready(current, start, roles) {
    const me = await api("GET", "/api/v1/staff/me");
    if (!me.ok) {
      if (me.status !== 401) say("page-error", errorText(me), "error");
      return;
    }
    state.me = me.body;
    const towns = state.me.towns || [];
    const wanted = new URLSearchParams(location.search).get("town") || load(TOWN_KEY);
    state.town = towns.find(function (town) { return town.slug === wanted; }) || towns[0] || null;
    if (!state.town) {
      buildNav(current);
      say("page-error", t("console.no_town"), "error");
      return;
    }
    store(TOWN_KEY, state.town.slug);
    buildNav(current);
    F.i18n.onChange(function () { buildNav(current); });
    if (roles && roles.indexOf(state.town.role) < 0) {
      fail({ status: 403, body: null });
      if (state.town.role === "verifier") say("page-error", t("console.verifier_only"), "error");
      else if (current !== "home") el("page-error").after(make("p", {}, [make("a", { href: page("home"), text: t("console.to_home") })]));
      return;
    }
    start({ me: state.me, town: state.town });
  }

  // A page whose data could not be read: say why, and hide what would only look broken.
  function fail(result) {
    say("page-error", errorText(result), "error");
    const main = el("main");
    if (main) main.querySelectorAll("[data-needs-role]").forEach(function (node) { node.hidden = true; });
  }

  function can(roles) { return !!state.town && roles.indexOf(state.town.role) >= 0; }

  // Fills a <select> with the town's drops (value = id), keeping `chosen`.
  async function dropOptions(select, firstLabelKey, chosen) {
    const found = await townApi("GET", "drops", { query: { limit: 100 } });
    const items = found.ok && found.body ? found.body.items : [];
    const options = [];
    if (firstLabelKey) options.push(make("option", { value: "", text: t(firstLabelKey) }));
    items.forEach(function (drop) {
      options.push(make("option", { value: String(drop.id), text: dropTitle(drop) }));
    });
    select.replaceChildren.apply(select, options);
    if (chosen) select.value = String(chosen);
    return items;
  }

  function dropTitle(drop) {
    if (!drop) return "";
    return F.i18n.current() === "en" ? (drop.title_en || drop.title_ja) : (drop.title_ja || drop.title_en);
  }

  // A modal yes/no question in a <dialog> (focus stays inside, Escape cancels). Answers a promise.
  function confirmDialog(title, body, yesLabel) {
    return new Promise(function (resolve) {
      const dialog = make("dialog", { className: "confirm", "aria-labelledby": "confirm-title" }, [
        make("h2", { id: "confirm-title", text: title }),
        make("p", { text: body }),
      ]);
      const yes = make("button", { type: "button", className: "primary", text: yesLabel || t("common.yes") });
      const no = make("button", { type: "button", className: "secondary", text: t("common.cancel") });
      dialog.append(make("div", { className: "actions" }, [no, yes]));
      function close(answer) {
        dialog.close();
        dialog.remove();
        resolve(answer);
      }
      yes.addEventListener("click", function () { close(true); });
      no.addEventListener("click", function () { close(false); });
      dialog.addEventListener("cancel", function (event) { event.preventDefault(); close(false); });
      document.body.append(dialog);
      dialog.showModal();
      no.focus();
    });
  }

  // Puts an error sentence under a field (`<p class="field-error" id="NAME-error">`).
  function fieldMessage(name, text) {
    const box = el(name + "-error");
    const input = el(name);
    if (box) {
      box.hidden = !text;
      box.textContent = text || "";
    }
    if (input) {
      if (text) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }

  // A photo file → {dataUrl} (a JPEG, PNG or WebP data: URL of at most `maxBytes`), made
  // smaller in the browser when it is too large; or {error: key} when it is not a photo.
  const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
  function readPhoto(file, maxBytes) {
    const limit = maxBytes || 300 * 1024;
    return new Promise(function (resolve) {
      if (!file || PHOTO_TYPES.indexOf(file.type) < 0) return resolve({ error: "v.photo_type" });
      const reader = new FileReader();
      reader.onerror = function () { resolve({ error: "v.photo_type" }); };
      reader.onload = function () {
        const original = String(reader.result);
        const image = new Image();
        image.onerror = function () { resolve({ error: "v.photo_type" }); };
        image.onload = function () {
          const longest = Math.max(image.naturalWidth, image.naturalHeight);
          if (file.size <= limit && longest <= 1600) return resolve({ dataUrl: original });
          // Too large: draw it at most 1600 px wide or high, as JPEG, lowering the quality
          // (then the size) until it fits.
          let scale = Math.min(1, 1600 / longest);
          for (let round = 0; round < 8; round++) {
            const canvas = document.createElement("canvas");
            canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
            canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
            const context = canvas.getContext("2d");
            context.fillStyle = "#fff";
            context.fillRect(0, 0, canvas.width, canvas.height);
            context.drawImage(image, 0, 0, canvas.width, canvas.height);
            const url = canvas.toDataURL("image/jpeg", round < 3 ? 0.85 - round * 0.15 : 0.6);
            if (Math.floor((url.length - url.indexOf(",") - 1) * 3 / 4) <= limit) return resolve({ dataUrl: url });
            if (round >= 2) scale *= 0.75;
          }
          resolve({ error: "v.photo_size" });
        };
        image.src = original;
      };
      reader.readAsDataURL(file);
    });
  }

  function statusBadge(kind, status) {
    return make("span", { className: "badge badge-" + status, text: t(kind + "." + status) });
  }

  F.console = {
    api: api,
    townApi: townApi,
    townPath: townPath,
    page: page,
    ready: ready,
    can: can,
    el: el,
    make: make,
    say: say,
    fail: fail,
    query: query,
    errorCode: errorCode,
    errorText: errorText,
    fieldErrors: fieldErrors,
    fieldMessage: fieldMessage,
    confirm: confirmDialog,
    statusBadge: statusBadge,
    readPhoto: readPhoto,
    dropOptions: dropOptions,
    dropTitle: dropTitle,
    townName: townName,
    state: function () { return state; },
    time: { toInput: toInput, fromInput: fromInput, format: dateTime, today: todayJst, ms: instant },
    yen: yen,
    count: count,
  };

  buildHeader();
})();
