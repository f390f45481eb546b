// Registration tiers (ふるさと住民登録): the year's premium candidates with the records they
// come from (visit days, check-ins by kind of spot, votes, …) and the sentence that explains
// their category; editors and owners approve or decline each with a note, analysts read.
// The town's rule (which activities count, how many a year) is shown with a link to settings.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const READERS = ["owner", "editor", "analyst"];
  const DECIDERS = ["owner", "editor"];
  const LIMIT = 20;
  // Refusals this page names itself (the console's common list does not know them).
  const CODES = ["not_candidate", "already_decided", "person_not_found"];
  // Years offered: this one and the two before (the registration is renewed every year).
  const YEARS_BACK = 2;

  let page = null;
  let offset = 0;
  let fresh = null;

  function errorText(result) {
    const code = C.errorCode(result);
    return CODES.indexOf(code) >= 0 ? t("reg.err." + code) : C.errorText(result);
  }

  function en() { return F.i18n.current() === "en"; }

  function thisYear() { return Number(C.time.today().slice(0, 4)); }

  function fillYears() {
    const select = C.el("year");
    const chosen = select.value || String(thisYear());
    const options = [];
    for (let year = thisYear(); year >= thisYear() - YEARS_BACK; year--) {
      options.push(C.make("option", { value: String(year), text: t("reg.year", { year: year }) }));
    }
    select.replaceChildren.apply(select, options);
    select.value = chosen;
  }

  function filters() {
    const found = { year: C.el("year").value || String(thisYear()) };
    if (C.el("state").value) found.state = C.el("state").value;
    return found;
  }

  function activityName(name) { return t("reg.premium." + name); }

  function renderRule() {
    if (!page) return;
    const names = page.rule.activities.map(activityName).join(en() ? ", " : "、");
    C.el("rule-text").textContent = t("reg.rule.text", { activities: names, threshold: page.rule.threshold });
    const link = C.el("rule-settings");
    link.href = C.page("settings") + "#premium_activities";
    C.el("rule-link").hidden = !C.can(["owner"]);
  }

  function csvLinks() {
    const base = C.townPath("premium-candidates.csv");
    const query = filters();
    C.el("reg-csv-utf8").href = base + C.query(Object.assign({}, query, { encoding: "utf-8" }));
    C.el("reg-csv-sjis").href = base + C.query(Object.assign({}, query, { encoding: "shift_jis" }));
  }

  function reviewBadge(item) {
    if (item.review) return C.make("span", { className: "badge badge-" + item.review.decision, text: t("reg.state." + item.review.decision) });
    return C.make("span", { className: "badge badge-pending", text: t("reg.state.pending") });
  }

  // The designated activities the town counts, with this person's number of each.
  function countedList(item) {
    return C.make("ul", { className: "reg-counted" }, item.counted.map(function (name) {
      return C.make("li", { text: t("reg.count_line", { name: activityName(name), n: C.count(item.activities[name] || 0) }) });
    }));
  }

  // The facts as recorded (the evidence the rollup stored), for staff who want to look closer.
  function evidenceBox(item) {
    const facts = item.evidence || {};
    const rows = [
      ["reg.ev.visit_days", facts.visit_days],
      ["reg.ev.redemptions", facts.redemptions],
      ["reg.ev.votes", facts.votes],
      ["reg.ev.bids", facts.bids],
      ["reg.ev.paid_orders", facts.paid_orders],
    ];
    const list = C.make("dl", { className: "kv" });
    rows.forEach(function (row) {
      if (row[1] === undefined || row[1] === null) return;
      list.append(C.make("dt", { text: t(row[0]) }), C.make("dd", { text: C.count(row[1]) }));
    });
    const checkIns = facts.check_ins || {};
    Object.keys(checkIns).forEach(function (kind) {
      list.append(
        C.make("dt", { text: t("reg.ev.check_ins", { kind: t("reg.activity." + kind) }) }),
        C.make("dd", { text: C.count(checkIns[kind]) }),
      );
    });
    if (facts.rule) list.append(C.make("dt", { text: t("reg.ev.rule") }), C.make("dd", { text: t("reg.ev.rule_value", { n: facts.rule }) }));
    return C.make("details", { className: "reject-box" }, [C.make("summary", { text: t("reg.evidence") }), list]);
  }

  function decisionLine(review) {
    const who = review.decided_by || t("reg.someone");
    const line = t("reg.decided_line", { state: t("reg.state." + review.decision), at: C.time.format(review.decided_at), who: who });
    const box = C.make("div", { className: "reg-review" }, [C.make("p", { text: line })]);
    if (review.note) box.append(C.make("p", { className: "hint", text: t("reg.note_line", { note: review.note }) }));
    return box;
  }

  function decideForm(item) {
    const id = "note-" + item.person_id;
    const note = C.make("textarea", { id: id, maxlength: "2000", rows: "2" });
    const approve = C.make("button", { type: "button", className: "primary small", text: t("reg.approve") });
    const decline = C.make("button", { type: "button", className: "secondary small", text: t("reg.decline") });
    approve.addEventListener("click", function () { decide(item, "approve", note, [approve, decline]); });
    decline.addEventListener("click", function () { decide(item, "decline", note, [approve, decline]); });
    return C.make("div", { className: "reg-decide" }, [
      C.make("div", { className: "field" }, [
        C.make("label", { htmlFor: id, text: t("reg.note") }), note,
        C.make("p", { className: "hint", text: t("reg.note.hint") }),
      ]),
      C.make("div", { className: "row-actions" }, [approve, decline]),
    ]);
  }

  function candidateCard(item) {
    const badges = C.make("div", { className: "badges" }, [reviewBadge(item)]);
    if (!item.candidate) badges.append(C.make("span", { className: "badge badge-paused", text: t("reg.below") }));
    const card = C.make("li", { className: "panel" + (item.person_id === fresh ? " fresh" : ""), id: "person-" + item.person_id }, [
      C.make("div", { className: "shop-head" }, [C.make("h3", { text: item.email }), badges]),
    ]);
    const explanation = en() ? item.explanation_en : item.explanation_ja;
    const category = en() ? item.category_en : item.category_ja;
    card.append(C.make("dl", { className: "kv" }, [
      C.make("dt", { text: t("reg.col.prefecture") }),
      C.make("dd", { text: F.prefectures.name(item.prefecture, F.i18n.current()) || "—" }),
      C.make("dt", { text: t("reg.col.designated") }),
      C.make("dd", { className: "reg-designated", text: t("reg.designated_value", { n: C.count(item.designated), threshold: C.count(item.threshold) }) }),
      C.make("dt", { text: t("reg.col.category") }),
      C.make("dd", { text: category || "—" }),
      C.make("dt", { text: t("reg.col.explanation") }),
      C.make("dd", { className: "reg-explanation", text: explanation || "—" }),
    ]));
    card.append(C.make("h4", { text: t("reg.counted") }), countedList(item), evidenceBox(item));
    if (item.review) card.append(decisionLine(item.review));
    else if (item.candidate && C.can(DECIDERS)) card.append(decideForm(item));
    return card;
  }

  function render() {
    if (!page) return;
    renderRule();
    C.el("reg-summary").textContent = t("reg.summary", {
      year: page.year, candidates: C.count(page.candidates), approved: C.count(page.approved), declined: C.count(page.declined),
    });
    C.el("candidates").replaceChildren.apply(C.el("candidates"), page.items.map(candidateCard));
    C.el("reg-empty").hidden = page.items.length !== 0;
    const nav = C.el("reg-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, offset - LIMIT)); });
    next.addEventListener("click", function () { load(offset + LIMIT); });
    nav.replaceChildren(prev, next);
    csvLinks();
  }

  async function load(from) {
    const found = await C.townApi("GET", "premium-candidates", { query: Object.assign({ limit: LIMIT, offset: from }, filters()) });
    if (!found.ok) return C.fail(found);
    page = found.body;
    offset = from;
    render();
  }

  async function decide(item, action, note, buttons) {
    if (action === "decline") {
      const yes = await C.confirm(t("reg.decline.title", { email: item.email }), t("reg.decline.body"), t("reg.decline"));
      if (!yes) return buttons[1].focus();
    }
    buttons.forEach(function (button) { button.disabled = true; });
    const done = await C.townApi("POST", "premium-candidates/" + item.person_id + "/" + action, {
      json: { year: Number(C.el("year").value || thisYear()), note: note.value.trim() },
    });
    buttons.forEach(function (button) { button.disabled = false; });
    if (!done.ok) return C.say("reg-message", errorText(done), "error");
    fresh = item.person_id;
    await load(offset);
    C.say("reg-message", t(action === "approve" ? "reg.approved_done" : "reg.declined_done", { email: item.email }), "success");
    const card = C.el("person-" + item.person_id);
    if (card) card.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("registration", async function () {
      fillYears();
      C.el("reg-filter").addEventListener("submit", function (event) { event.preventDefault(); fresh = null; load(0); });
      F.i18n.onChange(function () { fillYears(); render(); });
      await load(0);
    }, READERS);
  });
})();
