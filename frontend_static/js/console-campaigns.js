// Campaigns: one short code per poster location or link. Create one for a drop, then download
// its poster (A4/A3 PDF) or the QR alone (PNG/SVG), and see what it brought: scans, purchases,
// revenue. Downloads are plain links: the session cookie goes with a same-site GET.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const LIMIT = 20;
  let page = { items: [], total: 0, offset: 0 };
  let drops = [];
  let fresh = "";
  let errors = {};

  function value(item, name) { return item[name]; }

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function downloads(item) {
    const base = "campaigns/" + encodeURIComponent(item.code) + "/";
    function link(rest, key, file) {
      return C.make("a", { className: "button secondary small", href: C.townPath(base + rest), download: file, text: t(key) });
    }
    return C.make("div", { className: "poster-links" }, [
      link("poster.pdf?size=A4", "campaigns.poster_a4", "poster-" + item.code + "-A4.pdf"),
      link("poster.pdf?size=A3", "campaigns.poster_a3", "poster-" + item.code + "-A3.pdf"),
      link("qr.png", "campaigns.qr_png", "qr-" + item.code + ".png"),
      link("qr.svg", "campaigns.qr_svg", "qr-" + item.code + ".svg"),
    ]);
  }

  function absolute(url) {
    try { return new URL(url || "", location.origin).href; } catch (e) { return url; }
  }

  function render() {
    const rows = page.items.map(function (item) {
      const drop = drops.find(function (d) { return d.id === item.drop_id; });
      const url = absolute(item.url || "/c/" + item.code);
      const name = C.make("div", {}, [
        C.make("strong", { text: item.name }),
        C.make("div", { className: "hint", text: t("campaigns.for_drop", { title: drop ? C.dropTitle(drop) : "#" + item.drop_id }) }),
        C.make("a", { href: C.page("orders", { campaign: item.code }), text: t("campaigns.orders") }),
      ]);
      const scans = value(item, "scans");
      const unique = value(item, "unique_scans");
      const row = C.make("tr", { id: "campaign-" + item.code }, [
        cell(t("col.campaign"), [name]),
        cell(t("col.url"), [C.make("a", { className: "mono", href: url, target: "_blank", rel: "noopener", text: url.replace(/^https?:\/\//, "") })]),
        cell(t("col.scans"), [scans === undefined ? "—" : t("campaigns.scans_value", { scans: C.count(scans), unique: C.count(unique) })], "num"),
        cell(t("col.paid"), [C.count(value(item, "paid"))], "num"),
        cell(t("col.revenue"), [C.yen(value(item, "revenue_jpy"))], "num"),
        cell(t("col.downloads"), [downloads(item)], "wide"),
      ]);
      if (item.code === fresh) row.className = "fresh";
      return row;
    });
    C.el("campaigns-rows").replaceChildren.apply(C.el("campaigns-rows"), rows);
    C.el("campaigns-table").hidden = page.items.length === 0;
    C.el("campaigns-empty").hidden = page.items.length !== 0;
    const nav = C.el("campaigns-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: page.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: page.offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, page.offset - LIMIT)); });
    next.addEventListener("click", function () { load(page.offset + LIMIT); });
    nav.replaceChildren(prev, next);
    renderErrors();
  }

  function renderErrors() {
    ["name", "drop_id", "code"].forEach(function (name) { C.fieldMessage(name, errors[name] ? t(errors[name]) : ""); });
  }

  async function load(offset) {
    const found = await C.townApi("GET", "campaigns", { query: { limit: LIMIT, offset: offset } });
    if (!found.ok) return C.fail(found);
    page = { items: found.body.items, total: found.body.total, offset: offset };
    render();
  }

  async function create(event) {
    event.preventDefault();
    const body = { name: C.el("name").value.trim(), drop_id: Number(C.el("drop_id").value) };
    const code = C.el("code").value.trim();
    if (code) body.code = code;
    errors = {};
    if (!body.name) errors.name = "v.required";
    if (!body.drop_id) errors.drop_id = "v.campaign_drop";
    if (code && !/^[A-Za-z0-9_-]{3,32}$/.test(code)) errors.code = "v.campaign_code";
    renderErrors();
    const first = ["name", "drop_id", "code"].find(function (name) { return errors[name]; });
    if (first) return C.el(first).focus();
    C.el("campaign-submit").disabled = true;
    const made = await C.townApi("POST", "campaigns", { json: body });
    C.el("campaign-submit").disabled = false;
    if (!made.ok) {
      const named = C.fieldErrors(made);
      ["name", "drop_id", "code"].forEach(function (name) { if (named[name]) errors[name] = "v.campaign_" + name; });
      const reason = C.errorCode(made);
      if (reason === "code_taken" || reason === "invalid_code") errors.code = reason === "code_taken" ? "cerr.code_taken" : "v.campaign_code";
      if (reason === "drop_not_found") errors.drop_id = "v.campaign_drop";
      renderErrors();
      if (Object.keys(errors).length) return C.el(Object.keys(errors)[0]).focus();
      return C.say("campaign-error", C.errorText(made), "error");
    }
    C.say("campaign-error", "");
    fresh = made.body.code;
    C.el("name").value = "";
    C.el("code").value = "";
    C.say("campaigns-message", t("campaigns.created", { name: made.body.name }), "success");
    await load(0);
    const row = C.el("campaign-" + fresh);
    if (row) {
      const first = row.querySelector(".poster-links a");
      if (first) first.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("campaigns", async function () {
      const params = new URLSearchParams(location.search);
      C.el("campaign-form").hidden = !C.can(["owner", "editor"]);
      drops = await C.dropOptions(C.el("drop_id"), "f.campaign_drop.choose", params.get("drop_id"));
      C.el("campaign-form").addEventListener("submit", create);
      C.el("campaign-submit").disabled = false;
      ["name", "drop_id", "code"].forEach(function (name) {
        C.el(name).addEventListener("input", function () { if (errors[name]) { delete errors[name]; renderErrors(); } });
      });
      F.i18n.onChange(async function () {
        drops = await C.dropOptions(C.el("drop_id"), "f.campaign_drop.choose", C.el("drop_id").value);
        render();
      });
      load(0);
    }, ["owner", "editor", "analyst"]);
  });
})();
