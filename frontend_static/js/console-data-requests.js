// The town's queue of people's deletion requests (APPI), owners only: most urgent first, each
// with its due date (past due in red), and two answers: erase (POST …/complete, which erases
// what the town holds about the requester in one step, audited with counts only) or decline
// with a reason the requester reads (POST …/decline). Both ask first. Downloads people made
// are only counted here (GET ?kind=export): they carry no e-mail.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const LIMIT = 50;
  const CODES = ["not_pending", "unfinished", "request_not_found"];
  let page = { items: [], total: 0, offset: 0, overdue: 0 };
  let exportsTotal = null;

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function refusal(result) {
    const code = C.errorCode(result);
    if (CODES.indexOf(code) >= 0) {
      const detail = result.body && result.body.error ? result.body.error.message : "";
      return t("dr.err." + code, { detail: detail });
    }
    return C.errorText(result);
  }

  function dueCell(item) {
    const due = C.make("span", { text: C.time.format(item.due_at) });
    if (item.overdue) due.setAttribute("style", "color: #a12a1c; font-weight: 700;");
    const children = [due];
    if (item.overdue) {
      children.push(document.createTextNode(" "));
      children.push(C.make("span", { className: "badge danger overdue", text: t("dr.overdue") }));
    }
    return cell(t("dr.col.due"), children, item.overdue ? "overdue" : "");
  }

  function actions(item) {
    if (item.status !== "pending") {
      return [C.make("span", { className: "hint", text: item.outcome || "—" })];
    }
    const erase = C.make("button", { type: "button", className: "primary small danger", text: t("dr.complete") });
    erase.addEventListener("click", function () { complete(item, erase); });
    const reasonId = "reason-" + item.request_id;
    const reason = C.make("textarea", { id: reasonId, rows: 2, maxLength: 1000 });
    const decline = C.make("button", { type: "button", className: "secondary small", text: t("dr.decline.submit") });
    decline.addEventListener("click", function () { declineIt(item, reason, decline); });
    const details = C.make("details", { className: "decline" }, [
      C.make("summary", { text: t("dr.decline") }),
      C.make("label", { htmlFor: reasonId, text: t("dr.decline.reason") }),
      reason,
      decline,
    ]);
    return [C.make("div", { className: "row-actions" }, [erase, details])];
  }

  function render() {
    const rows = page.items.map(function (item) {
      const tr = C.make("tr", { "data-request": item.request_id }, [
        cell(t("dr.col.requested"), [C.time.format(item.requested_at)]),
        dueCell(item),
        cell(t("dr.col.who"), [C.make("span", { className: "mono", text: item.email || t("dr.erased_person") })]),
        cell(t("dr.col.status"), [C.statusBadge("dr.status", item.status)]),
        cell(t("dr.col.actions"), actions(item), "wide"),
      ]);
      return tr;
    });
    C.el("dr-rows").replaceChildren.apply(C.el("dr-rows"), rows);
    C.el("dr-table").hidden = page.items.length === 0;
    C.el("dr-empty").hidden = page.items.length !== 0;
    C.el("dr-total").textContent = t("dr.total", { total: C.count(page.total), overdue: C.count(page.overdue) });
    C.el("dr-exports").textContent = exportsTotal === null ? "" : t("dr.exports", { total: C.count(exportsTotal) });
    const nav = C.el("dr-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.newer"), disabled: page.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.older"), disabled: page.offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, page.offset - LIMIT)); });
    next.addEventListener("click", function () { load(page.offset + LIMIT); });
    nav.replaceChildren(prev, next);
  }

  async function load(offset) {
    const status = C.el("dr-status").value;
    const query = { limit: LIMIT, offset: offset };
    if (status) query.status = status;
    const [found, exported] = await Promise.all([
      C.townApi("GET", "data-requests", { query: query }),
      C.townApi("GET", "data-requests", { query: { kind: "export", limit: 1 } }),
    ]);
    if (!found.ok) return C.fail(found);
    C.say("page-error", "");
    page = { items: found.body.items, total: found.body.total, offset: offset, overdue: found.body.overdue };
    exportsTotal = exported.ok ? exported.body.total : null;
    render();
  }

  async function complete(item, button) {
    const yes = await C.confirm(t("dr.complete.title"), t("dr.complete.body", { who: item.email || "" }), t("dr.complete"));
    if (!yes) return;
    button.disabled = true;
    const done = await C.townApi("POST", "data-requests/" + encodeURIComponent(item.request_id) + "/complete");
    button.disabled = false;
    if (!done.ok) return C.say("dr-message", refusal(done), "error");
    C.say("dr-message", t("dr.completed", { outcome: done.body.outcome }), "success");
    await load(page.offset);
  }

  async function declineIt(item, reason, button) {
    const text = reason.value.trim();
    if (!text) {
      C.say("dr-message", t("dr.decline.needed"), "error");
      reason.focus();
      return;
    }
    const yes = await C.confirm(t("dr.decline.title"), t("dr.decline.body", { reason: text }), t("dr.decline.submit"));
    if (!yes) return;
    button.disabled = true;
    const done = await C.townApi("POST", "data-requests/" + encodeURIComponent(item.request_id) + "/decline", {
      json: { reason: text },
    });
    button.disabled = false;
    if (!done.ok) return C.say("dr-message", refusal(done), "error");
    C.say("dr-message", t("dr.declined"), "success");
    await load(page.offset);
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("data-requests", function () {
      C.el("dr-status").addEventListener("change", function () { load(0); });
      C.el("dr-filters").addEventListener("submit", function (event) { event.preventDefault(); load(0); });
      F.i18n.onChange(render);
      load(0);
    }, ["owner"]);
  });
})();
