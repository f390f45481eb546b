// One drop and its checkout (drop.html?id=N, optional ?c=campaign). POSTs the order with an
// Idempotency-Key, then: demo → demo-pay and the order page; card → the provider's checkout;
// wallet → the order page, which shows the vouchers.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const FIELDS = ["email", "prefecture", "quantity", "payment_method", "wallet_address", "campaign_code"];
  const params = new URLSearchParams(location.search);
  let drop = null;
  let errors = { general: null, fields: {} }; // {key, vars} per place, re-rendered on a language change
  let attempt = { body: "", key: "" }; // the Idempotency-Key is reused while the submission is the same
  let busy = false;

  F.i18n.define({
    ja: {
      "drop.limit.value": "{limit}枚まで",
      "drop.stock.value": "{remaining} / {supply} 枚",
      "form.prefecture.choose": "選択してください",
      "pay.demo": "デモ決済（テスト用）",
      "pay.card": "クレジットカード",
      "pay.wallet": "ウォレットから支払う（暗号資産）",
      "closed.upcoming": "まだ販売前です。販売開始までお待ちください。",
      "closed.sold_out": "申し訳ありません。この住民票は売り切れました。",
      "closed.ended": "販売期間は終了しました。",
      "closed.paused": "ただいま販売を一時停止しています。再開までお待ちください。",
      "closed.lottery": "この住民票は抽選でお申し込みいただく予定です。お申し込みの受付はまだ始まっていません。",
      "err.drop_paused": "ただいま販売を一時停止しているため、ご購入いただけません。再開までお待ちください。",
      "err.lottery_only": "この住民票は抽選販売のため、このページからはご購入いただけません。",
      "err.sold_out": "申し訳ありません。売り切れました（残りの枚数が足りません）。",
      "err.sold_out_fewer": "残りは{remaining}枚です。枚数を減らしてご注文ください。",
      "err.limit_exceeded": "お一人様の上限（{limit}枚）を超えるため、ご購入いただけません。これまでのご購入分と合わせて{limit}枚までです。",
      "err.not_on_sale": "現在は販売期間外のため、ご購入いただけません。",
      "err.order_expired": "お支払いの期限が切れました。お手数ですが、もう一度ご注文ください。",
      "err.payment_method_unavailable": "このお支払い方法は、いまはご利用いただけません。別の方法をお選びください。",
      "err.drop_not_found": "この住民票は見つかりませんでした。",
      "err.payment_provider_unavailable": "決済サービスにつながりませんでした。少し待ってから、もう一度お試しください。",
      "err.idempotency_key_reused": "ご注文内容が変わりました。もう一度「購入する」を押してください。",
      "err.unknown": "ご注文を受け付けられませんでした（{code}）。",
      "err.fields": "入力内容をご確認ください。",
      "field.email": "メールアドレスを正しく入力してください（例: taro@example.jp）。",
      "field.prefecture": "お住まいの都道府県を選んでください。",
      "field.quantity": "枚数を選んでください。",
      "field.payment_method": "お支払い方法を選んでください。",
      "field.wallet_address": "アドレスの形式が正しくありません（0xから始まる42文字）。",
      "field.wallet_address_required": "ウォレットから支払うには、ウォレットのアドレスを入力してください。",
      "field.campaign_code": "キャンペーンコードが正しくありません。URLをご確認ください。",
      "submit.sending": "送信中です…",
      "submit.paying": "お支払いを処理しています…",
      "submit.redirect": "決済ページへ移動します…",
    },
    en: {
      "drop.pagetitle": "Buy a digital resident card | Furusato",
      "drop.loading": "Loading…",
      "drop.price": "Price (per card)",
      "drop.stock": "Left",
      "drop.limit": "Per person",
      "drop.missing": "We could not find this card.",
      "drop.limit.value": "up to {limit}",
      "drop.stock.value": "{remaining} of {supply}",
      "form.heading": "Checkout",
      "form.email": "Email address",
      "form.email.hint": "To sign in to My cards, where your cards are kept.",
      "form.prefecture": "Prefecture you live in",
      "form.prefecture.choose": "Please choose",
      "form.quantity": "Number of cards",
      "form.payment": "Payment method",
      "form.wallet.summary": "If you have a crypto wallet",
      "form.wallet.body": "We can deliver the card straight to your own wallet. Leave this empty and we keep the card safe for you; you can move it to your wallet later.",
      "form.wallet.address": "Wallet address (optional)",
      "form.total": "Total",
      "form.submit": "Buy",
      "pay.demo": "Demo payment (test only)",
      "pay.card": "Credit card",
      "pay.wallet": "Pay from my wallet (crypto)",
      "closed.upcoming": "Not on sale yet. Please wait for the sale to start.",
      "closed.sold_out": "Sorry, this card is sold out.",
      "closed.ended": "The sale has ended.",
      "closed.paused": "Sales are paused for now. Please wait until they resume.",
      "closed.lottery": "This card will be sold by lottery. Applications have not opened yet.",
      "err.drop_paused": "Sales are paused for now, so this card cannot be bought. Please wait until they resume.",
      "err.lottery_only": "This card is sold by lottery and cannot be bought on this page.",
      "err.sold_out": "Sorry, sold out (not enough cards left).",
      "err.sold_out_fewer": "Only {remaining} left. Please choose fewer cards.",
      "err.limit_exceeded": "This would go over the limit of {limit} cards per person, counting what you already bought.",
      "err.not_on_sale": "This card is not on sale right now.",
      "err.order_expired": "The time to pay ran out. Please order again.",
      "err.payment_method_unavailable": "This payment method is not available right now. Please choose another.",
      "err.drop_not_found": "We could not find this card.",
      "err.payment_provider_unavailable": "The payment service did not answer. Please wait a moment and try again.",
      "err.idempotency_key_reused": "Your order changed. Please press “Buy” again.",
      "err.unknown": "We could not take your order ({code}).",
      "err.fields": "Please check the highlighted fields.",
      "field.email": "Please enter a valid email address (e.g. taro@example.com).",
      "field.prefecture": "Please choose the prefecture you live in.",
      "field.quantity": "Please choose the number of cards.",
      "field.payment_method": "Please choose a payment method.",
      "field.wallet_address": "This is not a valid address (0x followed by 40 characters).",
      "field.wallet_address_required": "To pay from your wallet, please enter your wallet's address.",
      "field.campaign_code": "The campaign code is not valid. Please check the link.",
      "submit.sending": "Sending…",
      "submit.paying": "Processing the payment…",
      "submit.redirect": "Taking you to the payment page…",
    },
  });

  function el(id) { return document.getElementById(id); }

  function option(value, label) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    return o;
  }

  function fillPrefectures(lang) {
    const select = el("prefecture");
    const chosen = select.value;
    const names = lang === "en" ? F.prefectures.en : F.prefectures.ja;
    const options = [option("", t("form.prefecture.choose"))];
    for (let code = 1; code <= 47; code++) options.push(option(String(code).padStart(2, "0"), names[code]));
    options.push(option("00", names[0]));
    select.replaceChildren.apply(select, options);
    select.value = chosen;
  }

  function radio(method, checked) {
    const label = document.createElement("label");
    label.className = "choice";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "payment_method";
    input.value = method;
    input.checked = checked;
    const text = document.createElement("span");
    text.dataset.pay = method;
    text.textContent = t("pay." + method);
    label.append(input, text);
    return label;
  }

  function setUpForm() {
    const quantity = el("quantity");
    const most = Math.max(1, Math.min(drop.per_buyer_limit, drop.remaining || drop.per_buyer_limit));
    for (let n = 1; n <= most; n++) quantity.append(option(String(n), String(n)));
    const main = drop.payment_methods.filter(function (m) { return m !== "wallet"; });
    main.forEach(function (method, i) { el("payment-choices").append(radio(method, i === 0)); });
    if (drop.payment_methods.includes("wallet")) el("wallet-choices").append(radio("wallet", main.length === 0));
    if (main.length === 0) el("wallet-section").open = true;
    // The poster's code (/c/{code} forwards here with ?c=) goes with the order; a mangled one
    // is dropped rather than blocking the purchase with an error about a field nobody typed.
    const campaign = params.get("c") || "";
    el("campaign_code").value = /^[A-Za-z0-9_-]{1,64}$/.test(campaign) ? campaign : "";
    quantity.addEventListener("change", renderTotal);
    el("checkout").addEventListener("submit", submit);
    // A field's error goes as soon as the buyer changes that field.
    FIELDS.forEach(function (name) {
      const field = el(name);
      if (!field) return;
      field.addEventListener("input", function () { clearFieldError(name); });
      field.addEventListener("change", function () { clearFieldError(name); });
    });
    el("checkout").hidden = drop.sale_mode === "lottery";
  }

  function renderTotal() {
    if (drop) el("total").textContent = F.util.yen(drop.price_jpy * Number(el("quantity").value || 1));
  }

  function clearFieldError(name) {
    if (!errors.fields[name]) return;
    delete errors.fields[name];
    renderErrors();
  }

  function renderErrors() {
    const general = el("form-error");
    general.hidden = !errors.general;
    general.textContent = errors.general ? t(errors.general.key, errors.general.vars) : "";
    FIELDS.forEach(function (name) {
      const shown = errors.fields[name];
      const message = el(name + "-error");
      message.hidden = !shown;
      message.textContent = shown ? t(shown.key) : "";
      const input = name === "payment_method" ? el("payment-field") : el(name);
      if (shown) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    });
  }

  function render(lang) {
    fillPrefectures(lang);
    document.querySelectorAll("[data-pay]").forEach(function (span) { span.textContent = t("pay." + span.dataset.pay); });
    renderErrors();
    if (!drop) return;
    const en = lang === "en";
    delete el("drop-title").dataset.i18n;
    el("drop-title").textContent = en ? drop.title_en : drop.title_ja;
    el("drop-description").textContent = en ? drop.description_en : drop.description_ja;
    el("drop-price").textContent = F.util.yen(drop.price_jpy);
    el("drop-stock").textContent = t("drop.stock.value", {
      remaining: drop.remaining.toLocaleString("ja-JP"),
      supply: drop.supply.toLocaleString("ja-JP"),
    });
    el("drop-limit").textContent = t("drop.limit.value", { limit: drop.per_buyer_limit });
    const status = el("drop-status");
    status.hidden = false;
    const shown = F.util.shownStatus(drop);
    status.className = "badge badge-" + shown;
    status.textContent = t("status." + shown);
    document.title = (en ? drop.title_en : drop.title_ja) + (en ? " | Furusato" : " | ふるさと");
    renderTotal();
  }

  function showErrors(general, fields) {
    errors = { general: general, fields: fields || {} };
    renderErrors();
    const first = FIELDS.find(function (name) { return errors.fields[name]; });
    if (first) (first === "payment_method" ? el("payment-field").querySelector("input") : el(first)).focus();
    else if (general) el("form-error").focus();
  }

  function readForm() {
    const form = el("checkout");
    const method = form.querySelector("input[name=payment_method]:checked");
    const body = {
      drop_id: drop.id,
      quantity: Number(el("quantity").value),
      email: el("email").value.trim(),
      prefecture: el("prefecture").value,
      payment_method: method ? method.value : "",
    };
    const wallet = el("wallet_address").value.trim();
    if (wallet) body.wallet_address = wallet;
    if (el("campaign_code").value) body.campaign_code = el("campaign_code").value;
    return body;
  }

  // Checks the browser can make before asking the server (which checks everything again).
  function localErrors(body) {
    const fields = {};
    if (!/^[^@\s]+@[^@\s]+$/.test(body.email)) fields.email = { key: "field.email" };
    if (!body.prefecture) fields.prefecture = { key: "field.prefecture" };
    if (!body.payment_method) fields.payment_method = { key: "field.payment_method" };
    if (body.payment_method === "wallet" && !body.wallet_address) {
      fields.wallet_address = { key: "field.wallet_address_required" };
    }
    return fields;
  }

  // A 422 body {"detail": [{loc: ["body", "email"], msg}]} → errors per field.
  function validationErrors(detail) {
    const fields = {};
    (Array.isArray(detail) ? detail : []).forEach(function (problem) {
      const name = Array.isArray(problem.loc) ? problem.loc[problem.loc.length - 1] : "";
      if (FIELDS.includes(name)) fields[name] = { key: "field." + name };
    });
    return fields;
  }

  function refusal(result) {
    if (result.network) return { general: { key: "common.network" } };
    if (result.status === 422) {
      const fields = validationErrors(result.body && result.body.detail);
      return { general: { key: "err.fields" }, fields: fields };
    }
    const code = F.util.errorCode(result);
    if (code === "wallet_address_required") {
      el("wallet-section").open = true;
      return { general: { key: "err.fields" }, fields: { wallet_address: { key: "field.wallet_address_required" } } };
    }
    if (["sold_out", "not_on_sale", "drop_paused", "lottery_only"].includes(code)) reloadDrop();
    if (code === "sold_out" && drop.remaining > 0 && drop.remaining < Number(el("quantity").value)) {
      return { general: { key: "err.sold_out_fewer", vars: { remaining: drop.remaining } } };
    }
    if (["sold_out", "limit_exceeded", "not_on_sale", "order_expired", "payment_method_unavailable",
      "drop_not_found", "payment_provider_unavailable", "idempotency_key_reused", "drop_paused",
      "lottery_only"].includes(code)) {
      return { general: { key: "err." + code, vars: { limit: drop.per_buyer_limit } } };
    }
    if (result.status >= 500) return { general: { key: "common.server" } };
    return { general: { key: "err.unknown", vars: { code: code || result.status } } };
  }

  function orderPage(order) {
    return "/order.html?id=" + encodeURIComponent(order.order_id) + "#token=" + encodeURIComponent(order.order_token);
  }

  function setBusy(on, statusKey) {
    busy = on;
    el("submit").disabled = on;
    el("submit-status").textContent = statusKey ? t(statusKey) : "";
  }

  async function submit(event) {
    event.preventDefault();
    if (busy || !drop) return;
    const body = readForm();
    const local = localErrors(body);
    if (Object.keys(local).length) return showErrors({ key: "err.fields" }, local);
    showErrors(null, {});
    const serialised = JSON.stringify(body);
    if (serialised !== attempt.body) attempt = { body: serialised, key: F.util.uuid() };
    setBusy(true, "submit.sending");
    const created = await F.util.api("POST", "/api/v1/orders", {
      json: body,
      headers: { "Idempotency-Key": attempt.key },
    });
    if (!created.ok) {
      setBusy(false);
      const refused = refusal(created);
      return showErrors(refused.general, refused.fields);
    }
    const order = created.body;
    F.util.orderToken(order.order_id, order.order_token);
    if (order.payment_method === "card" && order.checkout_url) {
      setBusy(true, "submit.redirect");
      location.href = order.checkout_url;
      return;
    }
    if (order.payment_method === "demo") {
      setBusy(true, "submit.paying");
      const paid = await F.util.api("POST", "/api/v1/orders/" + encodeURIComponent(order.order_id) + "/demo-pay", {
        bearer: order.order_token,
      });
      if (!paid.ok && F.util.errorCode(paid) === "order_expired") {
        setBusy(false);
        attempt = { body: "", key: "" };
        return showErrors({ key: "err.order_expired" });
      }
      // Anything else (a dropped connection…): the order page shows the state and a pay button.
    }
    location.href = orderPage(order);
  }

  async function reloadDrop() {
    const found = await F.util.api("GET", "/api/v1/drops/" + encodeURIComponent(params.get("id") || ""));
    if (!found.ok) return found;
    drop = found.body;
    render(F.i18n.current());
    // A lottery drop is not bought on this page: no form, a plain note instead (setUpForm).
    const lottery = drop.sale_mode === "lottery";
    const closed = lottery || drop.status !== "on_sale";
    el("submit").disabled = closed;
    el("drop-lottery").hidden = !lottery;
    if (closed && !lottery && !errors.general) showErrors({ key: "closed." + drop.status });
    return found;
  }

  function missing(network) {
    delete el("drop-title").dataset.i18n;
    el("drop-title").textContent = "";
    if (network) {
      delete el("drop-missing").dataset.i18n;
      el("drop-missing").textContent = t("common.network");
    }
    el("drop-missing").hidden = false;
  }

  async function load() {
    const id = params.get("id") || "";
    if (!/^\d+$/.test(id)) return missing(false);
    const found = await reloadDrop();
    if (!found.ok) return missing(found.network);
    const campaign = params.get("c");
    el("back-link").href = "/?town=" + encodeURIComponent(drop.municipality) + (campaign ? "&c=" + encodeURIComponent(campaign) : "");
    setUpForm();
    render(F.i18n.current());
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    fillPrefectures(F.i18n.current());
    load();
  });
})();
