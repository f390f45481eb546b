// Polls of the town's card holders: an editor writes the question and 2–10 options in both
// languages, the window in Japan time, which series vote (none: all), the quorum and whether a
// vote may be changed, and submits it; a moderator (or owner) approves or rejects it with a
// reason when the town asks for approval. An open poll shows its turnout; a closed one its
// results, with links to the public results page and the ballot file anyone can recount.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const LIMIT = 20;
  const MIN_OPTIONS = 2;
  const MAX_OPTIONS = 10;
  const EDITORS = ["owner", "editor"];
  const MODERATORS = ["owner", "moderator"];
  const FIELDS = ["question_ja", "question_en", "description_ja", "description_en", "options", "opens_at", "closes_at",
    "quorum_percent", "series"];
  let page = { items: [], total: 0, offset: 0 };
  let pending = [];
  let drops = [];
  let editing = null; // the draft being edited (its id), or null
  let options = [{ label_ja: "", label_en: "" }, { label_ja: "", label_en: "" }];
  let optionErrors = {}; // "ja-0" → message key
  let errors = {};
  let shown = null; // {poll, results} in the detail panel
  let timer = null;
  const reasons = {};

  function en() { return F.i18n.current() === "en"; }
  function question(poll) { return en() ? (poll.question_en || poll.question_ja) : (poll.question_ja || poll.question_en); }
  function label(option) { return en() ? (option.label_en || option.label_ja) : (option.label_ja || option.label_en); }

  function refusal(result) {
    const code = C.errorCode(result);
    if (code) {
      const key = "cerr." + code;
      const text = t(key);
      if (text !== key) return text;
    }
    return C.errorText(result);
  }

  // A series as the API names it: a drop id, or {drop_id, title_ja, title_en}.
  function seriesId(entry) { return String(entry && typeof entry === "object" ? entry.drop_id : entry); }

  function seriesText(poll) {
    const ids = poll.series || [];
    if (!ids.length) return t("cpoll.series.all");
    return ids.map(function (entry) {
      const id = seriesId(entry);
      const drop = drops.find(function (d) { return String(d.id) === String(id); }) ||
        (typeof entry === "object" ? { title_ja: entry.title_ja, title_en: entry.title_en } : null);
      return drop ? C.dropTitle(drop) : "#" + id;
    }).join("、");
  }

  function windowText(poll) {
    return t("cpoll.window", { from: C.time.format(poll.opens_at), to: C.time.format(poll.closes_at) });
  }

  // {votes, electorate, percent} from the poll (or its results), whatever the API calls them.
  function turnout(poll, results) {
    const source = results || poll;
    const nested = source.turnout && typeof source.turnout === "object" ? source.turnout : {};
    const votes = firstNumber([nested.votes, source.votes_cast, source.votes_so_far, poll.votes_so_far]);
    // After the close the base is the electorate less its refunded cards (`eligible`).
    const electorate = firstNumber([nested.electorate, source.eligible, source.electorate, poll.electorate]);
    let percent = firstNumber([nested.percent, source.turnout_percent]);
    if (percent === null && votes !== null && electorate) percent = (100 * votes) / electorate;
    return { votes: votes, electorate: electorate, percent: percent };
  }

  function firstNumber(list) {
    for (let i = 0; i < list.length; i++) if (typeof list[i] === "number") return list[i];
    return null;
  }

  function percentText(value) {
    return value === null || value === undefined ? "—" : (Math.round(value * 10) / 10).toLocaleString("ja-JP") + "%";
  }

  function turnoutText(poll, results) {
    const n = turnout(poll, results);
    if (n.electorate === null) return "—";
    return t("cpoll.turnout", { votes: C.count(n.votes || 0), electorate: C.count(n.electorate), percent: percentText(n.percent) });
  }

  function cell(name, children, className) {
    return C.make("td", { "data-label": name, className: className }, children);
  }

  function actions(poll) {
    const box = C.make("div", { className: "row-actions" });
    const open = C.make("button", { type: "button", className: "secondary small", text: t("cpoll.open") });
    open.addEventListener("click", function () { showDetail(poll.id); });
    box.append(open);
    // A draft, or one a moderator sent back, is edited and submitted again.
    if (C.can(EDITORS) && (poll.status === "draft" || poll.status === "rejected")) {
      const edit = C.make("button", { type: "button", className: "secondary small", text: t(poll.status === "rejected" ? "cpoll.rewrite" : "cpoll.edit") });
      edit.addEventListener("click", function () { startEdit(poll); });
      const submit = C.make("button", { type: "button", className: "primary small", text: t("cpoll.submit.short") });
      submit.addEventListener("click", function () { submitOne(poll, submit); });
      box.append(edit, submit);
    }
    if (C.can(EDITORS) && ["draft", "pending_approval", "scheduled", "rejected"].indexOf(poll.status) >= 0) {
      const cancel = C.make("button", { type: "button", className: "link-button", text: t("cpoll.cancel") });
      cancel.addEventListener("click", function () { cancelOne(poll, cancel); });
      box.append(cancel);
    }
    if (poll.status === "open" || poll.status === "closed") {
      box.append(C.make("a", { href: "/poll.html?id=" + encodeURIComponent(poll.id), target: "_blank", rel: "noopener", text: t("cpoll.public_page") }));
    }
    return box;
  }

  function render() {
    const rows = page.items.map(function (poll) {
      const name = C.make("div", {}, [
        C.make("strong", { text: question(poll) }),
        C.make("div", { className: "hint", text: seriesText(poll) }),
      ]);
      if (poll.status === "rejected" && poll.reject_reason) {
        name.append(C.make("div", { className: "field-error", text: t("cpoll.rejected_for", { reason: poll.reject_reason }) }));
      }
      return C.make("tr", { id: "poll-" + poll.id, "aria-current": shown && shown.poll.id === poll.id ? "true" : null }, [
        cell(t("col.poll_question"), [name]),
        cell(t("col.poll_status"), [C.statusBadge("polstate", poll.status)]),
        cell(t("col.poll_window"), [C.make("span", { text: windowText(poll) })]),
        cell(t("col.poll_turnout"), [C.make("span", { text: poll.status === "open" || poll.status === "closed" ? turnoutText(poll) : "—" })], "num"),
        cell(t("col.actions"), [actions(poll)], "wide"),
      ]);
    });
    C.el("poll-rows").replaceChildren.apply(C.el("poll-rows"), rows);
    C.el("poll-table").hidden = page.items.length === 0;
    C.el("poll-empty").hidden = page.items.length !== 0;
    const nav = C.el("poll-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: page.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: page.offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, page.offset - LIMIT)); });
    next.addEventListener("click", function () { load(page.offset + LIMIT); });
    nav.replaceChildren(prev, next);
    renderPending();
    renderSeries();
    renderOptions();
    renderErrors();
    renderDetail();
    C.el("form-heading").textContent = t(editing ? "cpoll.editing" : "cpoll.new");
    C.el("poll-new").hidden = !editing;
  }

  // ----- one poll: turnout while open, results once closed -----

  function factList(poll) {
    const list = C.make("dl", { className: "kv" }, [
      C.make("dt", { text: t("cpoll.f.status") }), C.make("dd", {}, [C.statusBadge("polstate", poll.status)]),
      C.make("dt", { text: t("cpoll.f.window") }), C.make("dd", { text: windowText(poll) }),
      C.make("dt", { text: t("cpoll.f.series") }), C.make("dd", { text: seriesText(poll) }),
      C.make("dt", { text: t("cpoll.f.quorum") }), C.make("dd", { text: poll.quorum_percent ? t("cpoll.quorum", { percent: poll.quorum_percent }) : t("cpoll.quorum.none") }),
      C.make("dt", { text: t("cpoll.f.change") }), C.make("dd", { text: t(poll.allow_change ? "cpoll.change.yes" : "cpoll.change.no") }),
    ]);
    if (poll.status === "open" || poll.status === "closed") {
      list.append(C.make("dt", { text: t("cpoll.f.turnout") }), C.make("dd", { text: turnoutText(poll, shown && shown.results) }));
    }
    if (poll.status === "rejected" && poll.reject_reason) {
      list.append(C.make("dt", { text: t("cpoll.f.reason") }), C.make("dd", { text: poll.reject_reason }));
    }
    return list;
  }

  function optionCount(results, option) {
    const rows = results.options || results.counts || [];
    if (Array.isArray(rows)) {
      const row = rows.find(function (r) { return r.option_id === option.id || r.id === option.id || (r.position !== undefined && r.position === option.position); });
      return row ? (row.votes !== undefined ? row.votes : row.count) : 0;
    }
    return rows[option.id] || rows[String(option.position)] || 0;
  }

  function resultsTable(poll, results) {
    const total = (poll.options || []).reduce(function (sum, option) { return sum + (optionCount(results, option) || 0); }, 0);
    const body = C.make("tbody", {}, (poll.options || []).map(function (option) {
      const n = optionCount(results, option) || 0;
      return C.make("tr", {}, [
        cell(t("col.poll_option"), [C.make("span", { text: label(option) })]),
        cell(t("col.poll_votes"), [C.make("span", { text: C.count(n) })], "num"),
        cell(t("col.poll_share"), [C.make("span", { text: total ? percentText((100 * n) / total) : "—" })], "num"),
      ]);
    }));
    return C.make("table", { className: "list results-table" }, [
      C.make("thead", {}, [C.make("tr", {}, [
        C.make("th", { scope: "col", text: t("col.poll_option") }),
        C.make("th", { scope: "col", className: "num", text: t("col.poll_votes") }),
        C.make("th", { scope: "col", className: "num", text: t("col.poll_share") }),
      ])]),
      body,
    ]);
  }

  function renderDetail() {
    const box = C.el("detail");
    box.hidden = !shown;
    if (!shown) return;
    const poll = shown.poll;
    C.el("detail-heading").textContent = question(poll);
    const parts = [factList(poll)];
    const description = en() ? poll.description_en : poll.description_ja;
    if (description) parts.push(C.make("p", { className: "pre", text: description }));
    if (poll.status === "closed" && shown.results) {
      const results = shown.results;
      const met = results.quorum_met;
      parts.push(C.make("h3", { text: t("cpoll.results") }), resultsTable(poll, results));
      parts.push(C.make("p", { className: met === false ? "notice notice-warn" : "notice", text: t(met === false ? "cpoll.quorum.not_met" : "cpoll.quorum.met", { percent: poll.quorum_percent || 0 }) }));
      parts.push(C.make("p", { className: "row-actions" }, [
        C.make("a", { className: "button secondary small", href: "/poll.html?id=" + encodeURIComponent(poll.id), target: "_blank", rel: "noopener", text: t("cpoll.results_page") }),
        C.make("a", { className: "button secondary small", href: results.ballots_url || "/api/v1/polls/" + encodeURIComponent(poll.id) + "/ballots.txt", download: "poll-" + poll.id + "-ballots.txt", text: t("cpoll.ballots") }),
      ]));
      if (results.ballots_head) parts.push(C.make("p", { className: "hint" }, [t("cpoll.head") + " ", C.make("code", { className: "mono", text: results.ballots_head })]));
    } else {
      parts.push(C.make("h3", { text: t("cpoll.options") }), C.make("ol", {}, (poll.options || []).map(function (option) {
        return C.make("li", { text: label(option) });
      })));
      if (poll.status === "open") {
        parts.push(C.make("p", { className: "hint", text: t("cpoll.open.hint") }));
        parts.push(C.make("p", {}, [C.make("a", { href: "/poll.html?id=" + encodeURIComponent(poll.id), target: "_blank", rel: "noopener", text: t("cpoll.public_page") })]));
      }
    }
    C.el("detail-body").replaceChildren.apply(C.el("detail-body"), parts);
  }

  async function showDetail(id) {
    const found = await C.townApi("GET", "polls/" + encodeURIComponent(id));
    if (!found.ok) return C.say("poll-message", refusal(found), "error");
    let results = null;
    if (found.body.status === "closed") {
      const answer = await C.api("GET", "/api/v1/polls/" + encodeURIComponent(id) + "/results");
      if (answer.ok) results = answer.body;
    }
    shown = { poll: found.body, results: results };
    render();
    C.el("detail").scrollIntoView({ block: "start" });
    C.el("detail-heading").setAttribute("tabindex", "-1");
    C.el("detail-heading").focus();
  }

  // ----- the moderator's queue -----

  function rejectForm(poll) {
    const id = "reject-" + poll.id;
    const reason = C.make("textarea", { id: id, name: "reason", maxlength: "1000", required: true, "aria-describedby": id + "-error" });
    reason.value = reasons[poll.id] || "";
    const error = C.make("p", { className: "field-error", id: id + "-error", hidden: true });
    const button = C.make("button", { type: "submit", className: "secondary", text: t("cpoll.reject") });
    const form = C.make("form", { className: "reject-form", novalidate: true }, [
      C.make("div", { className: "field" }, [C.make("label", { htmlFor: id, text: t("cpoll.reject.reason") }), reason, error]),
      button,
    ]);
    reason.addEventListener("input", function () { reasons[poll.id] = reason.value; error.hidden = true; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!reason.value.trim()) {
        error.hidden = false;
        error.textContent = t("cpoll.reject.required");
        reason.setAttribute("aria-invalid", "true");
        return reason.focus();
      }
      decide(poll, false, reason.value.trim(), button);
    });
    return form;
  }

  function pendingCard(poll) {
    const card = C.make("li", { className: "panel", id: "pending-" + poll.id }, [
      C.make("div", { className: "toolbar" }, [
        C.make("h3", { text: poll.question_ja }),
        C.make("span", { className: "spacer" }),
        C.statusBadge("polstate", poll.status),
      ]),
      C.make("p", { lang: "en", className: "hint", text: poll.question_en }),
      factList(poll),
      C.make("ol", {}, (poll.options || []).map(function (option) {
        return C.make("li", {}, [option.label_ja, C.make("span", { className: "hint", lang: "en", text: " / " + option.label_en })]);
      })),
    ]);
    if (C.can(MODERATORS)) {
      const approve = C.make("button", { type: "button", className: "primary", text: t("cpoll.approve") });
      approve.addEventListener("click", function () { decide(poll, true, null, approve); });
      card.append(C.make("div", { className: "decide" }, [
        C.make("div", { className: "actions" }, [approve]),
        C.make("details", { className: "reject-box", open: !!reasons[poll.id] }, [C.make("summary", { text: t("cpoll.reject.open") }), rejectForm(poll)]),
      ]));
    } else card.append(C.make("p", { className: "hint", text: t("cpoll.moderators_only") }));
    return card;
  }

  function renderPending() {
    C.el("pending-section").hidden = pending.length === 0;
    C.el("pending").replaceChildren.apply(C.el("pending"), pending.map(pendingCard));
  }

  // ----- the form -----

  function renderSeries() {
    const box = C.el("series-choices");
    const chosen = chosenSeries();
    box.replaceChildren.apply(box, drops.map(function (drop) {
      const input = C.make("input", { type: "checkbox", name: "series", value: String(drop.id), id: "series-" + drop.id });
      input.checked = chosen.indexOf(String(drop.id)) >= 0;
      return C.make("label", { className: "check", htmlFor: input.id }, [input, " ", C.make("span", { text: C.dropTitle(drop) })]);
    }));
  }

  function chosenSeries() {
    return Array.from(document.querySelectorAll("#series-choices input:checked")).map(function (input) { return input.value; });
  }

  function renderOptions() {
    const list = C.el("option-rows");
    list.replaceChildren.apply(list, options.map(function (option, index) {
      const row = C.make("li", { className: "option-row" });
      ["ja", "en"].forEach(function (lang) {
        const id = "option-" + lang + "-" + index;
        const input = C.make("input", {
          id: id, name: "option_" + lang, type: "text", maxlength: "200", lang: lang === "en" ? "en" : null,
          "aria-describedby": id + "-error", "aria-invalid": optionErrors[lang + "-" + index] ? "true" : null,
        });
        input.value = option["label_" + lang];
        input.addEventListener("input", function () {
          options[index]["label_" + lang] = input.value;
          if (optionErrors[lang + "-" + index]) {
            delete optionErrors[lang + "-" + index];
            input.removeAttribute("aria-invalid");
            C.el(id + "-error").hidden = true;
          }
        });
        const error = C.make("p", { className: "field-error", id: id + "-error", hidden: !optionErrors[lang + "-" + index], text: optionErrors[lang + "-" + index] ? t(optionErrors[lang + "-" + index]) : "" });
        row.append(C.make("div", { className: "field" }, [
          C.make("label", { htmlFor: id, text: t(lang === "ja" ? "f.poll_option_ja" : "f.poll_option_en", { n: index + 1 }) }), input, error,
        ]));
      });
      const remove = C.make("button", { type: "button", className: "link-button", text: t("f.poll_options.remove", { n: index + 1 }), disabled: options.length <= MIN_OPTIONS });
      remove.addEventListener("click", function () {
        options.splice(index, 1);
        optionErrors = {};
        renderOptions();
      });
      row.append(remove);
      return row;
    }));
    C.el("option-add").disabled = options.length >= MAX_OPTIONS;
  }

  function renderErrors() {
    FIELDS.forEach(function (name) { C.fieldMessage(name, errors[name] ? t(errors[name]) : ""); });
  }

  function values() {
    const body = {};
    ["question_ja", "question_en", "description_ja", "description_en"].forEach(function (name) { body[name] = C.el(name).value.trim(); });
    body.options = options.map(function (option) { return { label_ja: option.label_ja.trim(), label_en: option.label_en.trim() }; });
    body.opens_at = C.time.fromInput(C.el("opens_at").value);
    body.closes_at = C.time.fromInput(C.el("closes_at").value);
    body.series = chosenSeries().map(Number);
    const quorum = C.el("quorum_percent").value.trim();
    body.quorum_percent = /^\d+$/.test(quorum) ? Number(quorum) : quorum === "" ? 0 : NaN;
    body.allow_change = C.el("allow_change").checked;
    return body;
  }

  function validate(body) {
    errors = {};
    optionErrors = {};
    ["question_ja", "question_en"].forEach(function (name) { if (!body[name]) errors[name] = "v.required"; });
    body.options.forEach(function (option, index) {
      if (!option.label_ja) optionErrors["ja-" + index] = "v.required";
      if (!option.label_en) optionErrors["en-" + index] = "v.required";
    });
    if (body.options.length < MIN_OPTIONS || body.options.length > MAX_OPTIONS) errors.options = "v.poll.options";
    if (!body.opens_at) errors.opens_at = "v.poll.opens_at";
    if (!body.closes_at) errors.closes_at = "v.poll.closes_at";
    else if (body.opens_at && C.time.ms(body.closes_at) <= C.time.ms(body.opens_at)) errors.closes_at = "v.poll.closes_after_opens";
    if (!(body.quorum_percent >= 0 && body.quorum_percent <= 100)) errors.quorum_percent = "v.poll.quorum_percent";
    renderOptions();
    renderErrors();
    const firstOption = Object.keys(optionErrors)[0];
    const first = FIELDS.find(function (name) { return errors[name]; });
    if (first && FIELDS.indexOf(first) < FIELDS.indexOf("options")) { C.el(first).focus(); return false; }
    if (firstOption) { C.el("option-" + firstOption.split("-")[0] + "-" + firstOption.split("-")[1]).focus(); return false; }
    if (first) {
      const input = first === "options" ? C.el("option-add") : first === "series" ? document.querySelector("#series-choices input") : C.el(first);
      if (input) input.focus();
      return false;
    }
    return true;
  }

  function clearForm() {
    editing = null;
    ["question_ja", "question_en", "description_ja", "description_en", "opens_at", "closes_at"].forEach(function (name) { C.el(name).value = ""; });
    C.el("quorum_percent").value = "0";
    C.el("allow_change").checked = true;
    document.querySelectorAll("#series-choices input").forEach(function (input) { input.checked = false; });
    options = [{ label_ja: "", label_en: "" }, { label_ja: "", label_en: "" }];
    errors = {};
    optionErrors = {};
    C.say("poll-error", "");
  }

  function startEdit(poll, asNew) {
    clearForm();
    editing = asNew ? null : poll.id;
    ["question_ja", "question_en", "description_ja", "description_en"].forEach(function (name) { C.el(name).value = poll[name] || ""; });
    options = (poll.options || []).map(function (option) { return { label_ja: option.label_ja || "", label_en: option.label_en || "" }; });
    while (options.length < MIN_OPTIONS) options.push({ label_ja: "", label_en: "" });
    if (!asNew) {
      C.el("opens_at").value = C.time.toInput(poll.opens_at);
      C.el("closes_at").value = C.time.toInput(poll.closes_at);
    }
    C.el("quorum_percent").value = String(poll.quorum_percent || 0);
    C.el("allow_change").checked = poll.allow_change !== false;
    const ids = (poll.series || []).map(seriesId);
    render();
    document.querySelectorAll("#series-choices input").forEach(function (input) { input.checked = ids.indexOf(input.value) >= 0; });
    C.el("poll-form").scrollIntoView({ block: "start" });
    C.el("question_ja").focus();
  }

  async function save() {
    const body = values();
    if (!validate(body)) return null;
    C.el("poll-save").disabled = true;
    C.el("poll-submit").disabled = true;
    const saved = editing
      ? await C.townApi("PATCH", "polls/" + encodeURIComponent(editing), { json: body })
      : await C.townApi("POST", "polls", { json: body });
    C.el("poll-save").disabled = false;
    C.el("poll-submit").disabled = false;
    if (!saved.ok) {
      const named = C.fieldErrors(saved);
      Object.keys(named).forEach(function (name) { if (FIELDS.indexOf(name) >= 0) errors[name] = "v.poll." + name; });
      renderErrors();
      C.say("poll-error", refusal(saved), "error");
      return null;
    }
    C.say("poll-error", "");
    editing = saved.body.id;
    return saved.body;
  }

  async function saveDraft(event) {
    event.preventDefault();
    const saved = await save();
    if (!saved) return;
    C.say("poll-message", t("cpoll.saved", { question: question(saved) }), "success");
    await load(page.offset);
  }

  async function submitOne(poll, button) {
    const yes = await C.confirm(t("cpoll.submit.title", { question: question(poll) }), t("cpoll.submit.body", { window: windowText(poll), series: seriesText(poll) }), t("cpoll.submit.yes"));
    if (!yes) return false;
    if (button) button.disabled = true;
    const done = await C.townApi("POST", "polls/" + encodeURIComponent(poll.id) + "/submit");
    if (button) button.disabled = false;
    if (!done.ok) {
      C.say("poll-message", refusal(done), "error");
      C.el("poll-message").focus();
      await load(page.offset);
      return false;
    }
    const status = (done.body && done.body.status) || "";
    C.say("poll-message", t(status === "pending_approval" ? "cpoll.submitted.pending" : "cpoll.submitted.scheduled", { question: question(poll), from: C.time.format(poll.opens_at) }), "success");
    C.el("poll-message").focus();
    await Promise.all([load(page.offset), loadPending()]);
    return true;
  }

  async function saveAndSubmit() {
    const saved = await save();
    if (!saved) return;
    if (await submitOne(saved, C.el("poll-submit"))) {
      clearForm();
      render();
    } else await load(page.offset);
  }

  async function cancelOne(poll, button) {
    const yes = await C.confirm(t("cpoll.cancel.title", { question: question(poll) }), t(poll.status === "open" ? "cpoll.cancel.body.open" : "cpoll.cancel.body"), t("cpoll.cancel"));
    if (!yes) return;
    button.disabled = true;
    const done = await C.townApi("POST", "polls/" + encodeURIComponent(poll.id) + "/cancel");
    button.disabled = false;
    if (!done.ok) C.say("poll-message", refusal(done), "error");
    else C.say("poll-message", t("cpoll.cancelled", { question: question(poll) }), "success");
    C.el("poll-message").focus();
    if (editing === poll.id) clearForm();
    await Promise.all([load(page.offset), loadPending()]);
  }

  async function decide(poll, approve, reason, button) {
    const yes = approve
      ? await C.confirm(t("cpoll.approve.title", { question: question(poll) }), t("cpoll.approve.body", { window: windowText(poll) }), t("cpoll.approve"))
      : await C.confirm(t("cpoll.reject.title", { question: question(poll) }), t("cpoll.reject.body"), t("cpoll.reject"));
    if (!yes) return;
    button.disabled = true;
    const path = "polls/" + encodeURIComponent(poll.id) + "/" + (approve ? "approve" : "reject");
    const done = await C.townApi("POST", path, approve ? {} : { json: { reason: reason } });
    button.disabled = false;
    if (!done.ok) C.say("poll-message", refusal(done), "error");
    else {
      delete reasons[poll.id];
      C.say("poll-message", t(approve ? "cpoll.approved" : "cpoll.rejected", { question: question(poll) }), "success");
    }
    C.el("poll-message").focus();
    await Promise.all([load(page.offset), loadPending()]);
  }

  // ----- loading -----

  async function load(offset) {
    const found = await C.townApi("GET", "polls", { query: { limit: LIMIT, offset: offset } });
    if (!found.ok) return C.fail(found);
    page = { items: found.body.items || [], total: found.body.total || 0, offset: offset };
    if (shown) {
      const fresh = page.items.find(function (poll) { return poll.id === shown.poll.id; });
      if (fresh && fresh.status !== shown.poll.status) return showDetail(fresh.id).then(function () { return load(offset); });
    }
    render();
    clearTimeout(timer);
    // An open poll's turnout moves, and a poll opens or closes on its own: look again.
    if (page.items.some(function (poll) { return poll.status === "open" || poll.status === "scheduled"; })) {
      timer = setTimeout(function () { load(page.offset); }, 15000);
    }
  }

  async function loadPending() {
    const found = await C.townApi("GET", "polls", { query: { status: "pending_approval", limit: 50 } });
    if (!found.ok) return;
    pending = (found.body.items || []).filter(function (poll) { return poll.status === "pending_approval"; });
    renderPending();
  }

  async function loadDrops() {
    const found = await C.townApi("GET", "drops", { query: { limit: 100 } });
    drops = found.ok && found.body ? found.body.items || [] : [];
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("polls", function () {
      const form = C.el("poll-form");
      form.hidden = !C.can(EDITORS);
      form.addEventListener("submit", saveDraft);
      C.el("poll-submit").addEventListener("click", saveAndSubmit);
      C.el("poll-new").addEventListener("click", function () { clearForm(); render(); C.el("question_ja").focus(); });
      C.el("option-add").addEventListener("click", function () {
        if (options.length >= MAX_OPTIONS) return;
        options.push({ label_ja: "", label_en: "" });
        delete errors.options;
        renderOptions();
        renderErrors();
        C.el("option-ja-" + (options.length - 1)).focus();
      });
      C.el("detail-close").addEventListener("click", function () { shown = null; render(); });
      form.addEventListener("input", function (event) {
        const name = event.target.name;
        if (errors[name]) { delete errors[name]; renderErrors(); }
      });
      F.i18n.onChange(render);
      loadDrops();
      const wanted = new URLSearchParams(location.search).get("id");
      load(0).then(function () { if (wanted) showDetail(wanted); });
      loadPending();
    }, ["owner", "editor", "analyst", "moderator"]);
  });
})();
