// The drop wizard: four steps (texts; price, supply and sale mode; window and payment; review),
// a live preview of the buyer's page in either language, save as draft (POST, then PATCH of
// what changed) and publish (POST …/publish: 202 while the series is added on chain, then the
// drop is re-read until it is live or the publish failed). Opened with ?id=N it edits that
// drop; a published drop keeps its sale terms once a card is sold (the server says so too).
// A published lottery drop also shows its lottery (GET …/drops/{id}/lottery): state, what it
// waits for, applications by day and prefecture, where the places stand, the public record and
// its promotions; re-read every 30 seconds.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const STEPS = [
    ["title_ja", "description_ja", "title_en", "description_en"],
    ["price_jpy", "supply", "per_buyer_limit", "sale_mode", "applications_close_at", "draw_at", "pay_within_hours"],
    ["starts_at", "ends_at", "payment_methods", "soulbound"],
    [],
  ];
  const ALL_FIELDS = [].concat.apply([], STEPS);
  const TIMES = ["starts_at", "ends_at", "applications_close_at", "draw_at"];
  const NUMBERS = ["price_jpy", "supply", "per_buyer_limit", "pay_within_hours"];
  // Server messages of rules between fields (422 at the body) → the field they belong to.
  const RULES = [
    [/ends_at must be after starts_at/, "ends_at", "v.ends_after_start"],
    [/per_buyer_limit cannot exceed supply/, "per_buyer_limit", "v.limit_over_supply"],
    [/cannot be paid by card/, "payment_methods", "v.free_card"],
    [/lottery drop needs/, "applications_close_at", "v.lottery_required"],
    [/applications_close_at must be after starts_at/, "applications_close_at", "v.close_after_start"],
    [/draw_at cannot be before/, "draw_at", "v.draw_after_close"],
    [/ends_at cannot be before the winners/, "ends_at", "v.ends_after_pay"],
  ];
  let step = 0;
  let visited = 0;
  let drop = null; // the drop as last read from the server
  let errors = {}; // field → string key
  let previewLang = "ja";
  let busy = false;
  let poll = null;

  function el(id) { return C.el(id); }

  function read() {
    const body = { kind: "resident_card" };
    ["title_ja", "title_en", "description_ja", "description_en"].forEach(function (name) { body[name] = el(name).value.trim(); });
    NUMBERS.forEach(function (name) {
      const raw = el(name).value.trim();
      body[name] = raw === "" ? null : Number(raw);
    });
    TIMES.forEach(function (name) { body[name] = C.time.fromInput(el(name).value); });
    const mode = document.querySelector("input[name=sale_mode]:checked");
    body.sale_mode = mode ? mode.value : "first_come";
    body.payment_methods = Array.from(document.querySelectorAll("input[name=payment_methods]:checked")).map(function (box) { return box.value; });
    body.soulbound = el("soulbound").checked;
    if (body.sale_mode !== "lottery") {
      body.applications_close_at = null;
      body.draw_at = null;
      body.pay_within_hours = null;
    }
    return body;
  }

  function fill(source) {
    ["title_ja", "title_en", "description_ja", "description_en"].forEach(function (name) { el(name).value = source[name] || ""; });
    NUMBERS.forEach(function (name) { el(name).value = source[name] === null || source[name] === undefined ? "" : String(source[name]); });
    TIMES.forEach(function (name) { el(name).value = C.time.toInput(source[name]); });
    document.querySelectorAll("input[name=sale_mode]").forEach(function (radio) { radio.checked = radio.value === (source.sale_mode || "first_come"); });
    document.querySelectorAll("input[name=payment_methods]").forEach(function (box) { box.checked = (source.payment_methods || []).indexOf(box.value) >= 0; });
    el("soulbound").checked = !!source.soulbound;
  }

  function defaults() {
    // Starts now (rounded down to the minute), so a drop published today is on sale at once.
    const now = new Date(Math.floor(Date.now() / 60000) * 60000).toISOString();
    return {
      title_ja: "", title_en: "", description_ja: "", description_en: "",
      price_jpy: 1000, supply: 1000, per_buyer_limit: 5, sale_mode: "first_come",
      starts_at: now, ends_at: null, payment_methods: ["card"], soulbound: false,
    };
  }

  // ----- checks the page can make (the server checks again and names what it refuses) -----
  function check(body, fields) {
    const found = {};
    function need(name, ok, key) { if (fields.indexOf(name) >= 0 && !found[name] && !ok) found[name] = key; }
    const int = function (v) { return v !== null && Number.isInteger(v); };
    need("title_ja", body.title_ja.length > 0, "v.required");
    need("title_en", body.title_en.length > 0, "v.title_en");
    need("price_jpy", int(body.price_jpy) && body.price_jpy >= 0 && body.price_jpy <= 10000000, "v.price");
    need("supply", int(body.supply) && body.supply >= 1 && body.supply <= 1000000, "v.supply");
    need("per_buyer_limit", int(body.per_buyer_limit) && body.per_buyer_limit >= 1 && body.per_buyer_limit <= 100, "v.per_buyer");
    need("per_buyer_limit", !int(body.supply) || !int(body.per_buyer_limit) || body.per_buyer_limit <= body.supply, "v.limit_over_supply");
    if (body.sale_mode === "lottery") {
      need("applications_close_at", !!body.applications_close_at, "v.required");
      need("draw_at", !!body.draw_at, "v.required");
      need("pay_within_hours", int(body.pay_within_hours) && body.pay_within_hours >= 1 && body.pay_within_hours <= 720, "v.pay_within");
      if (body.applications_close_at && body.starts_at) {
        need("applications_close_at", Date.parse(body.applications_close_at) > Date.parse(body.starts_at), "v.close_after_start");
      }
      if (body.applications_close_at && body.draw_at) {
        need("draw_at", Date.parse(body.draw_at) >= Date.parse(body.applications_close_at), "v.draw_after_close");
      }
    }
    need("starts_at", !!body.starts_at, "v.required");
    need("ends_at", !body.ends_at || !body.starts_at || Date.parse(body.ends_at) > Date.parse(body.starts_at), "v.ends_after_start");
    if (body.sale_mode === "lottery" && body.ends_at && body.draw_at && int(body.pay_within_hours)) {
      need("ends_at", Date.parse(body.ends_at) >= Date.parse(body.draw_at) + body.pay_within_hours * 3600000, "v.ends_after_pay");
    }
    need("payment_methods", body.payment_methods.length > 0, "v.payment_methods");
    need("payment_methods", !(body.price_jpy === 0 && body.payment_methods.indexOf("card") >= 0), "v.free_card");
    return found;
  }

  function renderErrors() {
    ALL_FIELDS.forEach(function (name) { C.fieldMessage(name, errors[name] ? t(errors[name]) : ""); });
  }

  function stepOf(name) { return STEPS.findIndex(function (fields) { return fields.indexOf(name) >= 0; }); }

  function showErrors(found, general) {
    errors = found;
    renderErrors();
    const names = Object.keys(found);
    C.say("wizard-error", general || (names.length ? t("cerr.fields") : ""), "error");
    if (!names.length) return;
    const first = names.sort(function (a, b) { return ALL_FIELDS.indexOf(a) - ALL_FIELDS.indexOf(b); })[0];
    go(stepOf(first), true);
    const input = el(first);
    const target = input && input.tagName === "FIELDSET" ? input.querySelector("input") : input;
    if (target) target.focus();
  }

  // ----- steps -----
  function go(index, keepErrors) {
    step = Math.max(0, Math.min(STEPS.length - 1, index));
    visited = Math.max(visited, step);
    document.querySelectorAll("fieldset.step").forEach(function (set) { set.hidden = Number(set.dataset.step) !== step; });
    document.querySelectorAll("#stepper button").forEach(function (button) {
      const n = Number(button.dataset.step);
      if (n === step) button.setAttribute("aria-current", "step");
      else button.removeAttribute("aria-current");
      button.classList.toggle("done", n < step);
      button.disabled = n > visited;
    });
    el("prev").hidden = step === 0;
    el("next").hidden = step === STEPS.length - 1;
    el("save").hidden = step !== STEPS.length - 1 || (drop && drop.status === "publishing");
    el("publish").hidden = step !== STEPS.length - 1 || !!(drop && drop.status !== "draft");
    el("save").textContent = drop && drop.status !== "draft" ? t("wizard.save_changes") : t("wizard.save");
    if (!keepErrors) C.say("wizard-error", "");
    if (step === STEPS.length - 1) renderReview();
  }

  function next() {
    const found = check(read(), STEPS[step]);
    if (Object.keys(found).length) return showErrors(found);
    errors = {};
    renderErrors();
    go(step + 1);
    const legend = document.querySelector("fieldset.step[data-step='" + step + "'] legend");
    if (legend) { legend.tabIndex = -1; legend.focus(); }
  }

  // ----- preview of the buyer's page -----
  function previewText(key, vars) {
    const text = (F.consolePreview[previewLang] || F.consolePreview.ja)[key] || key;
    return text.replace(/\{(\w+)\}/g, function (whole, name) { return vars && vars[name] !== undefined ? String(vars[name]) : whole; });
  }

  function renderPreview() {
    const body = read();
    const en = previewLang === "en";
    const title = en ? body.title_en : body.title_ja;
    const description = en ? body.description_en : body.description_ja;
    el("pv-title").textContent = title || previewText("untitled");
    el("pv-title").classList.toggle("muted", !title);
    el("pv-description").textContent = description;
    const sold = drop ? drop.sold : 0;
    const supply = body.supply || 0;
    const starts = body.starts_at ? Date.parse(body.starts_at) : NaN;
    const ended = body.ends_at && Date.parse(body.ends_at) <= Date.now();
    const status = ended ? "ended" : supply && sold >= supply ? "sold_out" : !isNaN(starts) && starts > Date.now() ? "upcoming" : "on_sale";
    el("pv-status").className = "badge badge-" + status;
    el("pv-status").textContent = previewText("status." + status);
    el("pv-price-label").textContent = previewText("price");
    el("pv-stock-label").textContent = previewText("stock");
    el("pv-limit-label").textContent = previewText("limit");
    el("pv-price").textContent = body.price_jpy === null ? "—" : C.yen(body.price_jpy);
    el("pv-stock").textContent = previewText("stock.value", { remaining: C.count(Math.max(0, supply - sold)), supply: C.count(supply) });
    el("pv-limit").textContent = body.per_buyer_limit ? previewText("limit.value", { limit: body.per_buyer_limit }) : "—";
    const lottery = body.sale_mode === "lottery";
    const until = lottery
      ? (body.applications_close_at ? C.time.format(body.applications_close_at) : "—")
      : (body.ends_at ? C.time.format(body.ends_at) : previewText("until_sold_out"));
    const window_ = (body.starts_at ? C.time.format(body.starts_at) : "—") + " 〜 " + until;
    el("pv-window").textContent = previewText(lottery ? "window.lottery" : "window", { window: window_ });
    if (lottery) {
      // The buyer's page of a lottery drop: its badge says lottery, and it shows the cards, not what is left.
      el("pv-status").className = "badge badge-lottery";
      el("pv-status").textContent = previewText("status.lottery");
      el("pv-stock-label").textContent = previewText("supply");
      el("pv-stock").textContent = previewText("supply.value", { supply: C.count(supply) });
    }
    el("pv-pay").textContent = previewText("pay", {
      methods: body.payment_methods.map(function (m) { return previewText("pay." + m); }).join(" / ") || "—",
    }) + (body.soulbound ? " " + previewText("soulbound") : "");
    el("pv-buy").textContent = previewText(body.sale_mode === "lottery" ? "apply" : "buy");
    el("preview").lang = previewLang;
    el("preview-ja").setAttribute("aria-pressed", String(!en));
    el("preview-en").setAttribute("aria-pressed", String(en));
  }

  function renderReview() {
    const body = read();
    const rows = [
      ["f.title_ja", body.title_ja], ["f.title_en", body.title_en],
      ["f.price_jpy", C.yen(body.price_jpy)], ["f.supply", C.count(body.supply)],
      ["f.per_buyer_limit", C.count(body.per_buyer_limit)],
      ["f.sale_mode", t("f.sale_mode." + body.sale_mode)],
    ];
    if (body.sale_mode === "lottery") {
      rows.push(["f.applications_close_at", C.time.format(body.applications_close_at)], ["f.draw_at", C.time.format(body.draw_at)],
        ["f.pay_within_hours", t("wizard.hours", { hours: body.pay_within_hours })]);
    }
    rows.push(
      ["f.starts_at", C.time.format(body.starts_at)],
      ["f.ends_at.short", body.ends_at ? C.time.format(body.ends_at) : t("drops.until_sold_out")],
      ["f.payment_methods.short", body.payment_methods.map(function (m) { return t("pay." + m + (m === "card" ? "" : ".staff")); }).join("、")],
      ["f.soulbound.short", body.soulbound ? t("common.on") : t("common.off")],
    );
    const nodes = [];
    rows.forEach(function (row) { nodes.push(C.make("dt", { text: t(row[0]) }), C.make("dd", { text: row[1] || "—" })); });
    el("review").replaceChildren.apply(el("review"), nodes);
  }

  // ----- locking what a published drop can no longer change -----
  function applyLocks() {
    const published = drop && drop.status !== "draft";
    const soldSome = published && drop.sold > 0;
    // Fixed in the series on chain once published (the server's LOCKED_ON_CHAIN).
    const lockAlways = ["sale_mode", "soulbound"];
    const lockWhenSold = ["price_jpy", "supply", "per_buyer_limit", "starts_at", "ends_at"];
    ALL_FIELDS.forEach(function (name) {
      const locked = (published && lockAlways.indexOf(name) >= 0) || (soldSome && lockWhenSold.indexOf(name) >= 0);
      const field = el(name);
      if (!field) return;
      if (field.tagName === "FIELDSET") field.querySelectorAll("input").forEach(function (input) { input.disabled = locked; });
      else field.disabled = locked;
    });
    document.querySelectorAll("input[name=sale_mode]").forEach(function (input) { input.disabled = !!published; });
    el("locked-hint").hidden = !soldSome;
    if (published) el("wizard-intro").textContent = t(soldSome ? "wizard.intro.sold" : "wizard.intro.published");
  }

  function changes(body) {
    if (!drop) return body;
    const changed = {};
    Object.keys(body).forEach(function (name) {
      if (name === "kind") return;
      const before = drop[name];
      const after = body[name];
      const same = TIMES.indexOf(name) >= 0
        ? (before ? C.time.ms(before) : null) === (after ? C.time.ms(after) : null)
        : JSON.stringify(before === undefined ? null : before) === JSON.stringify(after);
      if (!same) changed[name] = after;
    });
    // Only what the drop's state still lets change: the server refuses the rest anyway.
    const locked = Array.from(document.querySelectorAll("#wizard input:disabled, #wizard textarea:disabled")).map(function (input) { return input.name; });
    locked.forEach(function (name) { delete changed[name]; });
    return changed;
  }

  // A 422: FastAPI's `detail` list naming fields, or (an edit checked against the whole drop)
  // an error body whose message names the rule broken.
  function serverErrors(result) {
    if (result.status !== 422) return null;
    const found = {};
    const named = C.fieldErrors(result);
    Object.keys(named).forEach(function (name) { if (ALL_FIELDS.indexOf(name) >= 0) found[name] = "v." + name; });
    const detail = (result.body && Array.isArray(result.body.detail)) ? result.body.detail : [];
    const messages = detail.map(function (problem) { return String(problem.msg || ""); });
    if (result.body && result.body.error && result.body.error.message) messages.push(String(result.body.error.message));
    messages.forEach(function (message) {
      RULES.forEach(function (rule) { if (rule[0].test(message)) found[rule[1]] = rule[2]; });
      ALL_FIELDS.forEach(function (name) {
        if (!found[name] && new RegExp("(^|[ ;])" + name + ":").test(message)) found[name] = "v." + name;
      });
    });
    return found;
  }

  // Saves the form: create, or patch what changed. Answers true when the drop is stored.
  async function save() {
    const body = read();
    const found = check(body, ALL_FIELDS.filter(function (name) {
      const field = el(name);
      return !(field && field.disabled);
    }));
    if (Object.keys(found).length) { showErrors(found); return false; }
    let result;
    if (!drop) {
      const create = Object.assign({}, body);
      if (create.sale_mode !== "lottery") { delete create.applications_close_at; delete create.draw_at; delete create.pay_within_hours; }
      result = await C.townApi("POST", "drops", { json: create });
    } else {
      const patch = changes(body);
      if (!Object.keys(patch).length) return true;
      result = await C.townApi("PATCH", "drops/" + drop.id, { json: patch });
    }
    if (!result.ok) {
      const fields = serverErrors(result);
      if (fields && Object.keys(fields).length) showErrors(fields);
      else C.say("wizard-error", C.errorText(result), "error");
      return false;
    }
    const first = !drop;
    loaded(result.body);
    if (first) history.replaceState(null, "", C.page("drop", { id: drop.id }));
    return true;
  }

  // ----- a published lottery drop's lottery -----
  let lotteryView = null;
  let lotteryTimer = null;
  let lotteryShownFor = "";
  const LOTTERY_REFRESH_MS = 30000;

  function hasLottery() { return !!drop && drop.sale_mode === "lottery" && drop.status !== "draft"; }

  // The server's "日本語。 (English.)" sentence, in the console's language.
  function oneLanguage(text) {
    const split = /^(.*?)\s*\((.*)\)\s*$/.exec(String(text || ""));
    if (!split) return String(text || "");
    return F.i18n.current() === "en" ? split[2] : split[1];
  }

  async function loadLottery() {
    clearTimeout(lotteryTimer);
    el("lottery-panel").hidden = !hasLottery();
    if (!hasLottery()) return;
    el("lottery-verify").href = "/lottery.html?drop=" + encodeURIComponent(drop.id);
    const found = await C.townApi("GET", "drops/" + drop.id + "/lottery");
    if (found.ok) {
      lotteryView = found.body;
      C.say("lottery-message", "");
    } else if (found.status === 404) {
      lotteryView = null;
      C.say("lottery-message", t("lot.not_yet"));
    } else {
      C.say("lottery-message", C.errorText(found), "error");
    }
    renderLottery();
    lotteryTimer = setTimeout(loadLottery, LOTTERY_REFRESH_MS);
  }

  function table(captionKey, headKeys, rows) {
    const head = C.make("tr", {}, headKeys.map(function (key, i) {
      return C.make("th", { scope: "col", className: i > 0 ? "num" : "", text: t(key) });
    }));
    const body = rows.map(function (cells) {
      return C.make("tr", {}, cells.map(function (cell, i) {
        const td = C.make("td", { className: i > 0 ? "num" : "", "data-label": t(headKeys[i]) });
        td.append.apply(td, Array.isArray(cell) ? cell : [cell]);
        return td;
      }));
    });
    return C.make("table", { className: "list" }, [
      C.make("caption", { text: t(captionKey) }), C.make("thead", {}, [head]), C.make("tbody", {}, body),
    ]);
  }

  function figure(labelKey, value) {
    return C.make("div", {}, [C.make("dt", { text: t(labelKey) }), C.make("dd", { text: value })]);
  }

  function renderLottery() {
    const box = el("lottery-body");
    const state = el("lottery-state");
    if (!lotteryView) {
      box.replaceChildren();
      state.replaceChildren();
      return;
    }
    const v = lotteryView;
    const r = v.record;
    state.replaceChildren(C.make("span", { className: "badge badge-lottery-" + v.state, text: t("lot.state." + v.state) }));
    const nodes = [];
    if (v.waiting) nodes.push(C.make("p", { className: "notice", text: t("lot.waiting", { what: oneLanguage(v.waiting) }) }));
    const ratio = r.supply ? (v.cards_asked / r.supply) : 0;
    nodes.push(C.make("dl", { className: "figures" }, [
      figure("lot.applications", t("lot.count", { count: C.count(v.applications) })),
      figure("lot.cards_asked", t("lot.cards", { count: C.count(v.cards_asked) })),
      figure("lot.supply", t("lot.cards", { count: C.count(r.supply) })),
      figure("lot.ratio", t("lot.ratio.value", { ratio: ratio.toLocaleString("ja-JP", { maximumFractionDigits: 1 }) })),
    ]));
    if (v.places) {
      nodes.push(C.make("h3", { text: t("lot.places") }));
      nodes.push(C.make("dl", { className: "figures" }, [
        figure("lot.places.holding", t("lot.count", { count: C.count(v.places.holding) })),
        figure("lot.places.paid", t("lot.count", { count: C.count(v.places.paid) })),
        figure("lot.places.lapsed", t("lot.count", { count: C.count(v.places.lapsed) })),
        figure("lot.places.promoted", t("lot.count", { count: C.count(v.places.promoted) })),
      ]));
      nodes.push(C.make("p", { className: "hint", text: t("lot.places.cards", { held: C.count(v.places.cards_held), supply: C.count(r.supply) }) }));
    }
    if (!v.applications) {
      nodes.push(C.make("p", { className: "empty", text: t("lot.empty") }));
    } else {
      const most = Math.max.apply(null, v.by_day.map(function (d) { return d.count; }).concat([1]));
      const bar = function (n) { return C.make("span", { className: "bar", style: "width:" + Math.round(6 * n / most) + "rem", "aria-hidden": "true" }); };
      const days = v.by_day.map(function (d) { return [d.date.replace(/-/g, "/"), [C.count(d.count), bar(d.count)]]; });
      const lang = F.i18n.current();
      const prefectures = v.by_prefecture.slice().sort(function (a, b) { return b.count - a.count || a.code.localeCompare(b.code); })
        .map(function (p) {
          const share = (100 * p.count / v.applications).toLocaleString("ja-JP", { maximumFractionDigits: 1 }) + "%";
          return [F.prefectures.name(p.code, lang), C.count(p.count), share];
        });
      nodes.push(C.make("div", { className: "lottery-tables" }, [
        table("lot.by_day", ["lot.col.date", "lot.col.count"], days),
        table("lot.by_prefecture", ["lot.col.prefecture", "lot.col.count", "lot.col.share"], prefectures),
      ]));
    }
    nodes.push(C.make("h3", { text: t("lot.record") }));
    const later = function (key) { return C.make("span", { className: "muted", text: t(key) }); };
    const mono = function (text) { return C.make("span", { className: "mono", text: text }); };
    const rows = [
      ["lot.r.algorithm", mono(r.algorithm)],
      ["lot.r.close", C.time.format(r.applications_close_at)],
      ["lot.r.draw", C.time.format(r.draw_at)],
      ["lot.r.commitment", mono(r.seed_commitment)],
      ["lot.r.list_hash", r.list_hash ? mono(r.list_hash) : later("lot.r.later.close")],
      ["lot.r.anchor", r.anchor ? t("lot.r.anchor.value", { chain: r.anchor.chain_id, block: C.count(r.anchor.block_number) }) : later(r.list_hash ? "lot.r.later.anchor" : "lot.r.later.close")],
    ];
    if (r.anchor) rows.push(["lot.r.tx_hash", mono(r.anchor.tx_hash)], ["lot.r.block_hash", mono(r.anchor.block_hash)]);
    rows.push(
      ["lot.r.server_seed", r.server_seed ? mono(r.server_seed) : later("lot.r.later.draw")],
      ["lot.r.final_seed", r.final_seed ? mono(r.final_seed) : later("lot.r.later.draw")],
    );
    if (r.winners) {
      const cards = r.winners.reduce(function (n, w) { return n + w.quantity; }, 0);
      rows.push(
        ["lot.r.winners", t("lot.r.winners.value", { count: C.count(r.winners.length), cards: C.count(cards) })],
        ["lot.r.waitlist", t("lot.count", { count: C.count((r.waitlist || []).length) })],
      );
    }
    const kv = C.make("dl", { className: "kv" });
    rows.forEach(function (row) { kv.append(C.make("dt", { text: t(row[0]) }), C.make("dd", {}, [row[1]])); });
    nodes.push(kv);
    nodes.push(C.make("h3", { text: t("lot.promotions") }));
    const rounds = r.promotions || [];
    if (!rounds.length) {
      nodes.push(C.make("p", { className: "muted", text: t(r.winners ? "lot.no_rounds" : "lot.rounds_after_draw") }));
    } else {
      nodes.push(C.make("ol", {}, rounds.map(function (round) {
        return C.make("li", { text: t("lot.round", { at: C.time.format(round.at), lapsed: C.count(round.lapsed.length), promoted: C.count(round.promoted.length) }) });
      })));
    }
    box.replaceChildren.apply(box, nodes);
  }

  function loaded(found) {
    drop = found;
    el("wizard-heading").textContent = t(drop.status === "draft" ? "wizard.heading.draft" : "wizard.heading.edit");
    delete el("wizard-heading").dataset.i18n;
    applyLocks();
    renderStatus();
    go(step, true);
    renderPreview();
    // Read the lottery when the drop is first shown and whenever its state moves.
    if (lotteryShownFor !== drop.id + ":" + drop.status) {
      lotteryShownFor = drop.id + ":" + drop.status;
      loadLottery();
    }
  }

  function renderStatus() {
    if (!drop) return;
    const status = el("wizard-status");
    status.replaceChildren();
    status.hidden = false;
    status.className = "notice" + (drop.publish_error ? " notice-error" : drop.status === "live" ? " notice-success" : "");
    status.append(C.statusBadge("dstatus", drop.status), " ");
    if (drop.status === "publishing") status.append(t("wizard.publishing"));
    else if (drop.status === "draft" && drop.publish_error) status.append(t("wizard.publish_failed", { reason: drop.publish_error }));
    else if (drop.status === "draft") status.append(t("wizard.is_draft"));
    else {
      const live = drop.sale_mode === "lottery" ? "wizard.is_live.lottery" : "wizard.is_live";
      status.append(t(drop.status === "live" ? live : "wizard.is_paused", { sold: C.count(drop.sold), supply: C.count(drop.supply) }), " ");
      status.append(C.make("a", { href: "/drop.html?id=" + drop.id, target: "_blank", rel: "noopener", text: t("wizard.public_page") }), " ");
      status.append(C.make("a", { href: C.page("campaigns", { drop_id: drop.id }), text: t("wizard.next_poster") }));
    }
  }

  async function onSave() {
    if (busy) return;
    busy = true;
    el("save").disabled = true;
    const ok = await save();
    el("save").disabled = false;
    busy = false;
    if (ok) C.say("wizard-error", "");
    if (ok && drop.status !== "publishing") {
      const box = el("wizard-status");
      box.append(" ", C.make("strong", { text: t("wizard.saved") }));
    }
  }

  async function onPublish() {
    if (busy) return;
    const body = read();
    const found = check(body, ALL_FIELDS);
    if (Object.keys(found).length) return showErrors(found);
    const yes = await C.confirm(t("wizard.publish.title"), t("wizard.publish.body", {
      title: body.title_ja, price: C.yen(body.price_jpy), supply: C.count(body.supply), start: C.time.format(body.starts_at),
    }), t("wizard.publish.yes"));
    if (!yes) return;
    busy = true;
    el("publish").disabled = true;
    const saved = await save();
    if (!saved) { busy = false; el("publish").disabled = false; return; }
    const started = await C.townApi("POST", "drops/" + drop.id + "/publish");
    busy = false;
    el("publish").disabled = false;
    if (!started.ok) {
      // A failed publish leaves a draft whose publish_error says why: show that drop.
      if (C.errorCode(started) === "publish_failed") { await refresh(); return watch(true); }
      return C.say("wizard-error", C.errorText(started), "error");
    }
    if (started.body && started.body.id) loaded(started.body);
    else await refresh();
    watch(true);
  }

  async function refresh() {
    const found = await C.townApi("GET", "drops/" + drop.id);
    if (found.ok) loaded(found.body);
    return found;
  }

  // Re-reads a drop being published until it is live (or back to draft); `announce`: move
  // focus to the outcome (after the officer pressed publish, not on opening the page).
  function watch(announce) {
    clearTimeout(poll);
    if (drop && drop.status === "publishing") {
      poll = setTimeout(async function () {
        await refresh();
        watch(announce);
      }, 1000);
    } else if (announce && drop) {
      el("wizard-status").setAttribute("tabindex", "-1");
      el("wizard-status").focus();
    }
  }

  function setPreviewLang(lang) {
    previewLang = lang;
    renderPreview();
  }

  function toggleLottery() {
    const lottery = (document.querySelector("input[name=sale_mode]:checked") || {}).value === "lottery";
    el("lottery-fields").hidden = !lottery;
  }

  async function start() {
    const id = new URLSearchParams(location.search).get("id");
    if (id) {
      if (!/^\d+$/.test(id)) return C.say("page-error", t("cerr.drop_not_found"), "error");
      const found = await C.townApi("GET", "drops/" + id);
      if (!found.ok) return C.fail(found);
      fill(found.body);
      toggleLottery();
      loaded(found.body);
      if (drop.status !== "draft") visited = STEPS.length - 1;
      go(Number(new URLSearchParams(location.search).get("step")) || 0);
      watch(false);
    } else {
      fill(defaults());
      toggleLottery();
      go(0);
    }
    renderPreview();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("drops", function () {
      el("back-to-drops").href = C.page("drops");
      el("wizard").addEventListener("input", function (event) {
        renderPreview();
        const name = event.target.name;
        if (errors[name]) { delete errors[name]; renderErrors(); }
      });
      el("wizard").addEventListener("change", function (event) {
        toggleLottery();
        renderPreview();
        const name = event.target.name;
        if (errors[name]) { delete errors[name]; renderErrors(); }
      });
      el("wizard").addEventListener("submit", function (event) { event.preventDefault(); });
      el("next").addEventListener("click", next);
      el("prev").addEventListener("click", function () { go(step - 1); });
      el("save").addEventListener("click", onSave);
      el("publish").addEventListener("click", onPublish);
      document.querySelectorAll("#stepper button").forEach(function (button) {
        button.addEventListener("click", function () { go(Number(button.dataset.step)); });
      });
      el("preview-ja").addEventListener("click", function () { setPreviewLang("ja"); });
      el("preview-en").addEventListener("click", function () { setPreviewLang("en"); });
      el("lottery-refresh").addEventListener("click", loadLottery);
      F.i18n.onChange(function () {
        renderErrors();
        renderStatus();
        renderLottery();
        go(step, true);
        if (drop) el("wizard-heading").textContent = t(drop.status === "draft" ? "wizard.heading.draft" : "wizard.heading.edit");
      });
      start().then(function () { el("next").disabled = false; });
    }, ["owner", "editor"]);
  });
})();
