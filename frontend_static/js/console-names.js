// Name moderation: the proposals the primary winners made (name, reading, their reason), with
// a trademark-search reminder (J-PlatPat) and the winner's earlier proposals for the term;
// moderators (and owners) approve, or reject with a reason from the town's list and a note.
// Both go on chain. The list of reasons is kept here too. Editors read, and change nothing.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const LIMIT = 20;
  const MODERATORS = ["owner", "moderator"];
  let page = { items: [], total: 0, offset: 0 };
  let reasons = [];
  let state = "pending";
  let poll = null;
  let reasonErrors = {};
  const notes = {}; // proposal id → {code, note} typed but not sent (kept across re-renders)

  function en() { return F.i18n.current() === "en"; }

  function label(reason) { return reason ? (en() ? reason.label_en || reason.label_ja : reason.label_ja) : ""; }

  function day(iso) { return C.time.format(iso).slice(0, 10); }

  function historyList(item) {
    const list = item.history || [];
    if (!list.length) return C.make("p", { className: "hint", text: t("names.history.none") });
    return C.make("ul", { className: "history" }, list.map(function (earlier) {
      const text = t("names.history.item", { name: earlier.name, reading: earlier.reading, at: C.time.format(earlier.proposed_at) });
      const li = C.make("li", {}, [C.statusBadge("pstate", earlier.state), " ", text]);
      if (earlier.reject_reason) li.append(C.make("div", { className: "hint", text: t("names.history.reason", { reason: label(earlier.reject_reason) }) }));
      return li;
    }));
  }

  function rejectForm(item) {
    const kept = notes[item.id] || { code: "", note: "" };
    const idBase = "reject-" + item.id;
    const select = C.make("select", { id: idBase + "-code", name: "reason_code", "aria-describedby": idBase + "-code-error" });
    select.append(C.make("option", { value: "", text: t("names.reason.choose") }));
    reasons.filter(function (r) { return r.active; }).forEach(function (r) {
      select.append(C.make("option", { value: String(r.code), text: label(r) }));
    });
    select.value = kept.code;
    const note = C.make("textarea", { id: idBase + "-note", name: "note", maxlength: "1000", "aria-describedby": idBase + "-note-hint" });
    note.value = kept.note;
    const error = C.make("p", { className: "field-error", id: idBase + "-code-error", hidden: true });
    const button = C.make("button", { type: "submit", className: "secondary", text: t("names.reject") });
    const form = C.make("form", { className: "reject-form", novalidate: true }, [
      C.make("div", { className: "field" }, [
        C.make("label", { htmlFor: select.id, text: t("names.reason") }), select, error,
      ]),
      C.make("div", { className: "field" }, [
        C.make("label", { htmlFor: note.id, text: t("names.note") }), note,
        C.make("p", { className: "hint", id: idBase + "-note-hint", text: t("names.note.hint") }),
      ]),
      button,
    ]);
    select.addEventListener("change", function () { notes[item.id] = { code: select.value, note: note.value }; error.hidden = true; select.removeAttribute("aria-invalid"); });
    note.addEventListener("input", function () { notes[item.id] = { code: select.value, note: note.value }; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!select.value) {
        error.hidden = false;
        error.textContent = t("names.reason.required");
        select.setAttribute("aria-invalid", "true");
        return select.focus();
      }
      decide(item, false, { reason_code: Number(select.value), note: note.value.trim() }, button);
    });
    return form;
  }

  function proposalCard(item) {
    const reminder = item.trademark_search || {};
    const decided = item.state !== "pending" && item.state !== "relaying";
    const card = C.make("li", { className: "panel proposal-card", id: "proposal-" + item.id }, [
      C.make("div", { className: "toolbar" }, [
        C.make("h3", { className: "proposal-park", text: t("names.for_park", { park: item.park_name, start: day(item.term_start), end: day(item.term_end) }) }),
        C.make("span", { className: "spacer" }),
        C.statusBadge("pstate", item.deciding ? "deciding" : item.state),
      ]),
      C.make("p", { className: "proposed-name", text: item.name }),
      C.make("dl", { className: "kv" }, [
        C.make("dt", { text: t("names.reading") }), C.make("dd", { text: item.reading || "—" }),
        C.make("dt", { text: t("names.why") }), C.make("dd", { className: "pre", text: item.reason || t("names.why.none") }),
        C.make("dt", { text: t("names.proposed_at") }), C.make("dd", { text: C.time.format(item.proposed_at) }),
        C.make("dt", { text: t("names.proposer") }), C.make("dd", { className: "mono", text: item.proposer }),
      ]),
    ]);
    if (item.state === "rejected") {
      card.append(C.make("p", { text: t("names.rejected_for", { reason: label(item.reject_reason) }) + (item.reject_note ? "（" + item.reject_note + "）" : "") }));
    }
    if (item.decided_by) card.append(C.make("p", { className: "hint", text: t("names.decided_by", { who: item.decided_by }) }));
    if (item.chain_error) card.append(C.make("p", { className: "field-error", text: t("names.chain_error", { error: item.chain_error }) }));
    card.append(C.make("h4", { text: t("names.history") }), historyList(item));
    if (!decided) {
      card.append(C.make("div", { className: "notice trademark" }, [
        C.make("p", { text: en() ? reminder.note_en || t("names.trademark") : reminder.note_ja || t("names.trademark") }),
        C.make("a", { href: reminder.url || "https://www.j-platpat.inpit.go.jp/", target: "_blank", rel: "noopener", text: t("names.trademark.link") }),
      ]));
    }
    if (item.state === "pending" && !item.deciding && C.can(MODERATORS)) {
      const approve = C.make("button", { type: "button", className: "primary", text: t("names.approve") });
      approve.addEventListener("click", function () { decide(item, true, null, approve); });
      card.append(C.make("div", { className: "decide" }, [
        C.make("div", { className: "actions" }, [approve]),
        C.make("details", { className: "reject-box", open: !!(notes[item.id] && notes[item.id].code) }, [
          C.make("summary", { text: t("names.reject.open") }),
          rejectForm(item),
        ]),
      ]));
    } else if (item.state === "pending" && !C.can(MODERATORS)) {
      card.append(C.make("p", { className: "hint", text: t("names.moderators_only") }));
    }
    return card;
  }

  function render() {
    const list = C.el("queue");
    list.replaceChildren.apply(list, page.items.map(proposalCard));
    C.el("queue-empty").hidden = page.items.length !== 0;
    const empty = C.el("queue-empty");
    delete empty.dataset.i18n;
    empty.textContent = t(state === "pending" ? "names.empty" : "names.empty.other");
    const nav = C.el("queue-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: page.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: page.offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, page.offset - LIMIT)); });
    next.addEventListener("click", function () { load(page.offset + LIMIT); });
    nav.replaceChildren(prev, next);
    renderReasons();
  }

  function renderReasons() {
    C.el("reasons-table").hidden = reasons.length === 0;
    C.el("reasons-rows").replaceChildren.apply(C.el("reasons-rows"), reasons.map(function (r) {
      return C.make("tr", {}, [
        C.make("td", { "data-label": t("col.code"), className: "num", text: String(r.code) }),
        C.make("td", { "data-label": t("col.label_ja"), text: r.label_ja + (r.active ? "" : t("names.reason.inactive")) }),
        C.make("td", { "data-label": t("col.label_en"), text: r.label_en }),
      ]);
    }));
    ["label_ja", "label_en"].forEach(function (name) { C.fieldMessage(name, reasonErrors[name] ? t(reasonErrors[name]) : ""); });
  }

  async function load(offset) {
    const found = await C.townApi("GET", "name-proposals", { query: { state: state, limit: LIMIT, offset: offset } });
    if (!found.ok) return C.fail(found);
    page = { items: found.body.items, total: found.body.total, offset: offset };
    render();
    clearTimeout(poll);
    // A decision on its way to the chain, or a proposal still being relayed: look again.
    if (page.items.some(function (item) { return item.deciding || item.state === "relaying"; })) {
      poll = setTimeout(function () { load(page.offset); }, 3000);
    }
  }

  async function loadReasons() {
    const found = await C.townApi("GET", "name-reject-reasons");
    if (!found.ok) return;
    reasons = found.body.items || [];
    render();
  }

  async function decide(item, approve, body, button) {
    const yes = approve
      ? await C.confirm(t("names.approve.title", { name: item.name }), t("names.approve.body", { park: item.park_name, start: day(item.term_start), end: day(item.term_end) }), t("names.approve"))
      : await C.confirm(t("names.reject.title", { name: item.name }), t("names.reject.body"), t("names.reject"));
    if (!yes) return;
    button.disabled = true;
    C.say("names-message", t("names.sending"), "");
    const done = await C.townApi("POST", "name-proposals/" + encodeURIComponent(item.id) + "/" + (approve ? "approve" : "reject"), body ? { json: body } : {});
    button.disabled = false;
    if (!done.ok) {
      C.say("names-message", C.errorText(done), "error");
      C.el("names-message").focus();
      return load(page.offset);
    }
    delete notes[item.id];
    const decision = done.body && done.body.decision;
    const key = decision === "sending" ? "names.sent" : approve ? "names.approved" : "names.rejected";
    C.say("names-message", t(key, { name: item.name, park: item.park_name }), decision === "sending" ? "" : "success");
    C.el("names-message").focus();
    await load(page.offset);
  }

  async function addReason(event) {
    event.preventDefault();
    const body = { label_ja: C.el("label_ja").value.trim(), label_en: C.el("label_en").value.trim() };
    reasonErrors = {};
    if (!body.label_ja) reasonErrors.label_ja = "v.required";
    if (!body.label_en) reasonErrors.label_en = "v.required";
    renderReasons();
    const first = ["label_ja", "label_en"].find(function (name) { return reasonErrors[name]; });
    if (first) return C.el(first).focus();
    C.el("reason-submit").disabled = true;
    const made = await C.townApi("POST", "name-reject-reasons", { json: body });
    C.el("reason-submit").disabled = false;
    if (!made.ok) return C.say("reason-error", C.errorText(made), "error");
    C.say("reason-error", "");
    C.el("label_ja").value = "";
    C.el("label_en").value = "";
    C.say("names-message", t("names.reason.added", { label: made.body.label_ja }), "success");
    await loadReasons();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("names", function () {
      const wanted = new URLSearchParams(location.search).get("state");
      if (["pending", "approved", "rejected", "all"].indexOf(wanted) >= 0) state = wanted;
      C.el("state-filter").value = state;
      C.el("state-filter").addEventListener("change", function () {
        state = C.el("state-filter").value;
        const url = new URL(location.href);
        url.searchParams.set("state", state);
        history.replaceState(null, "", url.pathname + url.search);
        load(0);
      });
      C.el("reason-form").hidden = !C.can(MODERATORS);
      C.el("reason-form").addEventListener("submit", addReason);
      C.el("reason-form").addEventListener("input", function (event) {
        if (reasonErrors[event.target.name]) { delete reasonErrors[event.target.name]; renderReasons(); }
      });
      F.i18n.onChange(render);
      load(0);
      loadReasons();
    }, ["owner", "editor", "moderator"]);
  });
})();
