// Parks and their naming rights: the town's parks with their latest lot and sign (A3/A2 PDF),
// the terms that end within 90 days, a form to add a park (its photo read in the browser into
// a data: URL, made smaller when needed) and one to open a lot (a term and its auction) for a
// park. Editors and owners change things; moderators and analysts read.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const LIMIT = 20;
  const DAY = 24 * 3600 * 1000;
  const PARK_FIELDS = ["name_ja", "name_en", "description_ja", "description_en", "location_ja", "photo_data_url"];
  const LOT_FIELDS = ["lot_park", "auction_start", "auction_end", "term_start", "term_end", "reserve_jpy",
    "min_increment_jpy", "soft_close_minutes", "extension_minutes"];
  let page = { items: [], total: 0, offset: 0 };
  let notices = [];
  let photo = "";
  let parkErrors = {};
  let lotErrors = {};
  let fresh = null;

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function parkName(park) {
    return F.i18n.current() === "en" ? (park.name_en || park.name_ja) : park.name_ja;
  }

  function latestLot(park) { return (park.lots || [])[0] || null; }

  function lotCell(park) {
    const lot = latestLot(park);
    if (!lot) return [C.make("span", { className: "hint", text: t("parks.no_lot") })];
    const box = C.make("div", {}, [C.statusBadge("lstatus", lot.status)]);
    box.append(C.make("div", { className: "hint", text: t("parks.term", { start: C.time.format(lot.term_start).slice(0, 10), end: C.time.format(lot.term_end).slice(0, 10) }) }));
    if (lot.bid_count) {
      box.append(C.make("div", { text: t("parks.bids", { n: C.count(lot.bid_count), amount: C.yen(lot.highest_bid_jpy) }) }));
    }
    if (lot.status === "scheduled" || lot.status === "open") {
      box.append(C.make("div", { className: "hint", text: t("parks.until", { at: C.time.format(lot.ends_at) }) }));
    }
    if (lot.chain_state === "failed") box.append(C.make("p", { className: "field-error", text: t("parks.chain_failed") }));
    return [box];
  }

  function signLinks(park) {
    function link(size) {
      return C.make("a", {
        className: "button secondary small", href: C.townPath("parks/" + park.id + "/sign.pdf?size=" + size),
        download: "sign-park-" + park.id + "-" + size + ".pdf", text: t("parks.sign_" + size.toLowerCase()),
      });
    }
    return [C.make("div", { className: "poster-links" }, [link("A3"), link("A2")])];
  }

  function actions(park) {
    const box = C.make("div", { className: "row-actions" });
    box.append(C.make("a", { className: "button secondary small", href: C.page("park", { id: park.id }), text: t("parks.open") }));
    const lot = latestLot(park);
    if (lot && (lot.status === "scheduled" || lot.status === "open" || lot.status === "ended")) {
      box.append(C.make("a", { href: "/lots/" + lot.id, target: "_blank", rel: "noopener", text: t("parks.auction_page") }));
    }
    box.append(C.make("a", { href: "/parks/" + park.id, target: "_blank", rel: "noopener", text: t("parks.public_page") }));
    if (C.can(["owner", "editor"])) {
      const open = C.make("button", { type: "button", className: "link-button", text: t("parks.open_lot") });
      open.addEventListener("click", function () {
        C.el("lot_park").value = String(park.id);
        C.el("lot-form").scrollIntoView({ block: "start" });
        C.el("auction_start").focus();
      });
      box.append(open);
    }
    return box;
  }

  function render() {
    const rows = page.items.map(function (park) {
      const name = C.make("div", {}, [
        C.make("a", { href: C.page("park", { id: park.id }), text: parkName(park) }),
        park.location_ja ? C.make("div", { className: "hint", text: park.location_ja }) : null,
      ]);
      const row = C.make("tr", { id: "park-" + park.id }, [
        cell(t("col.park"), [name]),
        cell(t("col.lot"), lotCell(park)),
        cell(t("col.sign"), signLinks(park), "wide"),
        cell(t("col.actions"), [actions(park)], "wide"),
      ]);
      if (park.id === fresh) row.className = "fresh";
      return row;
    });
    C.el("parks-rows").replaceChildren.apply(C.el("parks-rows"), rows);
    C.el("parks-table").hidden = page.items.length === 0;
    C.el("parks-empty").hidden = page.items.length !== 0;
    const nav = C.el("parks-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: page.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: page.offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, page.offset - LIMIT)); });
    next.addEventListener("click", function () { load(page.offset + LIMIT); });
    nav.replaceChildren(prev, next);
    renderParkOptions();
    C.el("lot-form").hidden = !C.can(["owner", "editor"]) || page.total === 0;
    renderNotices();
    renderErrors();
  }

  function renderParkOptions() {
    const select = C.el("lot_park");
    const chosen = select.value;
    const options = [C.make("option", { value: "", text: t("f.lot_park.choose") })];
    page.items.forEach(function (park) { options.push(C.make("option", { value: String(park.id), text: parkName(park) })); });
    select.replaceChildren.apply(select, options);
    select.value = chosen;
  }

  function noticeText(item) {
    return t("parks.notice", { park: item.park_name || "", end: C.time.format(item.term_end).slice(0, 10), days: item.days_left });
  }

  function renderNotices() {
    C.el("notices-section").hidden = notices.length === 0;
    C.el("notices").replaceChildren.apply(C.el("notices"), notices.map(function (item) {
      const href = item.park_id ? C.page("park", { id: item.park_id }) : null;
      return C.make("li", { className: "task" }, [
        C.make("h3", { text: noticeText(item) }),
        C.make("p", { text: t(item.next_lot_id ? "parks.notice.next" : "parks.notice.body") }),
        href ? C.make("a", { className: "button secondary", href: href, text: t("task.open") }) : null,
      ]);
    }));
  }

  function renderErrors() {
    PARK_FIELDS.forEach(function (name) { C.fieldMessage(name, parkErrors[name] ? t(parkErrors[name]) : ""); });
    LOT_FIELDS.forEach(function (name) { C.fieldMessage(name, lotErrors[name] ? t(lotErrors[name]) : ""); });
  }

  async function load(offset) {
    const found = await C.townApi("GET", "parks", { query: { limit: LIMIT, offset: offset } });
    if (!found.ok) return C.fail(found);
    page = { items: found.body.items, total: found.body.total, offset: offset };
    render();
  }

  async function loadNotices() {
    const found = await C.townApi("GET", "naming/notices");
    if (!found.ok) return;
    notices = (found.body && found.body.items) || [];
    renderNotices();
  }

  // ----- add a park -----

  function renderPhoto() {
    const img = C.el("photo-preview");
    img.hidden = !photo;
    if (photo) {
      img.src = photo;
      img.alt = t("f.photo.alt");
    } else img.removeAttribute("src");
    C.el("photo-remove").hidden = !photo;
  }

  async function pickPhoto() {
    const file = C.el("photo").files[0];
    delete parkErrors.photo_data_url;
    renderErrors();
    if (!file) return;
    const read = await C.readPhoto(file);
    if (read.error) {
      parkErrors.photo_data_url = read.error;
      C.el("photo").value = "";
      renderErrors();
      return;
    }
    photo = read.dataUrl;
    renderPhoto();
  }

  function utf8Length(text) { return new TextEncoder().encode(text).length; }

  async function createPark(event) {
    event.preventDefault();
    const body = {};
    ["name_ja", "name_en", "description_ja", "description_en", "location_ja"].forEach(function (name) {
      body[name] = C.el(name).value.trim();
    });
    body.photo_data_url = photo;
    parkErrors = {};
    if (!body.name_ja) parkErrors.name_ja = "v.required";
    else if (utf8Length(body.name_ja) > 64) parkErrors.name_ja = "v.park_name_ja";
    if (!body.name_en) parkErrors.name_en = "v.required";
    renderErrors();
    const first = PARK_FIELDS.find(function (name) { return parkErrors[name]; });
    if (first) return C.el(first).focus();
    C.el("park-submit").disabled = true;
    const made = await C.townApi("POST", "parks", { json: body });
    C.el("park-submit").disabled = false;
    if (!made.ok) {
      const named = C.fieldErrors(made);
      Object.keys(named).forEach(function (name) { if (PARK_FIELDS.indexOf(name) >= 0) parkErrors[name] = "v.park." + name; });
      renderErrors();
      const bad = PARK_FIELDS.find(function (name) { return parkErrors[name]; });
      if (bad) return C.el(bad === "photo_data_url" ? "photo" : bad).focus();
      return C.say("park-error", C.errorText(made), "error");
    }
    C.say("park-error", "");
    ["name_ja", "name_en", "description_ja", "description_en", "location_ja", "photo"].forEach(function (name) { C.el(name).value = ""; });
    photo = "";
    renderPhoto();
    fresh = made.body.id;
    await load(0);
    C.el("lot_park").value = String(made.body.id);
    C.say("parks-message", t("parks.created", { name: made.body.name_ja }), "success");
    C.el("parks-message").focus();
  }

  // ----- open a lot -----

  // Sensible defaults: bidding from now for 10 days; the term from the next midnight (Japan
  // time) after the auction for 3 years; ¥1,000 to start; 5 minutes soft close and extension.
  function defaults() {
    const start = Math.ceil(Date.now() / 60000) * 60000 + 5 * 60000;
    const end = start + 10 * DAY;
    const endJst = new Date(end + 9 * 3600 * 1000);
    const termStartUtc = Date.UTC(endJst.getUTCFullYear(), endJst.getUTCMonth(), endJst.getUTCDate() + 1) - 9 * 3600 * 1000;
    const ts = new Date(termStartUtc + 9 * 3600 * 1000);
    const termEndUtc = Date.UTC(ts.getUTCFullYear() + 3, ts.getUTCMonth(), ts.getUTCDate()) - 9 * 3600 * 1000;
    C.el("auction_start").value = C.time.toInput(new Date(start).toISOString());
    C.el("auction_end").value = C.time.toInput(new Date(end).toISOString());
    C.el("term_start").value = C.time.toInput(new Date(termStartUtc).toISOString());
    C.el("term_end").value = C.time.toInput(new Date(termEndUtc).toISOString());
    C.el("reserve_jpy").value = "1000";
    C.el("min_increment_jpy").value = "";
    C.el("soft_close_minutes").value = "5";
    C.el("extension_minutes").value = "5";
  }

  function yenValue(text) {
    const clean = String(text).replace(/[,，\s円¥￥]/g, "");
    return /^\d{1,9}$/.test(clean) ? Number(clean) : NaN;
  }

  function readLot() {
    const minutes = function (id) { return Number(C.el(id).value); };
    const body = {
      auction_start: C.time.fromInput(C.el("auction_start").value),
      auction_end: C.time.fromInput(C.el("auction_end").value),
      term_start: C.time.fromInput(C.el("term_start").value),
      term_end: C.time.fromInput(C.el("term_end").value),
      reserve_jpy: yenValue(C.el("reserve_jpy").value),
      soft_close_seconds: Math.round(minutes("soft_close_minutes") * 60),
      extension_seconds: Math.round(minutes("extension_minutes") * 60),
    };
    const step = C.el("min_increment_jpy").value.trim();
    body.min_increment_jpy = step ? yenValue(step) : null;
    return body;
  }

  function checkLot(body) {
    const found = {};
    const ms = function (iso) { return iso ? Date.parse(iso) : NaN; };
    if (!C.el("lot_park").value) found.lot_park = "v.lot_park";
    ["auction_start", "auction_end", "term_start", "term_end"].forEach(function (name) {
      if (!body[name]) found[name] = "v.required";
    });
    if (!found.auction_end && !found.auction_start && ms(body.auction_end) <= ms(body.auction_start)) found.auction_end = "v.auction_after_start";
    if (!found.auction_end && ms(body.auction_end) <= Date.now()) found.auction_end = "v.auction_future";
    if (!found.term_end && !found.term_start && ms(body.term_end) <= ms(body.term_start)) found.term_end = "v.term_after_start";
    if (!found.term_end && !found.auction_end && ms(body.auction_end) >= ms(body.term_end)) found.term_end = "v.term_after_auction";
    if (!(body.reserve_jpy >= 1)) found.reserve_jpy = "v.reserve";
    if (body.min_increment_jpy !== null && !(body.min_increment_jpy >= 1)) found.min_increment_jpy = "v.increment";
    [["soft_close_seconds", "soft_close_minutes"], ["extension_seconds", "extension_minutes"]].forEach(function (pair) {
      const value = body[pair[0]];
      if (!(value >= 0 && value <= 86400) || C.el(pair[1]).value === "") found[pair[1]] = "v.minutes";
    });
    return found;
  }

  async function openLot(event) {
    event.preventDefault();
    const body = readLot();
    lotErrors = checkLot(body);
    renderErrors();
    const first = LOT_FIELDS.find(function (name) { return lotErrors[name]; });
    if (first) return C.el(first).focus();
    const parkId = C.el("lot_park").value;
    C.el("lot-submit").disabled = true;
    const made = await C.townApi("POST", "parks/" + encodeURIComponent(parkId) + "/lots", { json: body });
    C.el("lot-submit").disabled = false;
    if (!made.ok) {
      const named = C.fieldErrors(made);
      Object.keys(named).forEach(function (name) {
        const field = name === "soft_close_seconds" ? "soft_close_minutes" : name === "extension_seconds" ? "extension_minutes" : name;
        if (LOT_FIELDS.indexOf(field) >= 0) lotErrors[field] = "v.lot." + field;
      });
      renderErrors();
      const bad = LOT_FIELDS.find(function (name) { return lotErrors[name]; });
      if (bad) return C.el(bad).focus();
      return C.say("lot-error", C.errorText(made), "error");
    }
    C.say("lot-error", "");
    fresh = Number(parkId);
    await load(page.offset);
    defaults();
    C.say("parks-message", t("parks.lot.created", { park: made.body.park_name_ja || "" }), "success");
    C.el("parks-message").focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("parks", async function () {
      const editor = C.can(["owner", "editor"]);
      C.el("park-form").hidden = !editor;
      C.el("lot-form").hidden = !editor;
      defaults();
      C.el("park-form").addEventListener("submit", createPark);
      C.el("lot-form").addEventListener("submit", openLot);
      C.el("photo").addEventListener("change", pickPhoto);
      C.el("photo-remove").addEventListener("click", function () { photo = ""; C.el("photo").value = ""; renderPhoto(); C.el("photo").focus(); });
      C.el("park-form").addEventListener("input", function (event) {
        const name = event.target.name;
        if (parkErrors[name]) { delete parkErrors[name]; renderErrors(); }
      });
      C.el("lot-form").addEventListener("input", function (event) {
        const name = event.target.id;
        if (lotErrors[name]) { delete lotErrors[name]; renderErrors(); }
      });
      F.i18n.onChange(function () { render(); renderPhoto(); });
      await load(0);
      const wanted = new URLSearchParams(location.search).get("park");
      if (wanted) C.el("lot_park").value = wanted;
      loadNotices();
    }, ["owner", "editor", "moderator", "analyst"]);
  });
})();
