// Announcements to card holders: an editor writes one in Japanese and English, chooses which
// series' holders get it (none: all of the town's), sends it now or at a time in Japan time,
// previews it as "my card" shows it, and submits it; a moderator (or owner) approves it or
// sends it back with a reason when the town asks for approval. The list says where each one
// is (status words, not codes) and how many holders it reached. Analysts only read.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const LIMIT = 20;
  const EDITORS = ["owner", "editor"];
  const MODERATORS = ["owner", "moderator"];
  const FIELDS = ["title_ja", "title_en", "body_ja", "body_en", "series", "send_at"];
  let page = { items: [], total: 0, offset: 0 };
  let pending = [];
  let drops = [];
  let editing = null; // the draft being edited (its id), or null for a new one
  let errors = {};
  let previewLang = "ja";
  let poll = null;
  const reasons = {}; // announcement id → a rejection reason typed but not sent

  function en() { return F.i18n.current() === "en"; }
  function title(item) { return en() ? (item.title_en || item.title_ja) : (item.title_ja || item.title_en); }

  // A refusal in words: this page's own codes first, then the console's.
  // Written by the signed-in member: the server lets someone else approve it (a second pair of eyes).
  function mine(item) {
    const me = C.state().me || {};
    const by = item.created_by;
    if (by === null || by === undefined) return false;
    if (typeof by === "object") return (by.email && by.email === me.email) || (by.id !== undefined && by.id === me.id);
    return by === me.email || (me.id !== undefined && String(by) === String(me.id));
  }

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

  function seriesText(item) {
    const ids = item.series || [];
    if (!ids.length) return t("ann.series.all");
    return ids.map(function (entry) {
      const id = seriesId(entry);
      const drop = drops.find(function (d) { return String(d.id) === String(id); }) ||
        (typeof entry === "object" ? { title_ja: entry.title_ja, title_en: entry.title_en } : null);
      return drop ? C.dropTitle(drop) : "#" + id;
    }).join("、");
  }

  function whenText(item) {
    if (item.status === "sent" || item.status === "sending") return C.time.format(item.sent_at || item.started_at);
    return item.send_at ? C.time.format(item.send_at) : t("ann.when.now");
  }

  // How many holders it reached: the API's delivery counts, whatever they are called.
  function counts(item) {
    const d = item.deliveries || item.delivery || {};
    const sent = d.sent !== undefined ? d.sent : item.sent_count;
    const skipped = d.skipped !== undefined ? d.skipped : item.skipped_count;
    const total = item.recipients !== undefined && item.recipients !== null ? item.recipients : d.total;
    return { sent: sent, skipped: skipped, total: total };
  }

  function countCell(item) {
    const n = counts(item);
    if (n.total === undefined || n.total === null) return [C.make("span", { className: "hint", text: "—" })];
    const box = C.make("div", {}, [C.make("div", { text: t("ann.sent.of", { sent: C.count(n.sent || 0), total: C.count(n.total) }) })]);
    if (n.skipped) box.append(C.make("div", { className: "hint", text: t("ann.sent.skipped", { n: C.count(n.skipped) }) }));
    return [box];
  }

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function actions(item) {
    const box = C.make("div", { className: "row-actions" });
    // A draft, or one a moderator sent back, is edited and submitted again.
    if (C.can(EDITORS) && (item.status === "draft" || item.status === "rejected")) {
      const edit = C.make("button", { type: "button", className: "secondary small", text: t(item.status === "rejected" ? "ann.rewrite" : "ann.edit") });
      edit.addEventListener("click", function () { startEdit(item); });
      const submit = C.make("button", { type: "button", className: "primary small", text: t("ann.submit.short") });
      submit.addEventListener("click", function () { submitOne(item, submit); });
      box.append(edit, submit);
    }
    if (C.can(EDITORS) && ["draft", "pending_approval", "scheduled", "rejected"].indexOf(item.status) >= 0) {
      const cancel = C.make("button", { type: "button", className: "link-button", text: t("ann.cancel") });
      cancel.addEventListener("click", function () { cancelOne(item, cancel); });
      box.append(cancel);
    }
    return box;
  }

  function render() {
    const rows = page.items.map(function (item) {
      const name = C.make("div", {}, [
        C.make("strong", { text: title(item) }),
        C.make("div", { className: "hint", text: seriesText(item) }),
      ]);
      if (item.status === "rejected" && item.reject_reason) {
        name.append(C.make("div", { className: "field-error", text: t("ann.rejected_for", { reason: item.reject_reason }) }));
      }
      return C.make("tr", { id: "ann-" + item.id, "aria-current": editing === item.id ? "true" : null }, [
        cell(t("col.ann_title"), [name]),
        cell(t("col.ann_status"), [C.statusBadge("astate", item.status)]),
        cell(t("col.ann_when"), [C.make("span", { text: whenText(item) })]),
        cell(t("col.ann_sent"), countCell(item), "num"),
        cell(t("col.actions"), [actions(item)], "wide"),
      ]);
    });
    C.el("ann-rows").replaceChildren.apply(C.el("ann-rows"), rows);
    C.el("ann-table").hidden = page.items.length === 0;
    C.el("ann-empty").hidden = page.items.length !== 0;
    const nav = C.el("ann-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: page.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: page.offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, page.offset - LIMIT)); });
    next.addEventListener("click", function () { load(page.offset + LIMIT); });
    nav.replaceChildren(prev, next);
    renderPending();
    renderSeries();
    renderErrors();
    renderPreview();
    C.el("form-heading").textContent = t(editing ? "ann.editing" : "ann.new");
    C.el("ann-new").hidden = !editing;
  }

  // ----- the moderator's queue -----

  function postCard(item, lang) {
    const ja = lang !== "en";
    return C.make("article", { className: "post-card", lang: lang }, [
      C.make("h4", { text: ja ? item.title_ja : item.title_en }),
      C.make("p", { className: "pre", text: ja ? item.body_ja : item.body_en }),
    ]);
  }

  function rejectForm(item) {
    const id = "reject-" + item.id;
    const reason = C.make("textarea", { id: id, name: "reason", maxlength: "1000", required: true, "aria-describedby": id + "-error" });
    reason.value = reasons[item.id] || "";
    const error = C.make("p", { className: "field-error", id: id + "-error", hidden: true });
    const button = C.make("button", { type: "submit", className: "secondary", text: t("ann.reject") });
    const form = C.make("form", { className: "reject-form", novalidate: true }, [
      C.make("div", { className: "field" }, [C.make("label", { htmlFor: id, text: t("ann.reject.reason") }), reason, error]),
      button,
    ]);
    reason.addEventListener("input", function () { reasons[item.id] = reason.value; error.hidden = true; reason.removeAttribute("aria-invalid"); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!reason.value.trim()) {
        error.hidden = false;
        error.textContent = t("ann.reject.required");
        reason.setAttribute("aria-invalid", "true");
        return reason.focus();
      }
      decide(item, false, reason.value.trim(), button);
    });
    return form;
  }

  function pendingCard(item) {
    const card = C.make("li", { className: "panel", id: "pending-" + item.id }, [
      C.make("div", { className: "toolbar" }, [
        C.make("h3", { text: title(item) }),
        C.make("span", { className: "spacer" }),
        C.statusBadge("astate", item.status),
      ]),
      C.make("dl", { className: "kv" }, [
        C.make("dt", { text: t("ann.to") }), C.make("dd", { text: seriesText(item) }),
        C.make("dt", { text: t("ann.when") }), C.make("dd", { text: whenText(item) }),
      ]),
      C.make("div", { className: "grid-2 post-pair" }, [postCard(item, "ja"), postCard(item, "en")]),
    ]);
    if (C.can(MODERATORS) && mine(item)) {
      card.append(C.make("p", { className: "hint", text: t("ann.own") }));
    } else if (C.can(MODERATORS)) {
      const approve = C.make("button", { type: "button", className: "primary", text: t("ann.approve") });
      approve.addEventListener("click", function () { decide(item, true, null, approve); });
      card.append(C.make("div", { className: "decide" }, [
        C.make("div", { className: "actions" }, [approve]),
        C.make("details", { className: "reject-box", open: !!reasons[item.id] }, [
          C.make("summary", { text: t("ann.reject.open") }),
          rejectForm(item),
        ]),
      ]));
    } else {
      card.append(C.make("p", { className: "hint", text: t("ann.moderators_only") }));
    }
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

  function renderErrors() {
    FIELDS.forEach(function (name) { C.fieldMessage(name, errors[name] ? t(errors[name]) : ""); });
  }

  function values() {
    const body = {};
    ["title_ja", "title_en", "body_ja", "body_en"].forEach(function (name) { body[name] = C.el(name).value.trim(); });
    body.series = chosenSeries().map(Number);
    body.send_at = C.el("when-later").checked ? C.time.fromInput(C.el("send_at").value) : null;
    return body;
  }

  function validate(body) {
    errors = {};
    ["title_ja", "title_en", "body_ja", "body_en"].forEach(function (name) { if (!body[name]) errors[name] = "v.required"; });
    if (C.el("when-later").checked) {
      if (!body.send_at) errors.send_at = "v.ann.send_at";
      else if (C.time.ms(body.send_at) <= Date.now()) errors.send_at = "v.ann.send_at_past";
    }
    renderErrors();
    const first = FIELDS.find(function (name) { return errors[name]; });
    if (first) {
      const input = first === "series" ? document.querySelector("#series-choices input") : C.el(first);
      if (input) input.focus();
      return false;
    }
    return true;
  }

  function renderPreview() {
    const box = C.el("preview");
    if (box.hidden) return;
    const body = values();
    const ja = previewLang === "ja";
    C.el("preview-ja").setAttribute("aria-pressed", String(ja));
    C.el("preview-en").setAttribute("aria-pressed", String(!ja));
    const card = C.el("preview-card");
    card.lang = previewLang;
    card.replaceChildren(
      C.make("p", { className: "hint", text: (ja ? "お知らせ · " : "Announcement · ") + (body.send_at ? C.time.format(body.send_at) : C.time.format(new Date().toISOString())) }),
      C.make("h4", { text: (ja ? body.title_ja : body.title_en) || "—" }),
      C.make("p", { className: "pre", text: (ja ? body.body_ja : body.body_en) || "—" }),
    );
  }

  function clearForm() {
    editing = null;
    ["title_ja", "title_en", "body_ja", "body_en", "send_at"].forEach(function (name) { C.el(name).value = ""; });
    document.querySelectorAll("#series-choices input").forEach(function (input) { input.checked = false; });
    C.el("when-now").checked = true;
    C.el("send-at-box").hidden = true;
    C.el("preview").hidden = true;
    errors = {};
    C.say("ann-error", "");
  }

  function startEdit(item, asNew) {
    clearForm();
    editing = asNew ? null : item.id;
    ["title_ja", "title_en", "body_ja", "body_en"].forEach(function (name) { C.el(name).value = item[name] || ""; });
    const ids = (item.series || []).map(seriesId);
    document.querySelectorAll("#series-choices input").forEach(function (input) { input.checked = ids.indexOf(input.value) >= 0; });
    const later = !!item.send_at && !asNew;
    C.el(later ? "when-later" : "when-now").checked = true;
    C.el("send-at-box").hidden = !later;
    C.el("send_at").value = later ? C.time.toInput(item.send_at) : "";
    render();
    C.el("ann-form").scrollIntoView({ block: "start" });
    C.el("title_ja").focus();
  }

  // Saves the form (a new draft or the edited one). Answers the saved announcement or null.
  async function save() {
    const body = values();
    if (!validate(body)) return null;
    C.el("ann-save").disabled = true;
    C.el("ann-submit").disabled = true;
    const saved = editing
      ? await C.townApi("PATCH", "announcements/" + encodeURIComponent(editing), { json: body })
      : await C.townApi("POST", "announcements", { json: body });
    C.el("ann-save").disabled = false;
    C.el("ann-submit").disabled = false;
    if (!saved.ok) {
      const named = C.fieldErrors(saved);
      Object.keys(named).forEach(function (name) { if (FIELDS.indexOf(name) >= 0) errors[name] = "v.ann." + name; });
      renderErrors();
      C.say("ann-error", refusal(saved), "error");
      return null;
    }
    C.say("ann-error", "");
    editing = saved.body.id;
    return saved.body;
  }

  async function saveDraft(event) {
    event.preventDefault();
    const saved = await save();
    if (!saved) return;
    C.say("ann-message", t("ann.saved", { title: title(saved) }), "success");
    await load(page.offset);
  }

  async function submitOne(item, button) {
    const yes = await C.confirm(t("ann.submit.title", { title: title(item) }), t("ann.submit.body", { to: seriesText(item), when: whenText(item) }), t("ann.submit.yes"));
    if (!yes) return false;
    if (button) button.disabled = true;
    const done = await C.townApi("POST", "announcements/" + encodeURIComponent(item.id) + "/submit");
    if (button) button.disabled = false;
    if (!done.ok) {
      C.say("ann-message", refusal(done), "error");
      C.el("ann-message").focus();
      await load(page.offset);
      return false;
    }
    const status = (done.body && done.body.status) || "";
    C.say("ann-message", t(status === "pending_approval" ? "ann.submitted.pending" : "ann.submitted.scheduled", { title: title(item) }), "success");
    C.el("ann-message").focus();
    await Promise.all([load(page.offset), loadPending()]);
    return true;
  }

  async function saveAndSubmit() {
    const saved = await save();
    if (!saved) return;
    const sent = await submitOne(saved, C.el("ann-submit"));
    if (sent) {
      clearForm();
      render();
    } else await load(page.offset);
  }

  async function cancelOne(item, button) {
    const yes = await C.confirm(t("ann.cancel.title", { title: title(item) }), t("ann.cancel.body"), t("ann.cancel"));
    if (!yes) return;
    button.disabled = true;
    const done = await C.townApi("POST", "announcements/" + encodeURIComponent(item.id) + "/cancel");
    button.disabled = false;
    if (!done.ok) C.say("ann-message", refusal(done), "error");
    else C.say("ann-message", t("ann.cancelled", { title: title(item) }), "success");
    C.el("ann-message").focus();
    if (editing === item.id) clearForm();
    await Promise.all([load(page.offset), loadPending()]);
  }

  async function decide(item, approve, reason, button) {
    const yes = approve
      ? await C.confirm(t("ann.approve.title", { title: title(item) }), t("ann.approve.body", { to: seriesText(item), when: whenText(item) }), t("ann.approve"))
      : await C.confirm(t("ann.reject.title", { title: title(item) }), t("ann.reject.body"), t("ann.reject"));
    if (!yes) return;
    button.disabled = true;
    const path = "announcements/" + encodeURIComponent(item.id) + "/" + (approve ? "approve" : "reject");
    const done = await C.townApi("POST", path, approve ? {} : { json: { reason: reason } });
    button.disabled = false;
    if (!done.ok) C.say("ann-message", refusal(done), "error");
    else {
      delete reasons[item.id];
      C.say("ann-message", t(approve ? "ann.approved" : "ann.rejected", { title: title(item) }), "success");
    }
    C.el("ann-message").focus();
    await Promise.all([load(page.offset), loadPending()]);
  }

  // ----- loading -----

  async function load(offset) {
    const found = await C.townApi("GET", "announcements", { query: { limit: LIMIT, offset: offset } });
    if (!found.ok) return C.fail(found);
    page = { items: found.body.items || [], total: found.body.total || 0, offset: offset };
    render();
    clearTimeout(poll);
    // One on its way to the holders (or due within the minute): look again for its counts.
    const soon = page.items.some(function (item) {
      return item.status === "sending" || (item.status === "scheduled" && (!item.send_at || C.time.ms(item.send_at) < Date.now() + 60000));
    });
    if (soon) poll = setTimeout(function () { load(page.offset); }, 3000);
  }

  async function loadPending() {
    const found = await C.townApi("GET", "announcements", { query: { status: "pending_approval", limit: 50 } });
    if (!found.ok) return;
    pending = (found.body.items || []).filter(function (item) { return item.status === "pending_approval"; });
    renderPending();
  }

  async function loadDrops() {
    const found = await C.townApi("GET", "drops", { query: { limit: 100 } });
    drops = found.ok && found.body ? found.body.items || [] : [];
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("announcements", function () {
      const form = C.el("ann-form");
      form.hidden = !C.can(EDITORS);
      form.addEventListener("submit", saveDraft);
      C.el("ann-submit").addEventListener("click", saveAndSubmit);
      C.el("ann-new").addEventListener("click", function () { clearForm(); render(); C.el("title_ja").focus(); });
      C.el("ann-preview").addEventListener("click", function () {
        C.el("preview").hidden = false;
        renderPreview();
        C.el("preview").scrollIntoView({ block: "nearest" });
      });
      C.el("preview-ja").addEventListener("click", function () { previewLang = "ja"; renderPreview(); });
      C.el("preview-en").addEventListener("click", function () { previewLang = "en"; renderPreview(); });
      form.addEventListener("change", function (event) {
        if (event.target.name === "when") C.el("send-at-box").hidden = !C.el("when-later").checked;
      });
      form.addEventListener("input", function (event) {
        const name = event.target.name;
        if (errors[name]) { delete errors[name]; renderErrors(); }
        renderPreview();
      });
      F.i18n.onChange(render);
      loadDrops();
      load(0);
      loadPending();
    }, ["owner", "editor", "analyst", "moderator"]);
  });
})();
