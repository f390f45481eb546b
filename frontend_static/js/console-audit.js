// The audit log of the town, newest first, optionally for one object (?target_type=&target_id=,
// which the drop and order pages link to). Each row says who did what to what, and which
// fields changed (before → after); the full record is one click away.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const LIMIT = 50;
  let page = { items: [], total: 0, offset: 0 };

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function label(prefix, value) {
    const key = prefix + value;
    const text = t(key);
    return text === key ? value : text;
  }

  function short(value) {
    if (value === null || value === undefined) return "—";
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return text.length > 80 ? text.slice(0, 77) + "…" : text;
  }

  // A state in words ("draft" → 下書き) where the console has a name for it.
  function value(row, name, v) {
    if (name === "status" && typeof v === "string") {
      const kind = row.target_type === "drop" ? "dstatus." : row.target_type === "order" ? "ostatus." : "";
      if (kind && t(kind + v) !== kind + v) return t(kind + v);
    }
    if (name === "role" && typeof v === "string" && t("role." + v) !== "role." + v) return t("role." + v);
    return short(v);
  }

  function same(a, b) {
    return JSON.stringify(a === undefined ? null : a) === JSON.stringify(b === undefined ? null : b);
  }

  function changes(row) {
    const before = row.before && typeof row.before === "object" ? row.before : {};
    const after = row.after && typeof row.after === "object" ? row.after : {};
    const names = Array.from(new Set(Object.keys(before).concat(Object.keys(after))));
    const changed = names.filter(function (name) { return !same(before[name], after[name]); });
    const box = C.make("div", {});
    if (!row.before && !row.after) return box;
    const list = C.make("ul", { className: "hint" });
    changed.slice(0, 6).forEach(function (name) {
      list.append(C.make("li", { text: label("f.", name) + ": " + value(row, name, before[name]) + " → " + value(row, name, after[name]) }));
    });
    if (changed.length > 6) list.append(C.make("li", { text: t("audit.more", { n: changed.length - 6 }) }));
    if (changed.length) box.append(list);
    const details = C.make("details", {}, [
      C.make("summary", { text: t("audit.full") }),
      C.make("pre", { className: "diff", text: JSON.stringify({ before: row.before, after: row.after }, null, 2) }),
    ]);
    box.append(details);
    return box;
  }

  function target(row) {
    if (!row.target_type) return "—";
    const text = label("target.", row.target_type) + (row.target_id ? " " + row.target_id : "");
    const here = new URLSearchParams(location.search);
    if (!row.target_id || (here.get("target_type") === row.target_type && here.get("target_id") === row.target_id)) return text;
    return C.make("a", { href: C.page("audit", { target_type: row.target_type, target_id: row.target_id }), text: text });
  }

  function render() {
    const rows = page.items.map(function (row) {
      return C.make("tr", {}, [
        cell(t("col.at"), [C.time.format(row.at)]),
        cell(t("col.actor"), [C.make("span", { className: "actor", text: row.actor })]),
        cell(t("col.action"), [label("action.", row.action)]),
        cell(t("col.target"), [target(row)]),
        cell(t("col.change"), [changes(row)], "wide"),
      ]);
    });
    C.el("audit-rows").replaceChildren.apply(C.el("audit-rows"), rows);
    C.el("audit-table").hidden = page.items.length === 0;
    C.el("audit-empty").hidden = page.items.length !== 0;
    C.el("audit-total").textContent = t("audit.total", { total: C.count(page.total) });
    const params = new URLSearchParams(location.search);
    const type = params.get("target_type");
    const heading = C.el("audit-heading");
    delete heading.dataset.i18n;
    heading.textContent = type && params.get("target_id")
      ? t("audit.heading.one", { target: label("target.", type) + " " + params.get("target_id") })
      : t("audit.heading.all");
    const nav = C.el("audit-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.newer"), disabled: page.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.older"), disabled: page.offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, page.offset - LIMIT)); });
    next.addEventListener("click", function () { load(page.offset + LIMIT); });
    nav.replaceChildren(prev, next);
  }

  function filters() {
    const found = {};
    const type = C.el("target_type").value;
    const id = C.el("target_id").value.trim();
    if (type) found.target_type = type;
    if (id) found.target_id = id;
    return found;
  }

  async function load(offset) {
    history.replaceState(null, "", C.page("audit", filters()));
    const found = await C.townApi("GET", "audit", { query: Object.assign({ limit: LIMIT, offset: offset }, filters()) });
    if (!found.ok) return C.fail(found);
    C.say("page-error", "");
    page = { items: found.body.items, total: found.body.total, offset: offset };
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("audit", function () {
      const params = new URLSearchParams(location.search);
      const type = params.get("target_type") || "";
      if (type && !Array.from(C.el("target_type").options).some(function (o) { return o.value === type; })) {
        C.el("target_type").append(C.make("option", { value: type, text: type }));
      }
      C.el("target_type").value = type;
      C.el("target_id").value = params.get("target_id") || "";
      C.el("audit-filters").addEventListener("submit", function (event) { event.preventDefault(); load(0); });
      C.el("audit-apply").disabled = false;
      C.el("audit-clear").addEventListener("click", function () {
        C.el("target_type").value = "";
        C.el("target_id").value = "";
        load(0);
      });
      F.i18n.onChange(render);
      load(0);
    }, ["owner", "analyst"]);
  });
})();
