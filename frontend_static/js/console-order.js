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
  let editorsMayRefund = false; // read from the town's settings when an editor opens the page
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

  function method(name) {
    return name ? t("pay." + name + (name === "card" ? "" : ".staff")) : "";
  }

  function mono(text) { return text ? C.make("span", { className: "mono", text: text }) : ""; }

  function renderSummary() {
    const o = order;
    const campaign = o.campaign_code || "";
    const en = F.i18n.current() === "en";
    const summary = C.el("order-summary");
    const dropLink = C.can(["owner", "editor"])
      ? C.make("a", { href: C.page("drop", { id: o.drop_id }), text: (en ? o.drop_title_en : o.drop_title_ja) || "#" + o.drop_id })
      : (en ? o.drop_title_en : o.drop_title_ja);
    summary.replaceChildren.apply(summary, kv([
      ["col.order", mono(o.order_id)],
      ["col.drop", dropLink],
      ["col.amount", C.yen(o.amount_jpy)],
      ["order.quantity", C.count(o.quantity)],
      ["col.email", o.email],
      ["order.prefecture", en ? prefecture(o.prefecture) : (o.prefecture_name || prefecture(o.prefecture))],
      ["col.campaign", campaign ? C.make("a", { href: C.page("orders", { campaign: campaign }), text: campaign }) : ""],
      ["order.method", method(o.payment_method)],
      ["col.created", C.time.format(o.created_at)],
      ["order.paid_at", o.paid_at ? C.time.format(o.paid_at) : ""],
      ["order.minted_at", o.minted_at ? C.time.format(o.minted_at) : undefined],
      ["order.wallet", o.wallet_address ? mono(o.wallet_address) : undefined],
      ["order.failure", o.failure || undefined],
    ]));
    C.el("order-status").replaceChildren(C.statusBadge("ostatus", o.status));
  }

  function renderPayments() {
    const box = C.el("order-payments");
    const blocks = (order.payments || []).map(function (p) {
      return C.make("dl", { className: "kv" }, kv([
        ["order.method", method(p.provider)],
        ["col.amount", C.yen(p.amount_jpy)],
        ["col.status", p.status ? C.statusBadge("pstatus", p.status) : ""],
        ["order.reference", mono(p.provider_ref)],
        ["col.at", C.time.format(p.created_at)],
      ]));
    });
    const refund = order.refund;
    if (refund) {
      blocks.push(C.make("h3", { text: t("refund.record") }), C.make("dl", { className: "kv" }, kv([
        ["col.status", C.statusBadge("rstatus", refund.status)],
        ["col.amount", C.yen(refund.amount_jpy)],
        ["refund.reason.short", refund.reason],
        ["refund.by", refund.requested_by || "—"],
        ["order.reference", refund.provider_ref ? mono(refund.provider_ref) : undefined],
        ["col.at", C.time.format(refund.created_at)],
        ["refund.completed", refund.completed_at ? C.time.format(refund.completed_at) : undefined],
        ["order.failure", refund.failure || undefined],
      ])));
    }
    if (!blocks.length) blocks.push(C.make("p", { className: "muted", text: t("order.no_payments") }));
    box.replaceChildren.apply(box, blocks);
  }

  function renderCards() {
    const cards = order.cards || [];
    const box = C.el("order-cards");
    if (!cards.length) {
      box.replaceChildren(C.make("p", { className: "muted", text: t(order.status === "refunded" ? "order.no_cards_refunded" : "order.no_cards") }));
      return;
    }
    const list = C.make("ul", { className: "cards-list" });
    cards.forEach(function (card) {
      const item = C.make("li", {}, [C.make("strong", { text: t("order.card_number", { number: card.token_id }) }), " "]);
      if (card.revoked_at) item.append(C.make("span", { className: "badge badge-revoked", text: t("order.revoked", { at: C.time.format(card.revoked_at) }) }));
      else if (card.mint_status) item.append(C.make("span", { className: "hint", text: t("mint." + card.mint_status) }));
      if (card.owner) item.append(C.make("div", { className: "hint" }, [t("order.owner") + ": ", mono(card.owner)]));
      list.append(item);
    });
    box.replaceChildren(list);
    const chain = order.chain;
    if (chain && chain.contract) {
      const facts = [["order.contract", mono(chain.contract)], ["order.chain_id", String(chain.chain_id)]];
      (chain.transactions || []).forEach(function (tx) {
        facts.push(["order.tx", C.make("span", {}, [mono(tx.tx_hash), tx.block_number ? " " + t("order.block", { n: tx.block_number }) : ""])]);
      });
      box.append(C.make("dl", { className: "kv" }, kv(facts)));
    }
  }

  function historyLabel(entry) {
    const keys = ["hist." + entry.event, "action." + entry.event];
    for (const key of keys) {
      if (t(key) !== key) return t(key);
    }
    return entry.event;
  }

  function renderHistory() {
    const list = C.el("order-history");
    const items = (order.history || []).map(function (entry) {
      const item = C.make("li", {}, [C.time.format(entry.at) + " — " + historyLabel(entry)]);
      if (entry.actor) item.append(C.make("span", { className: "muted", text: " (" + entry.actor + ")" }));
      const reason = entry.detail && (entry.detail.reason || (entry.detail.after && entry.detail.after.reason));
      if (reason) item.append(C.make("div", { className: "hint", text: t("refund.reason.short") + ": " + reason }));
      return item;
    });
    if (!items.length) items.push(C.make("li", { className: "muted", text: t("order.no_history") }));
    list.replaceChildren.apply(list, items);
    const link = C.el("order-audit-link");
    link.hidden = !C.can(["owner", "analyst"]);
    link.href = C.page("audit", { target_type: "order", target_id: order.order_id });
  }

  function renderRefund() {
    const section = C.el("refund-section");
    const note = C.el("refund-unavailable");
    const mayTry = C.can(["owner"]) || (C.can(["editor"]) && editorsMayRefund);
    const refundable = REFUNDABLE.indexOf(order.status) >= 0;
    section.hidden = !(mayTry && refundable);
    note.hidden = true;
    if (C.can(["editor"]) && !editorsMayRefund && refundable) {
      note.hidden = false;
      note.textContent = t("refund.owner_only");
    }
    if (mayTry && !refundable && order.status !== "refunded") {
      note.hidden = false;
      note.textContent = t("refund.not_refundable." + (order.status === "pending_payment" ? "pending" : "other"));
    }
    if (section.hidden) return;
    const parts = [];
    if (order.refund && order.refund.status === "failed") parts.push(t("refund.retry", { failure: order.refund.failure || "" }));
    parts.push(t(order.status === "minted" ? "refund.explain.minted" : "refund.explain.unminted"));
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
      return;
    }
    C.el("reason").value = "";
    await load();
    const refunded = done.body && done.body.order_status === "refunded";
    C.say("order-message", t(refunded || order.status === "refunded" ? "refund.done" : done.body && done.body.status === "failed" ? "refund.failed" : "refund.started"), refunded ? "success" : "");
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
      if (C.can(["editor"])) {
        C.townApi("GET", "settings").then(function (found) {
          editorsMayRefund = !!(found.ok && found.body.editors_may_refund);
          if (order) renderRefund();
        });
      }
      load();
    }, ["owner", "editor", "analyst"]);
  });
})();
