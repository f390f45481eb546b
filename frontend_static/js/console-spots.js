// Spots and check-ins: register a place (its coordinates only when the phone's location is to
// be checked), print its poster (A4/A3 PDF, a QR of the spot's short URL), open the staffed
// place's kiosk screen, and read the check-ins by spot and day with a CSV. Downloads are plain
// links: the session cookie goes with a same-site GET.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const EDITORS = ["owner", "editor"];
  const RECORD_READERS = ["owner", "editor", "analyst"];
  const LIMIT = 50;
  const C_LIMIT = 50;
  const FIELDS = ["name_ja", "name_en", "place_ja", "activity", "latitude", "longitude", "radius_m", "require_location"];
  // What a spot is for: a check-in there counts as this activity (categories, premium rule).
  const ACTIVITIES = ["leisure", "event", "work", "telework", "volunteer"];
  const CODES = ["spot_not_found", "spot_archived", "poster_unavailable"];

  let spots = { items: [], total: 0, offset: 0 };
  let allSpots = [];
  let checkIns = { items: [], total: 0, offset: 0, by_spot_and_day: [] };
  let errors = {};
  let fresh = null;

  function errorText(result) {
    const code = C.errorCode(result);
    return CODES.indexOf(code) >= 0 ? t("scerr." + code) : C.errorText(result);
  }

  function items(body) { return (body && (Array.isArray(body) ? body : body.items)) || []; }

  function local(item, base) {
    const en = F.i18n.current() === "en";
    return (en ? item[base + "_en"] || item[base + "_ja"] : item[base + "_ja"] || item[base + "_en"]) || "";
  }

  function absolute(url) {
    try { return new URL(url || "", location.origin).href; } catch (e) { return url; }
  }

  // ───────────── spots ─────────────

  function posterLinks(spot) {
    function link(size) {
      return C.make("a", {
        className: "button secondary small", href: C.townPath("spots/" + spot.id + "/poster.pdf?size=" + size),
        download: "spot-" + spot.code + "-" + size + ".pdf", text: t("spots.poster_" + size.toLowerCase()),
      });
    }
    return C.make("div", { className: "poster-links" }, [link("A4"), link("A3")]);
  }

  function spotCard(spot) {
    const archived = !!spot.archived_at;
    const badges = C.make("div", { className: "badges" });
    if (archived) badges.append(C.make("span", { className: "badge badge-paused", text: t("spots.archived") }));
    if (spot.kiosk) badges.append(C.make("span", { className: "badge badge-awarded", text: t("spots.is_kiosk") }));
    if (spot.require_location) badges.append(C.make("span", { className: "badge badge-awarded", text: t("spots.is_located", { radius: C.count(spot.radius_m) }) }));
    const card = C.make("li", { className: "panel spot-card" + (spot.id === fresh ? " fresh" : ""), id: "spot-" + spot.id }, [
      C.make("div", { className: "shop-head" }, [C.make("h3", { text: local(spot, "name") }), badges]),
    ]);
    if (spot.place_ja) card.append(C.make("p", { className: "hint", text: spot.place_ja }));
    const url = absolute(spot.url || "/s/" + spot.code);
    card.append(C.make("dl", { className: "kv" }, [
      C.make("dt", { text: t("spots.url") }),
      C.make("dd", {}, [C.make("span", { className: "mono", text: url.replace(/^https?:\/\//, "") })]),
      C.make("dt", { text: t("reg.spot.activity") }),
      C.make("dd", { className: "spot-activity", text: t("reg.activity." + (spot.activity || "leisure")) }),
      C.make("dt", { text: t("spots.today") }),
      C.make("dd", { className: "today-count", text: t("spots.today_value", { n: C.count(spot.check_ins_today || 0) }) }),
    ]));
    if (archived) return card;
    card.append(C.make("h4", { text: t("spots.print") }), posterLinks(spot));
    if (spot.kiosk) {
      card.append(C.make("p", { className: "hint", text: t("spots.kiosk_note") }));
      card.append(C.make("div", { className: "row-actions" }, [
        C.make("a", { className: "button primary small", href: C.page("kiosk", { spot: spot.id }), text: t("spots.open_kiosk") }),
      ]));
    }
    if (C.can(EDITORS)) {
      const actions = C.make("div", { className: "row-actions spot-settings" });
      const kiosk = C.make("button", { type: "button", className: "secondary small", text: t(spot.kiosk ? "spots.kiosk_off" : "spots.kiosk_on") });
      kiosk.addEventListener("click", function () { change(spot, { kiosk: !spot.kiosk }, spot.kiosk ? "spots.kiosk_off_done" : "spots.kiosk_on_done", kiosk); });
      const retire = C.make("button", { type: "button", className: "secondary small", text: t("spots.archive") });
      retire.addEventListener("click", async function () {
        const yes = await C.confirm(t("spots.archive.title", { name: local(spot, "name") }), t("spots.archive.body"), t("spots.archive.yes"));
        if (!yes) return retire.focus();
        change(spot, { archived: true }, "spots.archived_done", retire);
      });
      actions.append(kiosk, retire);
      card.append(actions, activityChooser(spot));
    }
    return card;
  }

  // An editor changes what the spot is for; past check-ins there are counted again.
  function activityChooser(spot) {
    const id = "activity-" + spot.id;
    const select = C.make("select", { id: id, className: "spot-activity-select" },
      ACTIVITIES.map(function (value) { return C.make("option", { value: value, text: t("reg.activity." + value) }); }));
    select.value = spot.activity || "leisure";
    select.addEventListener("change", function () {
      change(spot, { activity: select.value }, "reg.spot.activity_done", select);
    });
    return C.make("div", { className: "field spot-activity-field" }, [
      C.make("label", { htmlFor: id, text: t("reg.spot.activity_change") }), select,
    ]);
  }

  function renderSpots() {
    C.el("spots").replaceChildren.apply(C.el("spots"), spots.items.map(spotCard));
    C.el("spots-empty").hidden = spots.items.length !== 0;
    const nav = C.el("spots-pager");
    nav.hidden = spots.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: spots.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: spots.offset + LIMIT >= spots.total });
    prev.addEventListener("click", function () { loadSpots(Math.max(0, spots.offset - LIMIT)); });
    next.addEventListener("click", function () { loadSpots(spots.offset + LIMIT); });
    nav.replaceChildren(prev, next);
    spotOptions();
  }

  function spotOptions() {
    const select = C.el("c_spot");
    const chosen = select.value;
    const known = allSpots.length ? allSpots : spots.items;
    const options = [C.make("option", { value: "", text: t("spots.c.all") })];
    known.forEach(function (spot) { options.push(C.make("option", { value: String(spot.id), text: local(spot, "name") })); });
    select.replaceChildren.apply(select, options);
    select.value = chosen;
  }

  async function loadSpots(offset) {
    const found = await C.townApi("GET", "spots", { query: { limit: LIMIT, offset: offset } });
    if (!found.ok) return C.fail(found);
    const list = items(found.body);
    spots = { items: list, total: found.body.total !== undefined ? found.body.total : list.length, offset: offset };
    if (offset === 0 && spots.total <= LIMIT) allSpots = list;
    renderSpots();
  }

  async function change(spot, body, doneKey, button) {
    button.disabled = true;
    const saved = await C.townApi("PATCH", "spots/" + spot.id, { json: body });
    button.disabled = false;
    if (!saved.ok) return C.say("spots-message", errorText(saved), "error");
    fresh = spot.id;
    await loadSpots(spots.offset);
    C.say("spots-message", t(doneKey, { name: local(spot, "name") }), "success");
  }

  // ───────────── add a spot ─────────────

  function renderErrors() {
    FIELDS.forEach(function (name) { C.fieldMessage(name, errors[name] ? t(errors[name]) : ""); });
  }

  function number(text) {
    const clean = String(text).trim().replace(/，/g, ".").replace(/[０-９．－]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xfee0);
    });
    if (!clean) return null;
    return /^-?\d+(\.\d+)?$/.test(clean) ? Number(clean) : NaN;
  }

  function readSpot() {
    return {
      name_ja: C.el("name_ja").value.trim(),
      name_en: C.el("name_en").value.trim(),
      place_ja: C.el("place_ja").value.trim(),
      activity: ACTIVITIES.indexOf(C.el("activity").value) >= 0 ? C.el("activity").value : "leisure",
      latitude: number(C.el("latitude").value),
      longitude: number(C.el("longitude").value),
      radius_m: Number(C.el("radius_m").value || 300),
      require_location: C.el("require_location").checked,
      kiosk: C.el("kiosk").checked,
    };
  }

  function checkSpot(body) {
    const found = {};
    if (!body.name_ja) found.name_ja = "v.required";
    if (!body.name_en) found.name_en = "v.required";
    if (body.latitude !== null && !(body.latitude >= -90 && body.latitude <= 90)) found.latitude = "v.spot.latitude";
    if (body.longitude !== null && !(body.longitude >= -180 && body.longitude <= 180)) found.longitude = "v.spot.longitude";
    if (!found.latitude && !found.longitude && (body.latitude === null) !== (body.longitude === null)) {
      found[body.latitude === null ? "latitude" : "longitude"] = "v.spot.both";
    }
    if (!(Number.isInteger(body.radius_m) && body.radius_m >= 10 && body.radius_m <= 5000)) found.radius_m = "v.spot.radius";
    if (body.require_location && (body.latitude === null || body.longitude === null)) found.require_location = "v.spot.needs_coordinates";
    return found;
  }

  async function createSpot(event) {
    event.preventDefault();
    const body = readSpot();
    errors = checkSpot(body);
    renderErrors();
    const first = FIELDS.find(function (name) { return errors[name]; });
    if (first) {
      if (["latitude", "longitude", "radius_m", "require_location"].indexOf(first) >= 0) C.el("location-box").open = true;
      return C.el(first).focus();
    }
    if (body.latitude === null) { delete body.latitude; delete body.longitude; }
    C.el("spot-submit").disabled = true;
    const made = await C.townApi("POST", "spots", { json: body });
    C.el("spot-submit").disabled = false;
    if (!made.ok) {
      const named = C.fieldErrors(made);
      Object.keys(named).forEach(function (name) { if (FIELDS.indexOf(name) >= 0) errors[name] = "v.spot.field"; });
      renderErrors();
      const bad = FIELDS.find(function (name) { return errors[name]; });
      if (bad) return C.el(bad).focus();
      return C.say("spot-error", errorText(made), "error");
    }
    C.say("spot-error", "");
    ["name_ja", "name_en", "place_ja", "latitude", "longitude"].forEach(function (name) { C.el(name).value = ""; });
    C.el("radius_m").value = "300";
    C.el("activity").value = "leisure";
    C.el("require_location").checked = false;
    C.el("kiosk").checked = false;
    fresh = made.body.id;
    allSpots = [];
    await loadSpots(0);
    C.say("spots-message", t(made.body.kiosk ? "spots.created_kiosk" : "spots.created", { name: made.body.name_ja || body.name_ja }), "success");
    const poster = document.querySelector("#spot-" + made.body.id + " .poster-links a");
    if (poster) poster.focus();
  }

  // ───────────── check-ins ─────────────

  function filters() {
    const found = {};
    if (C.el("c_spot").value) found.spot_id = C.el("c_spot").value;
    if (C.el("c_day").value) found.day = C.el("c_day").value;
    return found;
  }

  function csvLinks() {
    const sent = filters();
    const stamp = sent.day || C.time.today();
    C.el("c-csv-utf8").href = C.townPath("check-ins.csv") + C.query(Object.assign({}, sent, { encoding: "utf-8" }));
    C.el("c-csv-sjis").href = C.townPath("check-ins.csv") + C.query(Object.assign({}, sent, { encoding: "shift_jis" }));
    C.el("c-csv-utf8").setAttribute("download", "check-ins-" + stamp + ".csv");
    C.el("c-csv-sjis").setAttribute("download", "check-ins-" + stamp + "-sjis.csv");
  }

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function spotName(id, fallback) {
    const spot = allSpots.concat(spots.items).find(function (s) { return s.id === id; });
    return spot ? local(spot, "name") : fallback || "#" + id;
  }

  function renderCheckIns() {
    const rows = checkIns.items.map(function (item) {
      return C.make("tr", {}, [
        cell(t("col.c_at"), [C.time.format(item.checked_in_at)]),
        cell(t("col.c_spot"), [spotName(item.spot_id, item.spot_name_ja)]),
        cell(t("col.c_method"), [t(item.method === "kiosk" ? "spots.c.kiosk" : "spots.c.poster")]),
        cell(t("col.c_distance"), [item.distance_m === null || item.distance_m === undefined ? "—" : t("spots.c.metres", { n: C.count(item.distance_m) })], "num"),
        cell(t("col.c_visitor"), [C.make("span", { className: "mono", text: item.visitor || "—" })]),
      ]);
    });
    C.el("checkins-rows").replaceChildren.apply(C.el("checkins-rows"), rows);
    C.el("checkins-table").hidden = checkIns.items.length === 0;
    C.el("checkins-empty").hidden = checkIns.items.length !== 0;
    C.el("checkins-summary").textContent = t("spots.c.total", { total: C.count(checkIns.total) });
    const counts = (checkIns.by_spot_and_day || []).slice(0, 30).map(function (row) {
      return C.make("li", { text: t("spots.c.count_row", { day: row.day.replace(/-/g, "/"), spot: spotName(row.spot_id), n: C.count(row.check_ins) }) });
    });
    C.el("checkins-counts").replaceChildren.apply(C.el("checkins-counts"), counts);
    const nav = C.el("checkins-pager");
    nav.hidden = checkIns.total <= C_LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: checkIns.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: checkIns.offset + C_LIMIT >= checkIns.total });
    prev.addEventListener("click", function () { loadCheckIns(Math.max(0, checkIns.offset - C_LIMIT)); });
    next.addEventListener("click", function () { loadCheckIns(checkIns.offset + C_LIMIT); });
    nav.replaceChildren(prev, next);
  }

  async function loadCheckIns(offset) {
    csvLinks();
    const found = await C.townApi("GET", "check-ins", { query: Object.assign({ limit: C_LIMIT, offset: offset }, filters()) });
    if (!found.ok) return C.say("page-error", errorText(found), "error");
    const list = items(found.body);
    checkIns = {
      items: list, total: found.body.total !== undefined ? found.body.total : list.length, offset: offset,
      by_spot_and_day: found.body.by_spot_and_day || [],
    };
    renderCheckIns();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("spots", async function () {
      C.el("spot-form").hidden = !C.can(EDITORS);
      C.el("checkins-section").hidden = !C.can(RECORD_READERS);
      C.el("c_day").value = C.time.today();
      C.el("spot-form").addEventListener("submit", createSpot);
      C.el("spot-form").addEventListener("input", function (event) {
        const name = event.target.name;
        if (errors[name]) { delete errors[name]; renderErrors(); }
        if ((name === "latitude" || name === "longitude") && errors.require_location) { delete errors.require_location; renderErrors(); }
      });
      C.el("checkins-filter").addEventListener("submit", function (event) { event.preventDefault(); loadCheckIns(0); });
      F.i18n.onChange(function () { renderSpots(); if (C.can(RECORD_READERS)) renderCheckIns(); });
      await loadSpots(0);
      if (C.can(RECORD_READERS)) loadCheckIns(0);
    }, ["owner", "editor", "analyst", "moderator"]);
  });
})();
