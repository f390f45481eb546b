// Benefits and shops, as a tourism officer does it: register a shop, sign its phone in with a
// one-time link (shown as a QR the phone scans, or copied and sent), make a benefit that is
// used "once a day / week / month / term" (never a count of uses: a benefit that loses value
// with use would be a prepaid instrument), pause it, and see where benefits were used, by shop
// and day, with a CSV for the office's spreadsheet.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const EDITORS = ["owner", "editor"];
  const RECORD_READERS = ["owner", "editor", "analyst"];
  const PERIODS = ["day", "week", "month", "term"];
  const R_LIMIT = 50;
  const SHOP_FIELDS = ["shop_name_ja", "shop_name_en", "shop_place_ja"];
  const BENEFIT_FIELDS = ["title_ja", "title_en", "description_ja", "description_en", "shop_id", "period", "series", "starts_at", "ends_at"];
  // Refusals of this area with their own sentence ("bcerr.<code>"); others go to console.js.
  const CODES = ["shop_not_found", "shop_closed", "shop_archived", "benefit_not_found", "device_not_found",
    "device_revoked", "drop_not_found", "series_not_found", "invalid_term", "term_invalid", "spot_not_found"];

  let shops = [];
  let devices = {};      // shop id → [device]
  let links = {};        // shop id → the link just made {link_url, expires_at, qr_svg}
  let renaming = null;   // shop id whose rename form is open
  let benefits = [];
  let drops = [];
  let records = { items: [], total: 0, offset: 0 };
  let shopErrors = {};
  let benefitErrors = {};
  let fresh = "";

  function errorText(result) {
    const code = C.errorCode(result);
    return CODES.indexOf(code) >= 0 ? t("bcerr." + code) : C.errorText(result);
  }

  function items(body) { return (body && (Array.isArray(body) ? body : body.items)) || []; }

  function local(item, base) {
    const en = F.i18n.current() === "en";
    return (en ? item[base + "_en"] || item[base + "_ja"] : item[base + "_ja"] || item[base + "_en"]) || "";
  }

  function closed(shop) { return !!(shop.archived_at || shop.closed_at || shop.archived || shop.closed); }

  function shopById(id) { return shops.find(function (shop) { return shop.id === Number(id); }); }

  // An SVG the server drew, shown as an image (an <img> runs no script in it).
  function qrImage(svg, alt, className) {
    return C.make("img", { className: className || "qr-large", alt: alt, src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg) });
  }

  // ───────────── shops ─────────────

  // The server's status (link_pending, link_expired, active, revoked), else worked out.
  function deviceStatus(device) {
    let status = device.status;
    if (!status) {
      const expires = C.time.ms(device.link_expires_at || device.expires_at);
      status = device.revoked_at ? "revoked" : device.paired_at ? "active" : !isNaN(expires) && expires < Date.now() ? "link_expired" : "link_pending";
    }
    const looks = { revoked: "revoked", active: "live", link_expired: "expired", link_pending: "pending" };
    return C.make("span", { className: "badge badge-" + (looks[status] || "pending"), text: t("ben.device." + status) });
  }

  function deviceItem(shop, device) {
    const id = device.id !== undefined ? device.id : device.device_id;
    const seen = device.last_seen_at ? t("ben.device.seen", { at: C.time.format(device.last_seen_at) }) : "";
    const li = C.make("li", { className: "device", id: "device-" + id }, [
      C.make("div", {}, [
        C.make("strong", { text: device.label || t("ben.device.unnamed") }), " ", deviceStatus(device),
        seen ? C.make("div", { className: "hint", text: seen }) : null,
      ]),
    ]);
    if (!device.revoked_at && C.can(EDITORS)) {
      const revoke = C.make("button", { type: "button", className: "secondary small", text: t("ben.device.revoke") });
      revoke.addEventListener("click", function () { revokeDevice(shop, device, id, revoke); });
      li.append(revoke);
    }
    return li;
  }

  function linkBox(shop) {
    const made = links[shop.id];
    if (!made) return null;
    const inputId = "link-" + shop.id;
    const copy = C.make("button", { type: "button", className: "secondary small", text: t("ben.link.copy") });
    const copied = C.make("span", { className: "hint", role: "status", "aria-live": "polite" });
    copy.addEventListener("click", async function () {
      const input = C.el(inputId);
      try {
        await navigator.clipboard.writeText(made.link_url);
      } catch (e) {
        input.select();
        try { document.execCommand("copy"); } catch (ignored) { /* the link stays selected to copy by hand */ }
      }
      copied.textContent = t("ben.link.copied");
    });
    return C.make("div", { className: "link-box", id: "link-box-" + shop.id }, [
      C.make("h5", { text: t("ben.link.title") }),
      C.make("p", { text: t(made.qr_svg ? "ben.link.howto_qr" : "ben.link.howto") }),
      made.qr_svg ? qrImage(made.qr_svg, t("ben.link.qr_alt", { shop: local(shop, "name") }), "qr-large device-qr") : null,
      C.make("label", { htmlFor: inputId, text: t("ben.link.label") }),
      C.make("div", { className: "copy-row" }, [
        C.make("input", { id: inputId, type: "text", readOnly: true, value: made.link_url, className: "mono", spellcheck: "false" }),
        copy,
      ]),
      copied,
      C.make("p", { className: "hint", text: t("ben.link.expires", { at: C.time.format(made.expires_at) }) }),
    ]);
  }

  function deviceSection(shop) {
    const list = devices[shop.id] || [];
    const box = C.make("div", { className: "devices" }, [C.make("h4", { text: t("ben.devices") })]);
    const live = list.filter(function (d) { return !d.revoked_at; });
    const gone = list.filter(function (d) { return d.revoked_at; });
    if (!list.length) box.append(C.make("p", { className: "hint", text: t("ben.devices.none") }));
    else box.append(C.make("ul", { className: "device-list" }, live.concat(gone).map(function (d) { return deviceItem(shop, d); })));
    if (C.can(EDITORS)) {
      const inputId = "device-label-" + shop.id;
      const form = C.make("form", { className: "device-form", novalidate: true }, [
        C.make("div", { className: "field" }, [
          C.make("label", { htmlFor: inputId, text: t("f.device_label") }),
          C.make("input", { id: inputId, type: "text", maxLength: 100, placeholder: t("f.device_label.example") }),
        ]),
        C.make("button", { type: "submit", className: "primary", text: t("ben.device.add") }),
      ]);
      form.addEventListener("submit", function (event) { event.preventDefault(); addDevice(shop, form); });
      box.append(form);
    }
    const link = linkBox(shop);
    if (link) box.append(link);
    return box;
  }

  function renameForm(shop) {
    const form = C.make("form", { className: "rename-form", novalidate: true });
    const fields = [["name_ja", "f.shop_name_ja"], ["name_en", "f.shop_name_en"], ["place_ja", "f.shop_place"]];
    fields.forEach(function (pair) {
      const id = "rename-" + shop.id + "-" + pair[0];
      form.append(C.make("div", { className: "field" }, [
        C.make("label", { htmlFor: id, text: t(pair[1]) }),
        C.make("input", { id: id, type: "text", maxLength: pair[0] === "place_ja" ? 300 : 200, value: shop[pair[0]] || "", lang: pair[0] === "name_en" ? "en" : null }),
      ]));
    });
    const cancel = C.make("button", { type: "button", className: "secondary", text: t("common.cancel") });
    cancel.addEventListener("click", function () { renaming = null; renderShops(); });
    form.append(C.make("div", { className: "notice notice-error", id: "rename-error-" + shop.id, role: "alert", tabindex: "-1", hidden: true }));
    form.append(C.make("div", { className: "actions" }, [cancel, C.make("button", { type: "submit", className: "primary", text: t("ben.shop.save") })]));
    form.addEventListener("submit", function (event) { event.preventDefault(); renameShop(shop, form); });
    return form;
  }

  function shopCard(shop) {
    const isClosed = closed(shop);
    const head = C.make("div", { className: "shop-head" }, [
      C.make("h3", { text: local(shop, "name") }),
      isClosed ? C.make("span", { className: "badge badge-paused", text: t("ben.shop.closed") }) : null,
    ]);
    const card = C.make("li", { className: "panel shop-card" + (String(shop.id) === fresh ? " fresh" : ""), id: "shop-" + shop.id }, [head]);
    if (shop.place_ja) card.append(C.make("p", { className: "hint", text: shop.place_ja }));
    if (isClosed) {
      card.append(C.make("p", { className: "hint", text: t("ben.shop.closed_note") }));
      return card;
    }
    if (C.can(EDITORS)) {
      if (renaming === shop.id) card.append(renameForm(shop));
      else {
        const rename = C.make("button", { type: "button", className: "secondary small", text: t("ben.shop.rename") });
        rename.addEventListener("click", function () {
          renaming = shop.id;
          renderShops();
          C.el("rename-" + shop.id + "-name_ja").focus();
        });
        const close = C.make("button", { type: "button", className: "secondary small", text: t("ben.shop.close") });
        close.addEventListener("click", function () { closeShop(shop); });
        card.append(C.make("div", { className: "row-actions" }, [rename, close]));
      }
      card.append(deviceSection(shop));
    }
    return card;
  }

  function renderShops() {
    const open = shops.filter(function (s) { return !closed(s); });
    const done = shops.filter(closed);
    C.el("shops").replaceChildren.apply(C.el("shops"), open.concat(done).map(shopCard));
    C.el("shops-empty").hidden = shops.length !== 0;
    shopOptions();
    benefitFormShown();
  }

  function shopOptions() {
    const select = C.el("shop_id");
    const chosen = select.value;
    const options = [C.make("option", { value: "", text: t("f.benefit_shop.choose") })];
    shops.filter(function (s) { return !closed(s); }).forEach(function (shop) {
      options.push(C.make("option", { value: String(shop.id), text: local(shop, "name") }));
    });
    select.replaceChildren.apply(select, options);
    select.value = chosen;
    const filter = C.el("r_shop");
    const picked = filter.value;
    const all = [C.make("option", { value: "", text: t("ben.r.all_shops") })];
    shops.forEach(function (shop) { all.push(C.make("option", { value: String(shop.id), text: local(shop, "name") })); });
    filter.replaceChildren.apply(filter, all);
    filter.value = picked;
  }

  async function loadShops() {
    const found = await C.townApi("GET", "shops", { query: { limit: 100 } });
    if (!found.ok) return C.fail(found);
    shops = items(found.body);
    if (C.can(EDITORS)) {
      await Promise.all(shops.filter(function (s) { return !closed(s); }).map(loadDevices));
    }
    renderShops();
  }

  async function loadDevices(shop) {
    const found = await C.townApi("GET", "shops/" + shop.id + "/devices", { query: { limit: 100 } });
    devices[shop.id] = found.ok ? items(found.body) : [];
  }

  function renderShopErrors() {
    SHOP_FIELDS.forEach(function (name) { C.fieldMessage(name, shopErrors[name] ? t(shopErrors[name]) : ""); });
  }

  async function createShop(event) {
    event.preventDefault();
    const body = { name_ja: C.el("shop_name_ja").value.trim(), name_en: C.el("shop_name_en").value.trim(), place_ja: C.el("shop_place_ja").value.trim() };
    shopErrors = {};
    if (!body.name_ja) shopErrors.shop_name_ja = "v.required";
    if (!body.name_en) shopErrors.shop_name_en = "v.required";
    renderShopErrors();
    const first = SHOP_FIELDS.find(function (name) { return shopErrors[name]; });
    if (first) return C.el(first).focus();
    C.el("shop-submit").disabled = true;
    const made = await C.townApi("POST", "shops", { json: body });
    C.el("shop-submit").disabled = false;
    if (!made.ok) {
      const named = C.fieldErrors(made);
      ["name_ja", "name_en", "place_ja"].forEach(function (name) { if (named[name]) shopErrors["shop_" + name] = "v.ben.too_long"; });
      renderShopErrors();
      const bad = SHOP_FIELDS.find(function (name) { return shopErrors[name]; });
      if (bad) return C.el(bad).focus();
      return C.say("shop-error", errorText(made), "error");
    }
    C.say("shop-error", "");
    SHOP_FIELDS.forEach(function (name) { C.el(name).value = ""; });
    fresh = String(made.body.id);
    await loadShops();
    C.say("ben-message", t("ben.shop.created", { name: made.body.name_ja || body.name_ja }), "success");
    const label = C.el("device-label-" + made.body.id);
    if (label) label.focus();
  }

  async function renameShop(shop, form) {
    const read = function (name) { return C.el("rename-" + shop.id + "-" + name).value.trim(); };
    const body = { name_ja: read("name_ja"), name_en: read("name_en"), place_ja: read("place_ja") };
    if (!body.name_ja || !body.name_en) return C.say("rename-error-" + shop.id, t("ben.shop.names_needed"), "error");
    form.querySelector("button[type=submit]").disabled = true;
    const saved = await C.townApi("PATCH", "shops/" + shop.id, { json: body });
    form.querySelector("button[type=submit]").disabled = false;
    if (!saved.ok) return C.say("rename-error-" + shop.id, errorText(saved), "error");
    renaming = null;
    fresh = String(shop.id);
    await loadShops();
    C.say("ben-message", t("ben.shop.renamed", { name: body.name_ja }), "success");
  }

  async function closeShop(shop) {
    const yes = await C.confirm(t("ben.shop.close.title", { name: local(shop, "name") }), t("ben.shop.close.body"), t("ben.shop.close.yes"));
    if (!yes) return;
    const saved = await C.townApi("PATCH", "shops/" + shop.id, { json: { archived: true } });
    if (!saved.ok) return C.say("ben-message", errorText(saved), "error");
    delete links[shop.id];
    await Promise.all([loadShops(), loadBenefits()]);
    C.say("ben-message", t("ben.shop.closed_done", { name: local(shop, "name") }), "success");
  }

  async function addDevice(shop, form) {
    const label = form.querySelector("input").value.trim() || t("f.device_label.default");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const made = await C.townApi("POST", "shops/" + shop.id + "/devices", { json: { label: label } });
    button.disabled = false;
    if (!made.ok) return C.say("ben-message", errorText(made), "error");
    links[shop.id] = made.body;
    await loadDevices(shop);
    renderShops();
    C.say("ben-message", t("ben.device.created", { shop: local(shop, "name") }), "success");
    const box = C.el("link-box-" + shop.id);
    if (box) box.scrollIntoView({ block: "nearest" });
  }

  async function revokeDevice(shop, device, id, button) {
    const yes = await C.confirm(t("ben.device.revoke.title", { label: device.label || t("ben.device.unnamed") }),
      t("ben.device.revoke.body", { shop: local(shop, "name") }), t("ben.device.revoke.yes"));
    if (!yes) return button.focus();
    const gone = await C.api("DELETE", C.townPath("devices/" + id));
    if (!gone.ok && gone.status !== 204) return C.say("ben-message", errorText(gone), "error");
    if (links[shop.id] && links[shop.id].device_id === id) delete links[shop.id];
    await loadDevices(shop);
    renderShops();
    C.say("ben-message", t("ben.device.revoked_done", { label: device.label || t("ben.device.unnamed") }), "success");
  }

  // ───────────── benefits ─────────────

  function periodText(period) { return PERIODS.indexOf(period) >= 0 ? t("period." + period) : period; }

  function seriesText(benefit) {
    const chosen = benefit.series || benefit.drop_ids || [];
    if (!chosen.length) return t("ben.series.all");
    return chosen.map(function (entry) {
      const id = typeof entry === "object" ? entry.drop_id : entry;
      const drop = drops.find(function (d) { return d.id === id; });
      if (typeof entry === "object" && (entry.title_ja || entry.title_en)) return local(entry, "title");
      return drop ? C.dropTitle(drop) : "#" + id;
    }).join("、");
  }

  function termText(benefit) {
    if (!benefit.starts_at && !benefit.ends_at) return t("ben.term.always");
    return t("ben.term.range", {
      from: benefit.starts_at ? C.time.format(benefit.starts_at) : t("ben.term.now"),
      to: benefit.ends_at ? C.time.format(benefit.ends_at) : t("ben.term.open"),
    });
  }

  function benefitCard(benefit) {
    const shop = shopById(benefit.shop_id) || benefit.shop || null;
    const shopName = shop ? local(shop, "name") : "";
    const badge = benefit.active
      ? C.make("span", { className: "badge badge-live", text: t("ben.benefit.active") })
      : C.make("span", { className: "badge badge-paused", text: t("ben.benefit.paused") });
    const card = C.make("li", { className: "panel benefit-card" + ("b" + benefit.id === fresh ? " fresh" : ""), id: "benefit-" + benefit.id }, [
      C.make("div", { className: "shop-head" }, [C.make("h3", { text: local(benefit, "title") }), badge]),
      C.make("dl", { className: "kv" }, [
        C.make("dt", { text: t("ben.benefit.where") }), C.make("dd", { text: shopName || "—" }),
        C.make("dt", { text: t("ben.benefit.how_often") }), C.make("dd", { className: "period-words", text: periodText(benefit.period) }),
        C.make("dt", { text: t("ben.benefit.for") }), C.make("dd", { text: seriesText(benefit) }),
        C.make("dt", { text: t("ben.benefit.term") }), C.make("dd", { text: termText(benefit) }),
      ]),
    ]);
    const description = local(benefit, "description");
    if (description) card.append(C.make("p", { className: "pre", text: description }));
    if (C.can(EDITORS)) {
      const toggle = C.make("button", { type: "button", className: "secondary small", text: t(benefit.active ? "ben.benefit.pause" : "ben.benefit.resume") });
      toggle.addEventListener("click", function () { toggleBenefit(benefit, toggle); });
      card.append(C.make("div", { className: "row-actions" }, [toggle]));
    }
    return card;
  }

  function renderBenefits() {
    C.el("benefits").replaceChildren.apply(C.el("benefits"), benefits.map(benefitCard));
    C.el("benefits-empty").hidden = benefits.length !== 0;
    benefitFormShown();
  }

  // A benefit needs an open shop: the form shows once there is one.
  function benefitFormShown() {
    C.el("benefit-form").hidden = !C.can(EDITORS) || !shops.some(function (s) { return !closed(s); });
  }

  async function loadBenefits() {
    const found = await C.townApi("GET", "benefits", { query: { limit: 100 } });
    if (!found.ok) return C.fail(found);
    benefits = items(found.body);
    renderBenefits();
  }

  async function loadDrops() {
    const found = await C.townApi("GET", "drops", { query: { limit: 100 } });
    drops = found.ok ? items(found.body) : [];
    renderSeries();
  }

  function renderSeries() {
    const box = C.el("series-drops");
    const checked = {};
    box.querySelectorAll("input:checked").forEach(function (input) { checked[input.value] = true; });
    box.replaceChildren.apply(box, drops.map(function (drop) {
      return C.make("label", { className: "choice" }, [
        C.make("input", { type: "checkbox", name: "series_drop", value: String(drop.id), checked: !!checked[String(drop.id)] }),
        " ", C.make("span", { text: C.dropTitle(drop) }),
      ]);
    }));
    if (!drops.length) box.append(C.make("p", { className: "hint", text: t("ben.series.no_drops") }));
    box.hidden = !C.el("series_some").checked;
  }

  function renderBenefitErrors() {
    BENEFIT_FIELDS.forEach(function (name) { C.fieldMessage(name, benefitErrors[name] ? t(benefitErrors[name]) : ""); });
  }

  function readBenefit() {
    const period = document.querySelector("input[name=period]:checked");
    const body = {
      title_ja: C.el("title_ja").value.trim(),
      title_en: C.el("title_en").value.trim(),
      description_ja: C.el("description_ja").value.trim(),
      description_en: C.el("description_en").value.trim(),
      shop_id: Number(C.el("shop_id").value) || null,
      period: period ? period.value : "",
      series: [],
      starts_at: C.time.fromInput(C.el("starts_at").value),
      ends_at: C.time.fromInput(C.el("ends_at").value),
    };
    if (C.el("series_some").checked) {
      document.querySelectorAll("#series-drops input:checked").forEach(function (input) { body.series.push(Number(input.value)); });
    }
    return body;
  }

  function checkBenefit(body) {
    const found = {};
    if (!body.title_ja) found.title_ja = "v.required";
    if (!body.title_en) found.title_en = "v.required";
    if (!body.shop_id) found.shop_id = "v.ben.shop";
    if (PERIODS.indexOf(body.period) < 0) found.period = "v.ben.period";
    if (C.el("series_some").checked && !body.series.length) found.series = "v.ben.series";
    if (body.starts_at && body.ends_at && Date.parse(body.ends_at) <= Date.parse(body.starts_at)) found.ends_at = "v.ben.ends_after";
    return found;
  }

  async function createBenefit(event) {
    event.preventDefault();
    const body = readBenefit();
    benefitErrors = checkBenefit(body);
    renderBenefitErrors();
    const first = BENEFIT_FIELDS.find(function (name) { return benefitErrors[name]; });
    if (first) return focusField(first);
    if (!body.starts_at) delete body.starts_at;
    if (!body.ends_at) delete body.ends_at;
    C.el("benefit-submit").disabled = true;
    const made = await C.townApi("POST", "benefits", { json: body });
    C.el("benefit-submit").disabled = false;
    if (!made.ok) {
      const named = C.fieldErrors(made);
      Object.keys(named).forEach(function (name) { if (BENEFIT_FIELDS.indexOf(name) >= 0) benefitErrors[name] = "v.ben.field"; });
      const code = C.errorCode(made);
      if (code === "shop_not_found" || code === "shop_closed" || code === "shop_archived") benefitErrors.shop_id = "bcerr." + code;
      if (code === "drop_not_found" || code === "series_not_found") benefitErrors.series = "bcerr." + code;
      if (code === "invalid_term" || code === "term_invalid") benefitErrors.ends_at = "v.ben.ends_after";
      renderBenefitErrors();
      const bad = BENEFIT_FIELDS.find(function (name) { return benefitErrors[name]; });
      if (bad) return focusField(bad);
      return C.say("benefit-error", errorText(made), "error");
    }
    C.say("benefit-error", "");
    ["title_ja", "title_en", "description_ja", "description_en", "starts_at", "ends_at"].forEach(function (name) { C.el(name).value = ""; });
    fresh = "b" + made.body.id;
    await loadBenefits();
    C.say("ben-message", t("ben.benefit.created", { title: made.body.title_ja || body.title_ja, period: periodText(body.period) }), "success");
    C.el("ben-message").focus();
  }

  function focusField(name) {
    if (name === "period") return document.querySelector("input[name=period]").focus();
    if (name === "series") return C.el("series_some").focus();
    C.el(name).focus();
  }

  async function toggleBenefit(benefit, button) {
    const pausing = !!benefit.active;
    if (pausing) {
      const yes = await C.confirm(t("ben.benefit.pause.title", { title: local(benefit, "title") }), t("ben.benefit.pause.body"), t("ben.benefit.pause"));
      if (!yes) return button.focus();
    }
    button.disabled = true;
    const saved = await C.townApi("PATCH", "benefits/" + benefit.id, { json: { active: !pausing } });
    button.disabled = false;
    if (!saved.ok) return C.say("ben-message", errorText(saved), "error");
    fresh = "b" + benefit.id;
    await loadBenefits();
    C.say("ben-message", t(pausing ? "ben.benefit.paused_done" : "ben.benefit.resumed_done", { title: local(benefit, "title") }), "success");
  }

  // ───────────── redemptions ─────────────

  function recordFilters() {
    const found = {};
    if (C.el("r_shop").value) found.shop_id = C.el("r_shop").value;
    if (C.el("r_day").value) found.day = C.el("r_day").value;
    return found;
  }

  function csvLinks() {
    const sent = recordFilters();
    const stamp = sent.day || C.time.today();
    C.el("r-csv-utf8").href = C.townPath("redemptions.csv") + C.query(Object.assign({}, sent, { encoding: "utf-8" }));
    C.el("r-csv-sjis").href = C.townPath("redemptions.csv") + C.query(Object.assign({}, sent, { encoding: "shift_jis" }));
    C.el("r-csv-utf8").setAttribute("download", "redemptions-" + stamp + ".csv");
    C.el("r-csv-sjis").setAttribute("download", "redemptions-" + stamp + "-sjis.csv");
  }

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function recordCard(item) {
    const parts = [];
    if (item.series_title_ja || item.series_title_en) parts.push(local(item, "series_title"));
    else if (item.series && typeof item.series === "object") parts.push(local(item.series, "title"));
    if (item.number !== undefined && item.number !== null) parts.push(t("ben.r.number", { number: item.number }));
    else if (item.token_id !== undefined) parts.push(t("ben.r.number", { number: item.token_id }));
    return parts.join(" ") || "—";
  }

  function recordBy(item) {
    if (item.device_label) return t("ben.r.by_device", { label: item.device_label });
    if (item.device && item.device.label) return t("ben.r.by_device", { label: item.device.label });
    if (item.staff_email) return item.staff_email;
    const device = /^device:\d+ (.*)$/.exec(item.by || "");
    if (device) return t("ben.r.by_device", { label: device[1] });
    if (item.by) return String(item.by);
    return "—";
  }

  function recordNames(item) {
    const benefit = benefits.find(function (b) { return b.id === item.benefit_id; });
    const shop = shopById(item.shop_id) || (item.shop && typeof item.shop === "object" ? item.shop : null);
    return {
      benefit: item.benefit_title_ja || item.benefit_title_en ? local(item, "benefit_title") : benefit ? local(benefit, "title") : "#" + item.benefit_id,
      shop: item.shop_name_ja || item.shop_name_en ? local(item, "shop_name") : shop ? local(shop, "name") : typeof item.shop === "string" ? item.shop : "—",
    };
  }

  function renderRecords() {
    const rows = records.items.map(function (item) {
      const names = recordNames(item);
      return C.make("tr", {}, [
        cell(t("col.r_at"), [C.time.format(item.redeemed_at)]),
        cell(t("col.r_benefit"), [names.benefit]),
        cell(t("col.r_shop"), [names.shop]),
        cell(t("col.r_card"), [recordCard(item)]),
        cell(t("col.r_by"), [recordBy(item)]),
      ]);
    });
    C.el("redemptions-rows").replaceChildren.apply(C.el("redemptions-rows"), rows);
    C.el("redemptions-table").hidden = records.items.length === 0;
    C.el("redemptions-empty").hidden = records.items.length !== 0;
    C.el("redemptions-summary").textContent = t("ben.r.total", { total: C.count(records.total) });
    const nav = C.el("redemptions-pager");
    nav.hidden = records.total <= R_LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: records.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: records.offset + R_LIMIT >= records.total });
    prev.addEventListener("click", function () { loadRecords(Math.max(0, records.offset - R_LIMIT)); });
    next.addEventListener("click", function () { loadRecords(records.offset + R_LIMIT); });
    nav.replaceChildren(prev, next);
  }

  async function loadRecords(offset) {
    csvLinks();
    const found = await C.townApi("GET", "redemptions", { query: Object.assign({ limit: R_LIMIT, offset: offset }, recordFilters()) });
    if (!found.ok) return C.say("page-error", errorText(found), "error");
    const list = items(found.body);
    records = { items: list, total: found.body && found.body.total !== undefined ? found.body.total : list.length, offset: offset };
    renderRecords();
  }

  function renderAll() {
    renderShops();
    renderSeries();
    renderBenefits();
    if (C.can(RECORD_READERS)) renderRecords();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("benefits", async function () {
      const editor = C.can(EDITORS);
      C.el("shop-form").hidden = !editor;
      C.el("redemptions-section").hidden = !C.can(RECORD_READERS);
      C.el("r_day").value = C.time.today();
      C.el("shop-form").addEventListener("submit", createShop);
      C.el("benefit-form").addEventListener("submit", createBenefit);
      C.el("redemptions-filter").addEventListener("submit", function (event) { event.preventDefault(); loadRecords(0); });
      ["series_all", "series_some"].forEach(function (id) {
        C.el(id).addEventListener("change", function () {
          C.el("series-drops").hidden = !C.el("series_some").checked;
          if (benefitErrors.series) { delete benefitErrors.series; renderBenefitErrors(); }
        });
      });
      C.el("shop-form").addEventListener("input", function (event) {
        if (shopErrors[event.target.id]) { delete shopErrors[event.target.id]; renderShopErrors(); }
      });
      C.el("benefit-form").addEventListener("input", function (event) {
        const name = event.target.name === "series_drop" ? "series" : event.target.name;
        if (benefitErrors[name]) { delete benefitErrors[name]; renderBenefitErrors(); }
      });
      F.i18n.onChange(renderAll);
      await Promise.all([loadShops(), loadDrops()]);
      await loadBenefits();
      if (C.can(RECORD_READERS)) loadRecords(0);
    }, ["owner", "editor", "analyst", "moderator"]);
  });
})();
