// The order page (order.html?id=ID#token=TOKEN): polls GET /api/v1/orders/{id} every second
// until the cards are issued (or the order failed / expired) and shows the steps on the way.
// The token comes from the URL fragment once, then from localStorage, so a reload works.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const STEP = { pending_payment: 0, paid: 1, minting: 2, minted: 3 };
  const FINAL = ["minted", "failed", "expired", "refunded"];
  const POLL_MS = 1000;
  const orderId = new URLSearchParams(location.search).get("id") || "";
  let token = null;
  let order = null;
  let problem = null; // "missing" | "network" while there is no order to show
  let timer = null;

  F.i18n.define({
    ja: {
      "order.steps": "ご注文の進み具合",
      "msg.pending_payment": "ご注文を受け付けました。お支払いをお待ちしています。",
      "msg.pending_payment.wallet": "ご注文を受け付けました。ウォレットからのお支払いをお待ちしています。",
      "msg.paid": "お支払いを確認しました。住民票を発行しています…",
      "msg.minting": "住民票を発行中です。まもなく完了します…",
      "msg.minted": "発行が完了しました。ようこそ、デジタル住民へ！",
      "msg.failed": "申し訳ありません。住民票を発行できませんでした。お手数ですが、お問い合わせください。",
      "msg.expired": "お支払いの期限が切れたため、ご注文は取り消されました。",
      "msg.refunded": "このご注文は返金済みです。",
      "msg.missing": "ご注文が見つかりませんでした。ご購入直後のページのアドレスから開き直すか、「マイ住民票」にログインしてカードをご確認ください。",
      "msg.network": "通信が途切れています。つながり次第、自動で更新します…",
      "order.image.alt": "デジタル住民票 No. {number} のカード画像",
      "order.total": "{quantity}枚・{amount}",
    },
    en: {
      "order.pagetitle": "Your order | Furusato",
      "order.heading": "Your order",
      "order.loading": "Checking your order…",
      "order.steps": "Order progress",
      "step.received": "Received",
      "step.paid": "Paid",
      "step.minting": "Issuing",
      "step.minted": "Issued",
      "order.numbers": "Your resident number",
      "order.mycards": "See My cards",
      "order.demopay": "Pay with the demo payment",
      "order.checkout": "Go to payment",
      "order.vouchers": "Paying from your wallet",
      "order.vouchers.body": "Call the card contract's purchase from your wallet with the signed vouchers below. Once the payment is seen on chain, this page moves on by itself.",
      "order.again": "Order again",
      "msg.pending_payment": "We received your order and are waiting for the payment.",
      "msg.pending_payment.wallet": "We received your order and are waiting for the payment from your wallet.",
      "msg.paid": "Payment received. We are issuing your card…",
      "msg.minting": "Issuing your card. Almost done…",
      "msg.minted": "Your card is issued. Welcome, digital resident!",
      "msg.failed": "Sorry, we could not issue your card. Please contact us.",
      "msg.expired": "The time to pay ran out, so the order was cancelled.",
      "msg.refunded": "This order was refunded.",
      "msg.missing": "We could not find this order. Open it again from the address of the page you saw after buying, or sign in to My cards to see your cards.",
      "msg.network": "The connection dropped. We will update as soon as it is back…",
      "order.image.alt": "Digital resident card No. {number}",
      "order.total": "{quantity} × card, {amount} in total",
    },
  });

  function el(id) { return document.getElementById(id); }

  function setMessage(text, tone) {
    const message = el("order-message");
    delete message.dataset.i18n;
    message.textContent = text;
    message.className = "notice" + (tone ? " notice-" + tone : "");
  }

  function renderSteps() {
    const at = order ? STEP[order.status] : undefined;
    el("steps").setAttribute("aria-label", t("order.steps"));
    Array.from(el("steps").children).forEach(function (li, i) {
      const done = at !== undefined && (i < at || (order.status === "minted" && i === at));
      li.classList.toggle("done", done);
      if (at === i && !done) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
  }

  function imageUrl(tokenId) {
    return "/api/v1/tokens/" + encodeURIComponent(order.contract) + "/" + tokenId + "/image.svg";
  }

  function renderResult() {
    const minted = order.status === "minted";
    el("result").hidden = !minted;
    if (!minted) return;
    const numbers = el("numbers");
    numbers.replaceChildren.apply(numbers, order.token_ids.map(function (id) {
      const li = document.createElement("li");
      li.className = "number";
      li.textContent = t("card.number", { number: id });
      return li;
    }));
    const images = el("card-images");
    if (!images.childElementCount) {
      order.token_ids.forEach(function (id) {
        const img = document.createElement("img");
        img.src = imageUrl(id);
        img.width = 320;
        img.dataset.number = String(id);
        img.addEventListener("error", function () { img.hidden = true; });
        images.append(img);
      });
    }
    Array.from(images.children).forEach(function (img) {
      img.alt = t("order.image.alt", { number: img.dataset.number });
    });
  }

  function renderPayment() {
    const pending = order.status === "pending_payment";
    const demo = pending && order.payment_method === "demo";
    const card = pending && order.payment_method === "card" && !!order.checkout_url;
    const vouchers = pending && order.payment_method === "wallet" && !!order.vouchers;
    el("pay").hidden = !(demo || card);
    el("demo-pay").hidden = !demo;
    el("checkout-link").hidden = !card;
    if (card) el("checkout-link").href = order.checkout_url;
    el("vouchers").hidden = !vouchers;
    if (vouchers) el("voucher-json").textContent = JSON.stringify(order.vouchers, null, 2);
  }

  function render() {
    renderSteps();
    if (!order) {
      if (problem) setMessage(t("msg." + problem), problem === "missing" ? "error" : "");
      return;
    }
    const wallet = order.status === "pending_payment" && order.payment_method === "wallet";
    const key = "msg." + order.status + (wallet ? ".wallet" : "");
    const tone = { minted: "success", failed: "error", expired: "error" }[order.status] || "";
    setMessage(problem === "network" ? t("msg.network") : t(key), tone);
    renderResult();
    renderPayment();
    const again = order.status === "expired" || order.status === "failed";
    el("again").hidden = !again;
    if (again) el("again-link").href = "/drop.html?id=" + encodeURIComponent(order.drop_id);
  }

  async function poll() {
    timer = null;
    const result = await F.util.api("GET", "/api/v1/orders/" + encodeURIComponent(orderId), { bearer: token });
    if (result.ok) {
      order = result.body;
      problem = null;
    } else if (result.status === 404) {
      problem = "missing";
    } else {
      problem = "network";
    }
    render();
    const finished = problem === "missing" || (order && FINAL.includes(order.status));
    if (!finished) timer = setTimeout(poll, POLL_MS);
  }

  async function demoPay() {
    el("demo-pay").disabled = true;
    const result = await F.util.api("POST", "/api/v1/orders/" + encodeURIComponent(orderId) + "/demo-pay", {
      bearer: token,
    });
    el("demo-pay").disabled = false;
    if (result.ok) order = result.body;
    render();
    if (!timer) poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    el("demo-pay").addEventListener("click", demoPay);
    const fromLink = F.util.fragmentToken();
    if (fromLink && orderId) {
      F.util.orderToken(orderId, fromLink);
      // Keep the token out of the address bar (and out of links people copy).
      history.replaceState(null, "", location.pathname + location.search);
    }
    token = fromLink || (orderId ? F.util.orderToken(orderId) : null);
    if (!orderId || !token) {
      problem = "missing";
      render();
      return;
    }
    poll();
  });
})();
