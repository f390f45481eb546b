// One order for staff: what was bought, by whom, through which campaign; its payments, cards
// and chain transaction; its history; and the refund (a reason is required, then a
// confirmation: a refund cannot be undone). A double click sends one refund: the button stays
// disabled while the request runs, and the server refunds an order once anyway.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const REFUNDABLE = ["paid", "minting", "minted"];
  let order = null;
  let reasonError = null;
  let busy = false;
  const id = new URLSearchParams(location.search).get("id") || "";

  function kv(rows) {
    const nodes = [];
    rows.forEach(function (row) {
      if (row[1] === undefined) return;
      nodes.push(C.make("dt", { text: t(row[0]) }), C.make("dd", {}, [row[1] === null || row[1] === "" ? "—" : row[1]]));
    });
    return nodes;
  }

  function prefecture(code) {
    return code ? F.prefectures.name(code, F.i18n.current()) : "—";
  }

  function chainOf(o) {
    return o.chain || { chain_id: o.chain_id, contract: o.contract, tx_hash: o.tx_hash };
  }

  function renderSummary() {
    const o = order;
    const campaign = o.campaign_code || o.campaign || "";
    const chain = chainOf(o);
    const drop = o.drop || {};
    const dropTitle = o.drop_title_ja || drop.title_ja || ("#" + o.drop_id);
    const summary = C.el("order-summary");
    summary.replaceChildren.apply(summary, kv([
      ["col.order", C.make("span", { className: "mono", text: o.order_id })],
      ["col.drop", C.make("a", { href: C.page("drop", { id: o.drop_id }), text: dropTitle })],
      ["col.amount", C.yen(o.amount_jpy)],
      ["order.quantity", C.count(o.quantity)],
      ["col.email", o.email],
      ["order.prefecture", prefecture(o.prefecture)],
      ["col.campaign", campaign ? C.make("a", { href: C.page("orders", { campaign: campaign }), text: campaign }) : ""],
      ["order.method", o.payment_method ? t("pay." + o.payment_method + (o.payment_method === "card" ? "" : ".staff")) : ""],
      ["col.created", C.time.format(o.created_at)],
      ["order.paid_at", o.paid_at ? C.time.format(o.paid_at) : ""],
      ["order.minted_at", o.minted_at ? C.time.format(o.minted_at) : undefined],
      ["order.wallet", o.wallet_address ? C.make("span", { className: "mono", text: o.wallet_address }) : undefined],
      ["order.tx", chain.tx_hash ? C.make("span", { className: "mono", text: chain.tx_hash }) : ""],
      ["order.failure", o.failure || undefined],
    ]));
    C.el("order-status").replaceChildren(C.statusBadge("ostatus", o.status));
  }

  function renderPayments() {
    const payments = Array.isArray(order.payments) ? order.payments : [];
    const box = C.el("order-payments");
    if (!payments.length) {
      box.replaceChildren(C.make("p", { className: "muted", text: t("order.no_payments") }));
      return;
    }
    box.replaceChildren.apply(box, payments.map(function (p) {
      return C.make("dl", { className: "kv" }, kv([
        ["order.method", p.provider || p.method ? t("pay." + (p.provider || p.method) + ((p.provider || p.method) === "card" ? "" : ".staff")) : ""],
        ["col.amount", C.yen(p.amount_jpy)],
        ["col.status", p.status ? C.statusBadge("pstatus", p.status) : ""],
        ["order.reference", p.reference || p.provider_ref || p.payment_intent ? C.make("span", { className: "mono", text: p.reference || p.provider_ref || p.payment_intent }) : undefined],
        ["col.at", p.at || p.created_at ? C.time.format(p.at || p.created_at) : undefined],
        ["refund.reason.short", p.reason || undefined],
      ]));
    }));
  }

  function renderCards() {
    const cards = Array.isArray(order.cards) ? order.cards : (order.token_ids || []).map(function (n) { return { token_id: n }; });
    const box = C.el("order-cards");
    if (!cards.length) {
      box.replaceChildren(C.make("p", { className: "muted", text: t(order.status === "refunded" ? "order.no_cards_refunded" : "order.no_cards") }));
      return;
    }
    const list = C.make("ul", {});
    cards.forEach(function (card) {
      const item = C.make("li", {}, [t("order.card_number", { number: card.token_id }), " "]);
      if (card.revoked_at) item.append(C.make("span", { className: "badge badge-revoked", text: t("order.revoked", { at: C.time.format(card.revoked_at) }) }));
      list.append(item);
    });
    const chain = chainOf(order);
    box.replaceChildren(list);
    if (chain.contract) box.append(C.make("p", { className: "hint" }, [t("order.contract") + ": ", C.make("span", { className: "mono", text: chain.contract })]));
  }

  function renderHistory() {
    const history = Array.isArray(order.history) ? order.history : [];
    const list = C.el("order-history");
    list.replaceChildren.apply(list, history.map(function (row) {
      const what = row.action ? (F.i18n.t("action." + row.action) !== "action." + row.action ? t("action." + row.action) : row.action) : (row.event || row.status || "");
      const item = C.make("li", {}, [C.time.format(row.at) + " — " + what]);
      if (row.actor) item.append(C.make("span", { className: "muted", text: " (" + row.actor + ")" }));
      const reason = row.reason || (row.after && row.after.reason);
      if (reason) item.append(C.make("div", { className: "hint", text: t("refund.reason.short") + ": " + reason }));
      return item;
    }));
    if (!history.length) list.replaceChildren(C.make("li", { className: "muted", text: t("order.no_history") }));
    const link = C.el("order-audit-link");
    link.hidden = !C.can(["owner", "analyst"]);
    link.href = C.page("audit", { target_type: "order", target_id: order.order_id });
  }

  function renderRefund() {
    const section = C.el("refund-section");
    const note = C.el("refund-unavailable");
    const mayTry = C.can(["owner", "editor"]);
    const refundable = REFUNDABLE.indexOf(order.status) >= 0;
    section.hidden = !(mayTry && refundable);
    note.hidden = true;
    if (mayTry && !refundable && order.status !== "refunded") {
      note.hidden = false;
      note.textContent = t("refund.not_refundable." + (order.status === "pending_payment" ? "pending" : "other"));
    }
    if (section.hidden) return;
    const parts = [t(order.status === "minted" ? "refund.explain.minted" : "refund.explain.unminted")];
    parts.push(t(order.payment_method === "card" ? "refund.explain.card" : order.payment_method === "demo" ? "refund.explain.demo" : "refund.explain.wallet"));
    C.el("refund-explain").textContent = parts.join(" ");
    C.fieldMessage("reason", reasonError ? t(reasonError) : "");
  }

  function render() {
    if (!order) return;
    renderSummary();
    renderPayments();
    renderCards();
    renderHistory();
    renderRefund();
    document.title = t("order.pagetitle.one", { id: order.order_id });
  }

  async function load() {
    const found = await C.townApi("GET", "orders/" + encodeURIComponent(id));
    if (!found.ok) {
      C.say("page-error", C.errorText(found), "error");
      document.querySelectorAll("[data-needs-role]").forEach(function (node) { node.hidden = true; });
      return false;
    }
    order = found.body;
    render();
    return true;
  }

  async function refund(event) {
    event.preventDefault();
    if (busy) return;
    const reason = C.el("reason").value.trim();
    reasonError = reason ? null : "refund.reason.required";
    renderRefund();
    if (reasonError) return C.el("reason").focus();
    const yes = await C.confirm(t("refund.confirm.title"), t("refund.confirm.body", {
      amount: C.yen(order.amount_jpy), email: order.email || "", id: order.order_id,
    }), t("refund.confirm.yes"));
    if (!yes) return;
    busy = true;
    C.el("refund-submit").disabled = true;
    C.say("refund-error", "");
    const done = await C.townApi("POST", "orders/" + encodeURIComponent(order.order_id) + "/refund", { json: { reason: reason } });
    busy = false;
    C.el("refund-submit").disabled = false;
    if (!done.ok) {
      if (done.status === 422) {
        reasonError = "refund.reason.required";
        renderRefund();
        return C.el("reason").focus();
      }
      const text = C.errorText(done);
      const extra = done.status === 403 && C.can(["editor"]) ? " " + t("refund.editor_hint") : "";
      C.say("refund-error", text + extra, "error");
      if (C.errorCode(done) === "already_refunded") await load();
      return;
    }
    C.el("reason").value = "";
    await load();
    C.say("order-message", t(order.status === "refunded" ? "refund.done" : "refund.started"), "success");
    C.el("order-message").tabIndex = -1;
    C.el("order-message").focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("orders", function () {
      C.el("back-to-orders").href = C.page("orders");
      if (!/^[A-Za-z0-9_-]{1,40}$/.test(id)) return C.say("page-error", t("cerr.order_not_found"), "error");
      C.el("refund-form").addEventListener("submit", refund);
      C.el("reason").addEventListener("input", function () { if (reasonError) { reasonError = null; renderRefund(); } });
      F.i18n.onChange(render);
      load();
    }, ["owner", "editor", "analyst"]);
  });
})();
