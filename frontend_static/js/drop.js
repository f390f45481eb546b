// One drop and its checkout (drop.html?id=N, optional ?c=campaign). POSTs the order with an
// Idempotency-Key, then: demo → demo-pay and the order page; card → the provider's checkout;
// wallet → the order page, which shows the vouchers.
// A lottery drop (sale_mode "lottery") shows its lottery instead (GET …/lottery: the dates and
// the applications so far) and, while applications are open, the same form as an application
// (POST /api/v1/drops/{id}/applications, Idempotency-Key per attempt, no payment): the receipt
// shows the entry id and links to the applicant's page (application.html, token kept like the
// order page's).
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
  let lottery = null; // the lottery's public record (lottery drops only)
  let receipt = null; // the application just made: {application_id, entry_id, quantity, …}
  let formLabels = null; // elements whose text the lottery mode replaces

  F.i18n.define({
    ja: {
      "lottery.info.heading": "抽選について",
      "lottery.window": "受付開始",
      "lottery.close": "締切",
      "lottery.draw": "抽選日",
      "lottery.count": "これまでのお申し込み",
      "lottery.count.value": "{count}件",
      "lottery.jst": "{time}（日本時間）",
      "lottery.how": "お申し込みは無料です。締切のあと抽選を行い、当選した方だけがお支払い期限までにお支払いください。当選枠に空きが出たときは、補欠の方に順位の順に繰り上がります。",
      "lottery.verify": "この抽選の公開記録と検証ページ",
      "lottery.supply": "発行枚数",
      "lottery.supply.value": "{supply}枚",
      "lottery.form.heading": "抽選のお申し込み",
      "lottery.form.email.hint": "受付番号と抽選結果をお送りします。当選した場合、マイ住民票（お持ちのカードの一覧）へのログインにも使います。",
      "lottery.form.note": "お申し込みは無料です。当選した場合だけ、1枚 {price} をお支払いいただきます。メールアドレスごと（ウォレットごと）に1回お申し込みいただけます。",
      "lottery.form.wallet.body": "当選した場合、お持ちのウォレットに住民票を直接お届けできます。空欄のままなら、住民票はこちらでお預かりし、あとから自分のウォレットへ移すこともできます。",
      "lottery.form.submit": "抽選に申し込む",
      "lottery.upcoming": "お申し込みの受付は {start}（日本時間）からです。",
      "lottery.closed": "受付期間外です。お申し込みの受付は {close}（日本時間）に締め切りました。抽選は {draw}（日本時間）に行います。",
      "lottery.drawn": "抽選が終わりました。結果はお申し込みの方にメールでお知らせしています。",
      "lottery.paused": "ただいまお申し込みの受付を一時停止しています。再開までお待ちください。",
      "lottery.unavailable": "抽選の情報を読み込めませんでした。少し待ってから、ページを読み込み直してください。",
      "lottery.applied_before": "このブラウザーから、この抽選にお申し込み済みです。",
      "lottery.applied_before.link": "お申し込みの状況を見る",
      "receipt.heading": "お申し込みを受け付けました",
      "receipt.lead": "抽選へのお申し込みありがとうございます。受付番号はメールでもお送りします。",
      "receipt.entry": "受付番号（エントリーID）",
      "receipt.quantity": "申込枚数",
      "receipt.quantity.value": "{quantity}枚",
      "receipt.next": "抽選の結果はメールと、次のページでお知らせします。このページのアドレスは他の人に教えないでください。",
      "receipt.link": "お申し込みの状況を見る",
      "receipt.verify": "抽選の検証ページ（受付番号で順位を確かめられます）",
      "aerr.applications_closed": "受付期間外です。この抽選のお申し込みは受け付けていません。",
      "aerr.already_applied": "すでに申し込み済みです。この抽選には、メールアドレス（またはウォレット）ごとに1回だけお申し込みいただけます。",
      "aerr.limit_exceeded": "お一人様{limit}枚までです。枚数を減らしてお申し込みください。",
      "aerr.drop_paused": "ただいまお申し込みの受付を一時停止しています。再開までお待ちください。",
      "aerr.drop_not_found": "この抽選は見つかりませんでした。",
      "aerr.idempotency_key_reused": "お申し込み内容が変わりました。もう一度「抽選に申し込む」を押してください。",
      "aerr.request_in_progress": "先ほどのお申し込みを処理しています。少し待ってから、もう一度押してください。",
      "aerr.rate_limited": "短い時間にお申し込みが集中しました。1分ほど待ってから、もう一度お試しください。",
      "aerr.unknown": "お申し込みを受け付けられませんでした（{code}）。",
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
      "lottery.info.heading": "About this lottery",
      "lottery.window": "Applications open",
      "lottery.close": "Closes",
      "lottery.draw": "Draw",
      "lottery.count": "Applications so far",
      "lottery.count.value": "{count}",
      "lottery.jst": "{time} (Japan time)",
      "lottery.how": "Applying is free. After the close the lottery is drawn, and only winners pay, by their deadline. When a place comes free, it goes to the waitlist in rank order.",
      "lottery.verify": "This lottery's public record and verification page",
      "lottery.supply": "Cards",
      "lottery.supply.value": "{supply}",
      "lottery.form.heading": "Apply for the lottery",
      "lottery.form.email.hint": "We send your entry number and the result here. If you win, you also sign in to My cards with it.",
      "lottery.form.note": "Applying is free. Only if you win do you pay {price} per card. One application per email address (and per wallet).",
      "lottery.form.wallet.body": "If you win, we can deliver the card straight to your own wallet. Leave this empty and we keep the card safe for you; you can move it to your wallet later.",
      "lottery.form.submit": "Apply for the lottery",
      "lottery.upcoming": "Applications open at {start} (Japan time).",
      "lottery.closed": "Applications are not being taken: they closed at {close} (Japan time). The draw is at {draw} (Japan time).",
      "lottery.drawn": "The lottery has been drawn. Applicants have been told their result by email.",
      "lottery.paused": "Applications are paused for now. Please wait until they resume.",
      "lottery.unavailable": "We could not load the lottery. Please wait a moment and reload the page.",
      "lottery.applied_before": "You have applied to this lottery from this browser.",
      "lottery.applied_before.link": "See your application",
      "receipt.heading": "Your application is in",
      "receipt.lead": "Thank you for applying. We also send your entry number by email.",
      "receipt.entry": "Entry number (entry id)",
      "receipt.quantity": "Cards asked for",
      "receipt.quantity.value": "{quantity}",
      "receipt.next": "We tell you the result by email and on the next page. Keep that page's address to yourself.",
      "receipt.link": "See your application",
      "receipt.verify": "The lottery's verification page (check your rank with your entry number)",
      "aerr.applications_closed": "Applications are not being taken for this lottery now.",
      "aerr.already_applied": "You have already applied. One application per email address (or wallet) for this lottery.",
      "aerr.limit_exceeded": "At most {limit} cards per person. Please ask for fewer.",
      "aerr.drop_paused": "Applications are paused for now. Please wait until they resume.",
      "aerr.drop_not_found": "We could not find this lottery.",
      "aerr.idempotency_key_reused": "Your application changed. Please press “Apply for the lottery” again.",
      "aerr.request_in_progress": "Your previous application is still being processed. Please wait a moment and press again.",
      "aerr.rate_limited": "Too many applications in a short time. Please wait a minute and try again.",
      "aerr.unknown": "We could not take your application ({code}).",
    },
  });

  function el(id) { return document.getElementById(id); }

  function isLottery() { return !!drop && drop.sale_mode === "lottery"; }

  // An element whose Japanese text the HTML holds for the purchase: the lottery's own text.
  function swap(node, key, vars) {
    if (!node) return;
    delete node.dataset.i18n;
    node.textContent = t(key, vars);
  }

  function when(iso) { return F.util.time.jst(iso); }

  // The applicant's token is kept like the order page keeps an order's: in this browser only.
  function remember(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* private mode: the link still works */ }
  }
  function recall(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

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
    // An application asks for up to the per-person limit: nothing is reserved, so stock is not the bound.
    const most = isLottery()
      ? Math.max(1, drop.per_buyer_limit)
      : Math.max(1, Math.min(drop.per_buyer_limit, drop.remaining || drop.per_buyer_limit));
    for (let n = 1; n <= most; n++) quantity.append(option(String(n), String(n)));
    if (isLottery()) {
      // No payment now: winners pay later on their order's page.
      el("payment-field").hidden = true;
      el("total-line").hidden = true;
      el("apply-note").hidden = false;
      formLabels = {
        heading: el("checkout-heading"),
        emailHint: el("email-hint"),
        walletBody: el("wallet-section").querySelector("p.hint"),
        submit: el("submit"),
        stock: el("drop-stock").previousElementSibling,
      };
    } else {
      const main = drop.payment_methods.filter(function (m) { return m !== "wallet"; });
      main.forEach(function (method, i) { el("payment-choices").append(radio(method, i === 0)); });
      if (drop.payment_methods.includes("wallet")) el("wallet-choices").append(radio("wallet", main.length === 0));
      if (main.length === 0) el("wallet-section").open = true;
    }
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
    el("checkout").hidden = isLottery(); // shown by renderLottery while applications are open
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
    if (isLottery()) renderLottery();
  }

  // ----- lottery drops -----
  // "open" while the record says so and the close has not passed (the job closes it a moment
  // after); the form shows only then.
  function lotteryOpen() {
    if (!lottery || drop.status === "paused") return false;
    return lottery.state === "open" && F.util.time.ms(lottery.applications_close_at) > Date.now();
  }

  function lotteryNotice() {
    if (!lottery) {
      if (lotteryMissing === "loading") return "";
      return t(lotteryMissing === "network" ? "lottery.unavailable" : "closed.lottery");
    }
    if (drop.status === "paused") return t("lottery.paused");
    if (lottery.state === "announced") return t("lottery.upcoming", { start: when(drop.starts_at) });
    if (lottery.state === "drawn" || lottery.state === "settled") return t("lottery.drawn");
    if (!lotteryOpen()) {
      return t("lottery.closed", { close: when(lottery.applications_close_at), draw: when(lottery.draw_at) });
    }
    return "";
  }

  function renderLottery() {
    if (formLabels) {
      swap(formLabels.heading, "lottery.form.heading");
      swap(formLabels.emailHint, "lottery.form.email.hint");
      swap(formLabels.walletBody, "lottery.form.wallet.body");
      swap(formLabels.submit, "lottery.form.submit");
      swap(formLabels.stock, "lottery.supply");
    }
    el("drop-stock").textContent = t("lottery.supply.value", { supply: drop.supply.toLocaleString("ja-JP") });
    el("apply-note").textContent = t("lottery.form.note", { price: F.util.yen(drop.price_jpy) });
    const info = el("lottery-info");
    info.hidden = !lottery;
    if (lottery) {
      el("lottery-info-heading").textContent = t("lottery.info.heading");
      el("lf-window-label").textContent = t("lottery.window");
      el("lf-window").textContent = t("lottery.jst", { time: when(drop.starts_at) });
      el("lf-close-label").textContent = t("lottery.close");
      el("lf-close").textContent = t("lottery.jst", { time: when(lottery.applications_close_at) });
      el("lf-draw-label").textContent = t("lottery.draw");
      el("lf-draw").textContent = t("lottery.jst", { time: when(lottery.draw_at) });
      el("lf-count-label").textContent = t("lottery.count");
      el("lf-count").textContent = t("lottery.count.value", { count: Number(lottery.entries_count).toLocaleString("ja-JP") });
      el("lottery-how").textContent = t("lottery.how");
      el("lottery-verify-link").textContent = t("lottery.verify");
      el("lottery-verify-link").href = "/lottery.html?drop=" + encodeURIComponent(drop.id);
    }
    const notice = receipt ? "" : lotteryNotice();
    const box = el("drop-lottery");
    box.hidden = !notice;
    if (notice) {
      delete box.dataset.i18n;
      box.textContent = notice;
    }
    el("checkout").hidden = !!receipt || !lotteryOpen();
    const mine = recall("furusato.lottery." + drop.id);
    const token = mine ? recall("furusato.application." + mine) : null;
    el("applied-before").hidden = !!receipt || !mine || !token;
    if (mine && token) {
      el("applied-before-text").textContent = t("lottery.applied_before");
      el("applied-before-link").textContent = t("lottery.applied_before.link");
      el("applied-before-link").href = applicationPage(mine, token);
    }
    renderReceipt();
  }

  function applicationPage(id, token) {
    return "/application.html?id=" + encodeURIComponent(id) + "#token=" + encodeURIComponent(token);
  }

  function renderReceipt() {
    el("receipt").hidden = !receipt;
    if (!receipt) return;
    el("receipt-heading").textContent = t("receipt.heading");
    el("receipt-lead").textContent = t("receipt.lead");
    el("receipt-entry-label").textContent = t("receipt.entry");
    el("receipt-entry").textContent = receipt.entry_id;
    el("receipt-quantity-label").textContent = t("receipt.quantity");
    el("receipt-quantity").textContent = t("receipt.quantity.value", { quantity: receipt.quantity });
    el("receipt-close-label").textContent = t("lottery.close");
    el("receipt-close").textContent = t("lottery.jst", { time: when(receipt.applications_close_at) });
    el("receipt-draw-label").textContent = t("lottery.draw");
    el("receipt-draw").textContent = t("lottery.jst", { time: when(receipt.draw_at) });
    el("receipt-next").textContent = t("receipt.next");
    el("receipt-link").textContent = t("receipt.link");
    el("receipt-link").href = applicationPage(receipt.application_id, receipt.application_token);
    el("receipt-verify").textContent = t("receipt.verify");
    el("receipt-verify").href = "/lottery.html?drop=" + encodeURIComponent(drop.id);
  }

  let lotteryMissing = "loading"; // then null, or "missing" | "network" when the record could not be read
  async function reloadLottery() {
    const found = await F.util.api("GET", "/api/v1/drops/" + encodeURIComponent(drop.id) + "/lottery");
    if (found.ok) {
      lottery = found.body;
      lotteryMissing = null;
    } else {
      lottery = null;
      lotteryMissing = found.network || found.status >= 500 ? "network" : "missing";
    }
    render(F.i18n.current());
  }

  function applicationRefusal(result) {
    if (result.network) return { general: { key: "common.network" } };
    if (result.status === 422) {
      return { general: { key: "err.fields" }, fields: validationErrors(result.body && result.body.detail) };
    }
    const code = F.util.errorCode(result) || (result.status === 429 ? "rate_limited" : "");
    if (["applications_closed", "drop_paused", "drop_not_found"].includes(code)) reloadLottery();
    if (["applications_closed", "already_applied", "limit_exceeded", "drop_paused", "drop_not_found",
      "idempotency_key_reused", "request_in_progress", "rate_limited"].includes(code)) {
      return { general: { key: "aerr." + code, vars: { limit: drop.per_buyer_limit } } };
    }
    if (result.status >= 500) return { general: { key: "common.server" } };
    return { general: { key: "aerr.unknown", vars: { code: code || result.status } } };
  }

  async function submitApplication() {
    const body = readForm();
    delete body.drop_id; // in the path
    delete body.payment_method; // winners choose how to pay on their order's page
    const local = localErrors(Object.assign({ payment_method: "-" }, body));
    if (Object.keys(local).length) return showErrors({ key: "err.fields" }, local);
    showErrors(null, {});
    const serialised = JSON.stringify(body);
    if (serialised !== attempt.body) attempt = { body: serialised, key: F.util.uuid() };
    setBusy(true, "submit.sending");
    const created = await F.util.api("POST", "/api/v1/drops/" + encodeURIComponent(drop.id) + "/applications", {
      json: body,
      headers: { "Idempotency-Key": attempt.key },
    });
    setBusy(false);
    if (!created.ok) {
      const refused = applicationRefusal(created);
      return showErrors(refused.general, refused.fields);
    }
    receipt = created.body;
    remember("furusato.application." + receipt.application_id, receipt.application_token);
    remember("furusato.lottery." + drop.id, receipt.application_id);
    attempt = { body: "", key: "" };
    render(F.i18n.current());
    el("receipt").focus();
    reloadLottery(); // the count of applications moved
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
    if (isLottery()) return submitApplication();
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
    // A lottery drop is not bought on this page: it takes applications while they are open
    // (renderLottery shows the form then, a plain note otherwise).
    if (isLottery()) return found;
    const closed = drop.status !== "on_sale";
    el("submit").disabled = closed;
    if (closed && !errors.general) showErrors({ key: "closed." + drop.status });
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
    if (isLottery()) await reloadLottery();
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    fillPrefectures(F.i18n.current());
    load();
  });
})();
