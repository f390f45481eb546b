// The town's settings (owners): names, description, home prefecture, look (colour, logo) and
// where money goes (treasury, royalty receiver), whether editors may refund, and the
// analytics' own: the public statistics' threshold, the deletion-request days and the premium
// registration rule (which activities count, how many a year). Sends only what changed
// (PATCH); a logo is read in the browser into a data: URL.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const TEXTS = ["name_ja", "name_en", "description_ja", "description_en", "prefecture", "treasury", "royalty_receiver", "brand_colour"];
  // Whole numbers and their ranges (the API's; checked here first to say so next to the field).
  const NUMBERS = { stats_threshold: [3, 100], data_request_days: [1, 90], premium_threshold: [1, 50] };
  // What may count towards premium registration, in the API's order.
  const ACTIVITIES = ["visit_day", "benefit", "event", "volunteer", "work", "telework", "vote", "naming"];
  const FIELDS = TEXTS.concat(["logo_data_url", "editors_may_refund"], Object.keys(NUMBERS), ["premium_activities"]);
  const MAX_LOGO_BYTES = 200 * 1024;
  let saved = null;
  let logo = "";
  let errors = {};

  function fillPrefectures() {
    const select = C.el("prefecture");
    const chosen = select.value || (saved && saved.prefecture) || "";
    const names = F.i18n.current() === "en" ? F.prefectures.en : F.prefectures.ja;
    const options = [];
    for (let code = 1; code <= 47; code++) {
      const value = String(code).padStart(2, "0");
      options.push(C.make("option", { value: value, text: names[code] }));
    }
    select.replaceChildren.apply(select, options);
    select.value = chosen;
  }

  function activityBoxes() {
    const box = C.el("premium-activity-boxes");
    const chosen = box.children.length ? chosenActivities() : null;
    box.replaceChildren.apply(box, ACTIVITIES.map(function (name) {
      return C.make("label", { className: "check", htmlFor: "premium-" + name }, [
        C.make("input", { type: "checkbox", id: "premium-" + name, name: "premium_activity", value: name }),
        " ", C.make("span", { text: t("reg.premium." + name) }),
      ]);
    }));
    if (chosen) setActivities(chosen);
  }

  function chosenActivities() {
    return ACTIVITIES.filter(function (name) { const box = C.el("premium-" + name); return box && box.checked; });
  }

  function setActivities(names) {
    ACTIVITIES.forEach(function (name) { C.el("premium-" + name).checked = names.indexOf(name) >= 0; });
  }

  function fill(settings) {
    // The activities in the API's order, so an unchanged choice compares equal.
    const stored = settings.premium_activities || [];
    settings = Object.assign({}, settings, { premium_activities: ACTIVITIES.filter(function (name) { return stored.indexOf(name) >= 0; }) });
    saved = settings;
    Object.keys(NUMBERS).forEach(function (name) { C.el(name).value = settings[name] === undefined ? "" : String(settings[name]); });
    setActivities(settings.premium_activities);
    TEXTS.forEach(function (name) { C.el(name).value = settings[name] || ""; });
    if (!settings.brand_colour) C.el("brand_colour").value = "#1f6f5c";
    C.el("editors_may_refund").checked = !!settings.editors_may_refund;
    logo = settings.logo_data_url || "";
    renderLogo();
    renderChain();
  }

  // A town with its own contracts: is the treasury stored here also the one on chain?
  function renderChain() {
    const note = C.el("treasury-chain");
    const chain = saved && saved.on_chain;
    note.hidden = !chain;
    if (chain) note.textContent = t(chain.in_sync ? "settings.chain_in_sync" : "settings.chain_pending", { address: chain.treasury });
  }

  function renderLogo() {
    const img = C.el("logo-preview");
    img.hidden = !logo;
    if (logo) {
      img.src = logo;
      img.alt = t("f.logo.alt");
    } else {
      img.removeAttribute("src");
    }
    C.el("logo-remove").hidden = !logo;
  }

  function renderErrors() {
    FIELDS.forEach(function (name) { C.fieldMessage(name, errors[name] ? t(errors[name]) : ""); });
  }

  function read() {
    const body = {};
    TEXTS.forEach(function (name) { body[name] = C.el(name).value.trim(); });
    ["treasury", "royalty_receiver"].forEach(function (name) { if (!body[name]) body[name] = null; });
    body.logo_data_url = logo;
    body.editors_may_refund = C.el("editors_may_refund").checked;
    Object.keys(NUMBERS).forEach(function (name) {
      const text = C.el(name).value.trim();
      body[name] = /^\d+$/.test(text) ? Number(text) : NaN;
    });
    body.premium_activities = chosenActivities();
    return body;
  }

  function check(body) {
    const found = {};
    if (!body.name_ja) found.name_ja = "v.required";
    if (!body.name_en) found.name_en = "v.required";
    ["treasury", "royalty_receiver"].forEach(function (name) {
      if (body[name] && !/^0x[0-9a-fA-F]{40}$/.test(body[name])) found[name] = "v.address";
    });
    Object.keys(NUMBERS).forEach(function (name) {
      const range = NUMBERS[name];
      if (!(Number.isInteger(body[name]) && body[name] >= range[0] && body[name] <= range[1])) found[name] = "v.settings." + name;
    });
    if (!body.premium_activities.length) found.premium_activities = "v.settings.premium_activities";
    return found;
  }

  async function save(event) {
    event.preventDefault();
    const body = read();
    errors = check(body);
    renderErrors();
    const first = FIELDS.find(function (name) { return errors[name]; });
    if (first) return (first === "premium_activities" ? C.el("premium-" + ACTIVITIES[0]) : C.el(first)).focus();
    const patch = {};
    Object.keys(body).forEach(function (name) {
      const before = saved[name] === undefined ? null : saved[name];
      if (JSON.stringify(before) !== JSON.stringify(body[name]) && !(before === null && body[name] === "")) patch[name] = body[name];
    });
    if (!Object.keys(patch).length) return C.say("settings-message", t("settings.nothing"), "");
    C.el("settings-submit").disabled = true;
    const done = await C.townApi("PATCH", "settings", { json: patch });
    C.el("settings-submit").disabled = false;
    if (!done.ok) {
      const named = C.fieldErrors(done);
      Object.keys(named).forEach(function (name) { if (FIELDS.indexOf(name) >= 0) errors[name] = "v.settings." + name; });
      renderErrors();
      const bad = FIELDS.find(function (name) { return errors[name]; });
      if (bad === "premium_activities") return C.el("premium-" + ACTIVITIES[0]).focus();
      if (bad) return C.el(bad === "logo_data_url" ? "logo" : bad).focus();
      return C.say("settings-error", C.errorText(done), "error");
    }
    C.say("settings-error", "");
    fill(done.body && done.body.name_ja !== undefined ? done.body : Object.assign({}, saved, patch));
    C.say("settings-message", t("settings.saved"), "success");
  }

  function pickLogo() {
    const file = C.el("logo").files[0];
    errors.logo_data_url = null;
    if (!file) return;
    if (["image/png", "image/svg+xml"].indexOf(file.type) < 0) errors.logo_data_url = "v.logo_type";
    else if (file.size > MAX_LOGO_BYTES) errors.logo_data_url = "v.logo_size";
    renderErrors();
    if (errors.logo_data_url) { C.el("logo").value = ""; return; }
    const reader = new FileReader();
    reader.onload = function () { logo = String(reader.result); renderLogo(); };
    reader.readAsDataURL(file);
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("settings", async function () {
      fillPrefectures();
      activityBoxes();
      const found = await C.townApi("GET", "settings");
      if (!found.ok) return C.fail(found);
      fill(found.body);
      C.el("settings-form").addEventListener("submit", save);
      C.el("settings-submit").disabled = false;
      C.el("logo").addEventListener("change", pickLogo);
      C.el("logo-remove").addEventListener("click", function () { logo = ""; C.el("logo").value = ""; renderLogo(); C.el("logo").focus(); });
      C.el("settings-form").addEventListener("input", function (event) {
        const name = event.target.name === "premium_activity" ? "premium_activities" : event.target.name;
        if (errors[name]) { errors[name] = null; renderErrors(); }
      });
      F.i18n.onChange(function () { fillPrefectures(); activityBoxes(); renderErrors(); renderLogo(); renderChain(); });
    }, ["owner"]);
  });
})();
