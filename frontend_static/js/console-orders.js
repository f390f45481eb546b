// Orders: filters (drop, status, campaign, email, dates in Japan time) kept in the address so
// a reload or a shared link shows the same list; paged; CSV of the same filters in UTF-8
// (with BOM, for Excel) or Shift_JIS (older Excel). An order opens on its own page.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const LIMIT = 50;
  const FILTERS = [["f-drop", "drop_id"], ["f-status", "status"], ["f-campaign", "campaign"], ["f-email", "email"], ["f-from", "created_from"], ["f-to", "created_to"]];
  let page = { items: [], total: 0, offset: 0 };
  let drops = [];

  function filters() {
    const found = {};
    FILTERS.forEach(function (pair) {
      const v = C.el(pair[0]).value.trim();
      if (v) found[pair[1]] = v;
    });
    return found;
  }

  // The API takes the dates as they are: days in Japan time, both inclusive.
  function apiFilters(shown) { return Object.assign({}, shown); }

  function fromAddress() {
    const params = new URLSearchParams(location.search);
    FILTERS.forEach(function (pair) { C.el(pair[0]).value = params.get(pair[1]) || ""; });
    return Math.max(0, Number(params.get("offset")) || 0);
  }

  function toAddress(offset) {
    history.replaceState(null, "", C.page("orders", Object.assign({}, filters(), offset ? { offset: offset } : {})));
  }

  function csvLinks() {
    const sent = apiFilters(filters());
    C.el("csv-utf8").href = C.townPath("orders.csv") + C.query(Object.assign({}, sent, { encoding: "utf-8" }));
    C.el("csv-sjis").href = C.townPath("orders.csv") + C.query(Object.assign({}, sent, { encoding: "shift_jis" }));
    C.el("csv-utf8").setAttribute("download", "orders-" + C.time.today() + ".csv");
    C.el("csv-sjis").setAttribute("download", "orders-" + C.time.today() + "-sjis.csv");
  }

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function render() {
    const rows = page.items.map(function (order) {
      const drop = drops.find(function (d) { return d.id === order.drop_id; });
      const campaign = order.campaign_code || "";
      return C.make("tr", {}, [
        cell(t("col.created"), [C.time.format(order.created_at)]),
        cell(t("col.order"), [C.make("a", { className: "mono", href: C.page("order", { id: order.order_id }), text: order.order_id })]),
        cell(t("col.email"), [order.email || "—"]),
        cell(t("col.drop"), [(F.i18n.current() === "en" ? order.drop_title_en : order.drop_title_ja) || (drop ? C.dropTitle(drop) : "#" + order.drop_id)]),
        cell(t("col.campaign"), [campaign || "—"]),
        cell(t("col.amount"), [C.yen(order.amount_jpy)], "num"),
        cell(t("col.status"), [C.statusBadge("ostatus", order.status)]),
      ]);
    });
    C.el("orders-rows").replaceChildren.apply(C.el("orders-rows"), rows);
    C.el("orders-table").hidden = page.items.length === 0;
    C.el("orders-empty").hidden = page.items.length !== 0;
    C.el("orders-total").textContent = t("orders.total", { total: C.count(page.total) });
    const nav = C.el("orders-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: page.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: page.offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, page.offset - LIMIT)); });
    next.addEventListener("click", function () { load(page.offset + LIMIT); });
    nav.replaceChildren(prev, C.make("span", { text: t("common.range", { from: page.offset + 1, to: Math.min(page.total, page.offset + LIMIT), total: C.count(page.total) }) }), next);
  }

  async function load(offset) {
    toAddress(offset);
    csvLinks();
    const found = await C.townApi("GET", "orders", { query: Object.assign({ limit: LIMIT, offset: offset }, apiFilters(filters())) });
    if (!found.ok) return found.status === 422 ? C.say("page-error", t("orders.bad_filter"), "error") : C.fail(found);
    C.say("page-error", "");
    page = { items: found.body.items, total: found.body.total, offset: offset };
    render();
  }

  async function campaignOptions(chosen) {
    const found = await C.townApi("GET", "campaigns", { query: { limit: 100 } });
    const select = C.el("f-campaign");
    const options = [C.make("option", { value: "", text: t("filter.any") })];
    (found.ok ? found.body.items : []).forEach(function (item) {
      options.push(C.make("option", { value: item.code, text: item.name + " (" + item.code + ")" }));
    });
    if (chosen && !options.some(function (o) { return o.value === chosen; })) options.push(C.make("option", { value: chosen, text: chosen }));
    select.replaceChildren.apply(select, options);
    select.value = chosen || "";
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("orders", async function () {
      const params = new URLSearchParams(location.search);
      drops = await C.dropOptions(C.el("f-drop"), "filter.any", params.get("drop_id"));
      await campaignOptions(params.get("campaign"));
      const offset = fromAddress();
      C.el("filters").addEventListener("submit", function (event) { event.preventDefault(); load(0); });
      C.el("f-apply").disabled = false;
      C.el("f-clear").addEventListener("click", function () {
        FILTERS.forEach(function (pair) { C.el(pair[0]).value = ""; });
        load(0);
      });
      F.i18n.onChange(async function () {
        drops = await C.dropOptions(C.el("f-drop"), "filter.any", C.el("f-drop").value);
        await campaignOptions(C.el("f-campaign").value);
        render();
      });
      load(offset);
    }, ["owner", "editor", "analyst"]);
  });
})();
