// The live auction of a park's naming right (/lots/{id}, or lot.html?id=N): the price now, the
// next minimum bid, the end (it moves when a bid comes just before it) with a countdown, and
// every bid by pseudonym. Live through Server-Sent Events (GET /api/v1/lots/{id}/events, event
// "lot" with the lot's JSON), polling GET /api/v1/lots/{id} while the stream is down.
// A bidder signs in by emailed link (signin.html?next=…&create=1 brings them back here),
// registers once (prefecture, payment method), then bids in whole yen with an Idempotency-Key
// per attempt. After the close: the result, the winner's payment (demo button, or the mailed
// pay link /lots/{id}?pay=<secret> → the card checkout), the public offers log and the bid log.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const params = new URLSearchParams(location.search);
  const POLL_MS = 3000;
  const CLOSED = ["ended", "awaiting_payment", "awarded", "unsold"];
  const FINAL = ["awarded", "unsold"];
  let lotId = "";
  let lot = null;
  let me = null;
  let session = null;
  let offers = null;
  let clockOffset = 0; // server clock − this browser's clock, in ms
  let stream = null;
  let pollTimer = null;
  let meTimer = null;
  let registration = null; // the last POST /bidders answer (its setup_url for a card)
  let amountDirty = false; // the bidder typed an amount: a new minimum does not overwrite it
  let attempt = { body: "", key: "" };
  let busy = false;
  const errors = { register: null, registerFields: {}, bid: null, amount: null, pay: null, setup: null };
  const unavailable = []; // payment methods this deployment refused (payment_method_unavailable)

  F.i18n.define({
    ja: {
      "form.prefecture.choose": "選択してください",
      "lot.title": "{park}の命名権",
      "lot.term": "命名期間: {start} 〜 {end}",
      "lot.price": "現在の価格",
      "lot.price.start": "開始価格",
      "lot.price.won": "落札額",
      "lot.ends": "終了",
      "lot.left": "残り時間",
      "lot.count": "{n}件の入札",
      "lot.count.none": "まだ入札はありません",
      "lot.starts": "開始",
      "lot.until_start": "開始まで",
      "lot.ended_at": "終了した時刻",
      "lot.closed": "終了しました",
      "lot.extended": "終了間際に入札があったため、終了が {from} から {to} に延びました。",
      "lot.rule": "終了前{soft}以内に入札があると、終了がその入札の{ext}後まで延びます。",
      "lot.rule.increment": "次の入札は、いまの価格より{step}以上高くしてください。",
      "lot.rule.default": "次の入札は、いまの価格より1,000円か5%の高いほう以上、高くしてください。",
      "lot.minutes": "{n}分",
      "lot.seconds": "{n}秒",
      "lot.cd.days": "{d}日 {h}時間 {m}分",
      "lot.cd.hours": "{h}時間 {m}分 {s}秒",
      "lot.cd.minutes": "{m}分 {s}秒",
      "lot.cd.seconds": "{s}秒",
      "lot.you": "（あなた）",
      "lot.bid.item": "{bidder}　{amount}",
      "lot.signed_in": "{email} でログイン中",
      "lot.bidder_me": "あなたは「{bidder}」として参加しています。",
      "lot.standing.highest": "いま、あなたが最高額です（{amount}）。",
      "lot.standing.outbid": "ほかの方が、あなたの入札（{amount}）を上回りました。",
      "lot.amount.hint": "円単位の整数で。{minimum}以上で入札できます。",
      "lot.bid.sending": "送信中です…",
      "lot.bid.done": "{amount}で入札しました。",
      "lot.pay.demo": "支払う（デモ決済）",
      "lot.pay.card": "お支払いへ進む（クレジットカード）",
      "lot.pay.sending": "処理しています…",
      "lot.pay.redirect": "決済ページへ移動します…",
      "lot.result.ended": "入札は締め切られました。結果をまとめています…",
      "lot.result.unsold": "入札がなかったため、今回は落札されませんでした。",
      "lot.result.awaiting": "{bidder}が{amount}で落札しました。お支払いを待っています。",
      "lot.result.awarded": "{bidder}が{amount}で落札しました。",
      "lot.you.offer": "あなたが落札しました。{deadline}までに{amount}をお支払いください。",
      "lot.you.offer.second": "落札者のお支払いがなかったため、あなたの入札額（{amount}）でお譲りします。{deadline}までにお支払いください。",
      "lot.you.offer.mail": "お支払い用のリンクをメールでお送りしました。{deadline}までに、そのリンクからお支払いください。",
      "lot.you.charging": "登録されたカードで{amount}をお支払い中です…",
      "lot.you.paid": "お支払いが完了しました。この期間の命名権はあなたのものです。",
      "lot.you.propose": "公園のページで名前を提案する",
      "lot.you.lapsed": "お支払いの期限が過ぎました。",
      "lot.paylink": "お支払いのページです。ボタンを押すと、カード決済の画面へ進みます。",
      "offer.item": "{round}回目: {bidder}　{amount}　{state}",
      "offer.charging": "決済中",
      "offer.awaiting_payment": "お支払い待ち",
      "offer.paid": "支払い済み",
      "offer.lapsed": "期限切れ",
      "offer.declined": "辞退",
      "record.chain": "チェーン",
      "record.contract": "コントラクト",
      "record.lot": "命名権の番号",
      "record.reserve": "開始価格",
      "pay.demo": "デモ決済（テスト用・お金は動きません）",
      "pay.card": "クレジットカード",
      "err.bid_too_low": "入札額が低すぎます。いまの最低入札額は{minimum}です。",
      "err.auction_closed": "入札の受付は終わりました。",
      "err.auction_not_started": "オークションはまだ始まっていません。",
      "err.not_registered": "入札の前に、参加の登録をしてください。",
      "err.payment_pending": "クレジットカードの登録が終わってから入札できます。",
      "err.idempotency_key_reused": "入札額が変わりました。もう一度「入札する」を押してください。",
      "err.rate_limited": "入札が続いたため、少しお待ちください。数秒後にもう一度お試しください。",
      "err.amount": "入札額を円単位の整数で入力してください（例: 15000）。",
      "err.payment_method_unavailable": "このお支払い方法は、いまはご利用いただけません。別の方法をお選びください。",
      "err.payment_provider_unavailable": "決済サービスにつながりませんでした。少し待ってから、もう一度お試しください。",
      "err.offer_not_payable": "このお支払いは、もう受け付けていません（期限切れか、お支払い済みです）。",
      "err.pay_link_invalid": "このお支払いのリンクは正しくないか、期限が切れています。",
      "err.offer_paid": "お支払いはすでに済んでいます。",
      "err.offer_expired": "お支払いの期限を過ぎました。",
      "err.offer_not_found": "このお支払いのリンクは正しくないか、期限が切れています。",
      "err.lot_not_found": "このオークションは見つかりませんでした。",
      "err.fields": "入力内容をご確認ください。",
      "err.card_unavailable": "決済サービスにつながりませんでした。少し待ってから、もう一度お試しください。",
      "err.unknown": "受け付けられませんでした（{code}）。",
      "field.prefecture": "お住まいの都道府県を選んでください。",
      "field.payment_method": "お支払い方法を選んでください。",
    },
    en: {
      "lot.pagetitle": "Park naming rights auction | Furusato",
      "lot.park_link": "The park's page",
      "lot.eyebrow": "Park naming rights auction",
      "lot.loading": "Loading…",
      "lot.price": "Current price",
      "lot.minimum": "Next minimum bid",
      "lot.ends": "Ends",
      "lot.left": "Time left",
      "lot.missing": "We could not find this auction.",
      "lot.result": "Result",
      "lot.bid.heading": "Bid",
      "lot.signin.body": "Sign in with your email address to bid. New here? An email address is all you need (no password).",
      "lot.signin": "Sign in to take part",
      "lot.register.body": "First, register for this auction. Other bidders only see a number such as “Bidder 1”.",
      "form.prefecture": "Prefecture you live in",
      "form.prefecture.choose": "Please choose",
      "lot.payment": "How you will pay if you win",
      "lot.payment.hint": "A credit card is saved now and charged only if you win, for your winning bid.",
      "lot.register.submit": "Register",
      "lot.card_pending": "Your credit card is not saved yet. You can bid once it is.",
      "lot.card_setup": "Save my card",
      "lot.amount": "Your bid (yen)",
      "lot.bid.submit": "Bid",
      "lot.bids": "Bids",
      "lot.bids.empty": "No bids yet. Be the first.",
      "lot.offers": "Award record",
      "lot.offers.body": "If the winner does not pay in time, the right is offered to the next highest bidder at their own bid (at most twice).",
      "lot.record": "Record",
      "lot.record.body": "The naming right is recorded on a blockchain anyone can check. After the close, the full log of bids is published in a form that shows any tampering.",
      "lot.bid_log": "See the bid log (JSON)",
      "lot.title": "Naming rights: {park}",
      "lot.term": "Naming term: {start} – {end}",
      "lot.price.start": "Starting price",
      "lot.price.won": "Winning bid",
      "lot.count": "{n} bid(s)",
      "lot.count.none": "No bids yet",
      "lot.starts": "Starts",
      "lot.until_start": "Starts in",
      "lot.ended_at": "Ended",
      "lot.closed": "Closed",
      "lot.extended": "A bid came just before the end, so the end moved from {from} to {to}.",
      "lot.rule": "A bid in the last {soft} moves the end to {ext} after that bid.",
      "lot.rule.increment": "Each bid must be at least {step} above the current price.",
      "lot.rule.default": "Each bid must be above the current price by ¥1,000 or 5 %, whichever is more.",
      "lot.minutes": "{n} min",
      "lot.seconds": "{n} s",
      "lot.cd.days": "{d}d {h}h {m}m",
      "lot.cd.hours": "{h}h {m}m {s}s",
      "lot.cd.minutes": "{m}m {s}s",
      "lot.cd.seconds": "{s}s",
      "lot.you": " (you)",
      "lot.bid.item": "{bidder}  {amount}",
      "lot.signed_in": "Signed in as {email}",
      "lot.bidder_me": "You take part as “{bidder}”.",
      "lot.standing.highest": "You are the highest bidder ({amount}).",
      "lot.standing.outbid": "Someone has outbid your bid of {amount}.",
      "lot.amount.hint": "Whole yen, at least {minimum}.",
      "lot.bid.sending": "Sending…",
      "lot.bid.done": "You bid {amount}.",
      "lot.pay.demo": "Pay (demo payment)",
      "lot.pay.card": "Go to payment (credit card)",
      "lot.pay.sending": "Processing…",
      "lot.pay.redirect": "Taking you to the payment page…",
      "lot.result.ended": "Bidding has closed. Working out the result…",
      "lot.result.unsold": "There were no bids, so the right was not sold this time.",
      "lot.result.awaiting": "{bidder} won with {amount}. Waiting for the payment.",
      "lot.result.awarded": "{bidder} won with {amount}.",
      "lot.you.offer": "You won. Please pay {amount} by {deadline}.",
      "lot.you.offer.second": "The winner did not pay, so the right is offered to you at your bid ({amount}). Please pay by {deadline}.",
      "lot.you.offer.mail": "We emailed you a payment link. Please pay through it by {deadline}.",
      "lot.you.charging": "Charging {amount} to your saved card…",
      "lot.you.paid": "Payment complete. The naming right for this term is yours.",
      "lot.you.propose": "Propose a name on the park's page",
      "lot.you.lapsed": "The time to pay has passed.",
      "lot.paylink": "This is your payment page. The button takes you to the card payment.",
      "offer.item": "Round {round}: {bidder}  {amount}  {state}",
      "offer.charging": "Charging",
      "offer.awaiting_payment": "Awaiting payment",
      "offer.paid": "Paid",
      "offer.lapsed": "Lapsed",
      "offer.declined": "Declined",
      "record.chain": "Chain",
      "record.contract": "Contract",
      "record.lot": "Naming right no.",
      "record.reserve": "Starting price",
      "pay.demo": "Demo payment (test only, no money moves)",
      "pay.card": "Credit card",
      "err.bid_too_low": "Your bid is too low. The minimum bid now is {minimum}.",
      "err.auction_closed": "Bidding has closed.",
      "err.auction_not_started": "The auction has not started yet.",
      "err.not_registered": "Please register for this auction before bidding.",
      "err.payment_pending": "You can bid once your credit card is saved.",
      "err.idempotency_key_reused": "Your bid changed. Please press “Bid” again.",
      "err.rate_limited": "Many bids in a row: please wait a few seconds and try again.",
      "err.amount": "Please enter your bid in whole yen (e.g. 15000).",
      "err.payment_method_unavailable": "This payment method is not available right now. Please choose another.",
      "err.payment_provider_unavailable": "The payment service did not answer. Please wait a moment and try again.",
      "err.offer_not_payable": "This payment is no longer open (it expired or is already paid).",
      "err.pay_link_invalid": "This payment link is not valid or has expired.",
      "err.offer_paid": "This is already paid.",
      "err.offer_expired": "The time to pay has passed.",
      "err.offer_not_found": "This payment link is not valid or has expired.",
      "err.lot_not_found": "We could not find this auction.",
      "err.fields": "Please check the highlighted fields.",
      "err.card_unavailable": "The payment service did not answer. Please wait a moment and try again.",
      "err.unknown": "This was refused ({code}).",
      "field.prefecture": "Please choose the prefecture you live in.",
      "field.payment_method": "Please choose a payment method.",
    },
  });

  function el(id) { return document.getElementById(id); }

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function now() { return Date.now() + clockOffset; }

  function yen(amount) { return amount === null || amount === undefined ? "—" : F.util.yen(amount); }

  // "入札者 3" from the API; "Bidder 3" in English.
  function pseudonym(text) {
    const found = /^入札者\s*(\d+)$/.exec(String(text || ""));
    if (found && F.i18n.current() === "en") return "Bidder " + found[1];
    return String(text || "");
  }

  function duration(seconds) {
    return seconds % 60 === 0 ? t("lot.minutes", { n: seconds / 60 }) : t("lot.seconds", { n: seconds });
  }

  function countdown(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    if (d > 0) return t("lot.cd.days", { d: d, h: h, m: m });
    if (h > 0) return t("lot.cd.hours", { h: h, m: pad(m), s: pad(s) });
    if (m > 0) return t("lot.cd.minutes", { m: m, s: pad(s) });
    return t("lot.cd.seconds", { s: s });
  }

  function parkName() {
    if (!lot) return "";
    return F.i18n.current() === "en" ? (lot.park_name_en || lot.park_name_ja) : lot.park_name_ja;
  }

  function closed() { return !!lot && CLOSED.indexOf(lot.status) >= 0; }

  // ----- rendering -----

  function fillPrefectures(lang) {
    const select = el("prefecture");
    const chosen = select.value;
    const names = lang === "en" ? F.prefectures.en : F.prefectures.ja;
    const options = [node("option", "", t("form.prefecture.choose"))];
    options[0].value = "";
    for (let code = 1; code <= 47; code++) {
      const o = node("option", "", names[code]);
      o.value = String(code).padStart(2, "0");
      options.push(o);
    }
    const abroad = node("option", "", names[0]);
    abroad.value = "00";
    options.push(abroad);
    select.replaceChildren.apply(select, options);
    select.value = chosen;
  }

  function paymentChoices() {
    const box = el("payment-choices");
    const offered = lot && Array.isArray(lot.payment_methods) ? lot.payment_methods : ["demo", "card"];
    const methods = offered.filter(function (m) { return unavailable.indexOf(m) < 0; });
    const chosen = (box.querySelector("input:checked") || {}).value || methods[0];
    box.replaceChildren.apply(box, methods.map(function (method) {
      const label = node("label", "choice");
      const input = node("input");
      input.type = "radio";
      input.name = "payment_method";
      input.value = method;
      input.checked = method === chosen;
      label.append(input, node("span", "", t("pay." + method)));
      return label;
    }));
  }

  function renderHead() {
    const en = F.i18n.current() === "en";
    const title = el("lot-title");
    delete title.dataset.i18n;
    title.textContent = t("lot.title", { park: parkName() });
    document.title = t("lot.title", { park: parkName() }) + (en ? " | Furusato" : " | ふるさと");
    el("lot-term").textContent = t("lot.term", { start: F.util.time.date(lot.term_start), end: F.util.time.date(lot.term_end) });
    const badge = el("lot-status");
    badge.hidden = false;
    badge.className = "badge badge-lot-" + lot.status;
    badge.textContent = t("lotstatus." + lot.status);
    el("back-link").href = "/?town=" + encodeURIComponent(lot.municipality || "");
    el("park-link").href = "/parks/" + encodeURIComponent(lot.park_id);
    el("park-link").hidden = false;
  }

  function renderBoard() {
    el("price-board").hidden = false;
    const hasBid = lot.highest_bid_jpy !== null && lot.highest_bid_jpy !== undefined;
    const priceLabel = el("price-label");
    delete priceLabel.dataset.i18n;
    const won = hasBid && ["awaiting_payment", "awarded"].indexOf(lot.status) >= 0;
    priceLabel.textContent = won ? t("lot.price.won") : hasBid ? t("lot.price") : t("lot.price.start");
    el("lot-price").textContent = yen(hasBid ? lot.highest_bid_jpy : lot.reserve_jpy);
    el("lot-count").textContent = lot.bid_count ? t("lot.count", { n: lot.bid_count }) : t("lot.count.none");
    el("lot-minimum").textContent = yen(lot.minimum_bid_jpy);
    el("lot-minimum").parentElement.hidden = closed();
    const endLabel = el("end-label");
    delete endLabel.dataset.i18n;
    const scheduled = lot.status === "scheduled";
    endLabel.textContent = scheduled ? t("lot.starts") : closed() ? t("lot.ended_at") : t("lot.ends");
    el("lot-ends").textContent = F.util.time.jst(scheduled ? lot.auction_start : lot.ends_at, true);
    const cdLabel = el("countdown-label");
    delete cdLabel.dataset.i18n;
    cdLabel.textContent = scheduled ? t("lot.until_start") : t("lot.left");
    const extended = F.util.time.ms(lot.ends_at) > F.util.time.ms(lot.auction_end);
    el("lot-extended").hidden = !extended;
    if (extended) {
      el("lot-extended").textContent = t("lot.extended", {
        from: F.util.time.jst(lot.auction_end, true), to: F.util.time.jst(lot.ends_at, true),
      });
    }
    const rule = [t("lot.rule", { soft: duration(lot.soft_close_seconds), ext: duration(lot.extension_seconds) })];
    rule.push(lot.min_increment_jpy ? t("lot.rule.increment", { step: yen(lot.min_increment_jpy) }) : t("lot.rule.default"));
    el("lot-rule").textContent = closed() ? "" : rule.join(" ");
    tick();
  }

  function tick() {
    if (!lot) return;
    const box = el("lot-countdown");
    if (closed()) {
      box.textContent = t("lot.closed");
      box.classList.remove("soon");
      return;
    }
    const left = target() - now();
    box.textContent = countdown(left);
    box.classList.toggle("soon", lot.status === "open" && left <= lot.soft_close_seconds * 1000);
    // The end (or the start) has come by this browser's reckoning: ask the server what it says.
    if (left <= 0 && !pollTimer) {
      refresh();
      ensurePolling();
    }
  }

  function renderBids() {
    el("bids-section").hidden = false;
    const mine = me && me.registered ? me.bidder : null;
    const items = (lot.bids || []).map(function (bid, index) {
      const li = node("li", "bid-item" + (index === 0 ? " top" : "") + (mine && bid.bidder === mine ? " mine" : ""));
      const who = node("span", "bidder", pseudonym(bid.bidder) + (mine && bid.bidder === mine ? t("lot.you") : ""));
      li.append(who, node("span", "bid-amount", yen(bid.amount_jpy)), node("time", "bid-at", F.util.time.jst(bid.at, true)));
      li.dataset.seq = String(bid.seq);
      return li;
    });
    el("bid-list").replaceChildren.apply(el("bid-list"), items);
    el("bids-empty").hidden = items.length > 0;
  }

  function renderBidSection() {
    const open = !!lot && (lot.status === "open" || lot.status === "scheduled");
    el("bid-section").hidden = !open;
    if (!open) return;
    const signedIn = !!session;
    el("signed-out").hidden = signedIn;
    const here = location.pathname + (params.get("id") ? "?id=" + encodeURIComponent(params.get("id")) : "");
    el("signin-link").href = "/signin.html?" + new URLSearchParams({ next: here, create: "1" }).toString();
    const registered = signedIn && me && me.registered;
    const pending = registered && me.payment_state === "pending";
    el("register-form").hidden = !(signedIn && me && !registered);
    el("signed-in-as").textContent = session ? t("lot.signed_in", { email: session.email || "" }) : "";
    el("card-pending").hidden = !pending;
    el("setup-error").hidden = !errors.setup;
    el("setup-error").textContent = errors.setup ? t(errors.setup.key, errors.setup.vars) : "";
    const ready = registered && me.payment_state === "ready" && lot.status === "open";
    el("bid-form").hidden = !ready;
    if (!ready) return renderRegisterErrors();
    el("bidder-me").textContent = t("lot.bidder_me", { bidder: pseudonym(me.bidder) });
    const standing = el("bid-standing");
    if (me.my_highest_bid_jpy) {
      standing.hidden = false;
      standing.className = "notice" + (me.is_highest ? " notice-success" : " notice-warn");
      standing.textContent = me.is_highest
        ? t("lot.standing.highest", { amount: yen(me.my_highest_bid_jpy) })
        : t("lot.standing.outbid", { amount: yen(me.my_highest_bid_jpy) });
    } else {
      standing.hidden = true;
    }
    const amount = el("amount");
    if (!amountDirty || Number(amount.value) < lot.minimum_bid_jpy && document.activeElement !== amount) {
      amount.value = String(lot.minimum_bid_jpy);
      amountDirty = false;
    }
    el("amount-hint").textContent = t("lot.amount.hint", { minimum: yen(lot.minimum_bid_jpy) });
    renderBidErrors();
    renderRegisterErrors();
  }

  function renderBidErrors() {
    const general = el("bid-error");
    general.hidden = !errors.bid;
    general.textContent = errors.bid ? t(errors.bid.key, errors.bid.vars) : "";
    el("amount-error").hidden = !errors.amount;
    el("amount-error").textContent = errors.amount ? t(errors.amount) : "";
    if (errors.amount) el("amount").setAttribute("aria-invalid", "true");
    else el("amount").removeAttribute("aria-invalid");
  }

  function renderRegisterErrors() {
    const general = el("register-error");
    general.hidden = !errors.register;
    general.textContent = errors.register ? t(errors.register.key, errors.register.vars) : "";
    ["prefecture", "payment_method"].forEach(function (name) {
      const shown = errors.registerFields[name];
      el(name + "-error").hidden = !shown;
      el(name + "-error").textContent = shown ? t("field." + name) : "";
      const input = name === "payment_method" ? el("payment-field") : el(name);
      if (shown) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    });
  }

  // The winning entry: the newest offer of the award log, else the highest bid.
  function winner() {
    const list = offers || [];
    if (list.length) return list[list.length - 1];
    const top = (lot.bids || [])[0];
    return top ? { bidder: top.bidder, amount_jpy: top.amount_jpy } : null;
  }

  function renderResult() {
    const section = el("result-section");
    section.hidden = !closed() && !payToken();
    if (section.hidden) return;
    const text = el("result-text");
    const win = winner();
    if (lot.status === "ended") text.textContent = t("lot.result.ended");
    else if (lot.status === "unsold") text.textContent = t("lot.result.unsold");
    else if (win) {
      text.textContent = t(lot.status === "awarded" ? "lot.result.awarded" : "lot.result.awaiting", {
        bidder: pseudonym(win.bidder), amount: yen(win.amount_jpy),
      });
    } else text.textContent = "";
    if (!closed()) text.textContent = "";
    renderPay();
  }

  function payToken() { return params.get("pay") || ""; }

  function tokenOf(url) {
    try { return new URL(url || "", location.origin).searchParams.get("pay") || ""; } catch (e) { return ""; }
  }

  // Which offer the pay link is for: ?offer=, else the signed-in bidder's, else the newest
  // open offer of the award log.
  function payOfferId() {
    if (params.get("offer")) return params.get("offer");
    if (me && me.offer) return String(me.offer.id);
    const open = (offers || []).filter(function (o) { return o.state === "awaiting_payment" && o.id !== undefined; });
    return open.length ? String(open[open.length - 1].id) : "";
  }

  function renderPay() {
    const box = el("pay-box");
    const text = el("pay-text");
    const button = el("pay-button");
    const offer = me && me.offer ? me.offer : null;
    let show = false;
    let buttonKey = null;
    let message = "";
    if (offer) {
      const vars = { amount: yen(offer.amount_jpy), deadline: F.util.time.jst(offer.pay_deadline) };
      if (offer.state === "awaiting_payment") {
        show = true;
        message = t(offer.round > 1 ? "lot.you.offer.second" : "lot.you.offer", vars);
        if (offer.pay_with === "demo") buttonKey = "lot.pay.demo";
        else if (payToken()) buttonKey = "lot.pay.card";
        else if (offer.pay_url) buttonKey = "lot.pay.card";
        else message += " " + t("lot.you.offer.mail", vars);
      } else if (offer.state === "charging") {
        show = true;
        message = t("lot.you.charging", vars);
      } else if (offer.state === "paid") {
        show = true;
        message = t("lot.you.paid");
      } else if (offer.state === "lapsed") {
        show = true;
        message = t("lot.you.lapsed");
      }
    } else if (payToken() && !FINAL.includes(lot.status)) {
      show = true;
      message = t("lot.paylink");
      buttonKey = "lot.pay.card";
    }
    box.hidden = !show;
    text.textContent = message;
    button.hidden = !buttonKey;
    if (buttonKey) {
      delete button.dataset.i18n;
      button.textContent = t(buttonKey);
      button.dataset.kind = buttonKey === "lot.pay.demo" ? "demo" : "card";
    }
    let link = el("propose-link");
    if (me && me.is_primary_winner && offer && offer.state === "paid") {
      if (!link) {
        link = node("a", "button primary");
        link.id = "propose-link";
        box.append(link);
      }
      link.href = "/parks/" + encodeURIComponent(lot.park_id);
      link.textContent = t("lot.you.propose");
      link.hidden = false;
    } else if (link) link.hidden = true;
    el("pay-status").textContent = errors.pay ? t(errors.pay.key, errors.pay.vars) : "";
    el("pay-status").className = errors.pay && errors.pay.tone === "error" ? "field-error" : "hint";
  }

  function renderOffers() {
    const section = el("offers-section");
    const list = offers || [];
    section.hidden = !list.length;
    el("offer-list").replaceChildren.apply(el("offer-list"), list.map(function (offer) {
      const li = node("li", "bid-item");
      li.append(
        node("span", "bidder", t("offer.item", {
          round: offer.round, bidder: F.i18n.current() === "en" && offer.bidder_en ? offer.bidder_en : pseudonym(offer.bidder),
          amount: yen(offer.amount_jpy), state: t("offer." + offer.state),
        })),
        node("time", "bid-at", F.util.time.jst(offer.at, true)),
      );
      return li;
    }));
  }

  function renderRecord() {
    const chain = lot.chain || {};
    el("record").hidden = false;
    const rows = [
      ["record.chain", chain.chain_id],
      ["record.contract", chain.contract],
      ["record.lot", chain.lot_id === null || chain.lot_id === undefined ? "—" : chain.lot_id],
      ["record.reserve", yen(lot.reserve_jpy)],
    ];
    const list = el("record-list");
    list.replaceChildren();
    rows.forEach(function (row) {
      list.append(node("dt", "", t(row[0])), node("dd", row[0] === "record.contract" ? "mono" : "", String(row[1] === undefined ? "—" : row[1])));
    });
    const log = el("bid-log-link");
    log.hidden = !closed();
    log.href = "/api/v1/lots/" + encodeURIComponent(lotId) + "/bid-log";
  }

  function render() {
    if (!lot) return;
    renderHead();
    renderBoard();
    renderBids();
    renderBidSection();
    renderResult();
    renderOffers();
    renderRecord();
  }

  // ----- data -----

  function update(next) {
    if (!next || next.id === undefined) return;
    if (lot && next.bid_count < lot.bid_count) return; // an older answer overtaken by a newer one
    const changed = !lot || next.bid_count !== lot.bid_count || next.status !== lot.status || next.ends_at !== lot.ends_at;
    if (next.server_time) clockOffset = F.util.time.ms(next.server_time) - Date.now();
    lot = next;
    render();
    if (changed && session) scheduleMe();
    if (changed && closed()) loadOffers();
    if (FINAL.indexOf(lot.status) >= 0 && stream) {
      stream.close();
      stream = null;
    }
    decidePolling();
  }

  // The moment the countdown aims at (the start while scheduled, else the end), in ms.
  function target() {
    return F.util.time.ms(lot.status === "scheduled" ? lot.auction_start : lot.ends_at);
  }

  // Poll while the stream is down, and while waiting for what the clock (not a bid) changes:
  // the start, the end, and the settle job's answer after it.
  function decidePolling() {
    if (!lot || FINAL.indexOf(lot.status) >= 0) return stopPolling();
    const live = stream && stream.readyState === 1;
    const waiting = lot.status === "ended" || lot.status === "awaiting_payment" || target() <= now();
    if (!live || waiting) ensurePolling();
    else stopPolling();
  }

  async function refresh() {
    const found = await F.util.api("GET", "/api/v1/lots/" + encodeURIComponent(lotId));
    if (found.ok) update(found.body);
    return found;
  }

  function ensurePolling() {
    if (pollTimer) return;
    pollTimer = setInterval(function () {
      refresh();
      if (session && lot && closed()) loadMe();
    }, POLL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function openStream() {
    if (typeof window.EventSource !== "function") return ensurePolling();
    stream = new EventSource("/api/v1/lots/" + encodeURIComponent(lotId) + "/events");
    stream.addEventListener("lot", function (event) {
      try { update(JSON.parse(event.data)); } catch (e) { /* a broken message: the next one or the poll fixes it */ }
    });
    stream.addEventListener("open", decidePolling);
    // The browser reconnects by itself; until then (or for good, if it gave up) poll.
    stream.addEventListener("error", decidePolling);
  }

  function scheduleMe() {
    clearTimeout(meTimer);
    meTimer = setTimeout(loadMe, 250);
  }

  function signOut() {
    F.util.session(null);
    session = null;
    me = null;
    render();
  }

  async function loadMe() {
    if (!session) return;
    const found = await F.util.api("GET", "/api/v1/lots/" + encodeURIComponent(lotId) + "/me", { bearer: session.session_token });
    if (found.status === 401) return signOut();
    if (!found.ok) return;
    me = found.body;
    render();
    // Paid, the award on chain still on its way: look again until the chain has it (then the
    // winner is offered the park page to propose a name).
    const paid = me.offer && me.offer.state === "paid";
    const saving = me.registered && me.payment_state === "pending" && lot && !closed();
    if ((paid && !me.awarded) || saving) {
      clearTimeout(meTimer);
      meTimer = setTimeout(loadMe, POLL_MS);
    }
  }

  async function loadOffers() {
    const found = await F.util.api("GET", "/api/v1/lots/" + encodeURIComponent(lotId) + "/offers");
    if (!found.ok) return;
    offers = Array.isArray(found.body) ? found.body : (found.body && found.body.items) || [];
    render();
  }

  // ----- actions -----

  function refusal(result) {
    if (result.network) return { key: "common.network" };
    const code = F.util.errorCode(result);
    if (result.status === 429) return { key: "err.rate_limited" };
    if (code === "bid_too_low") {
      const error = (result.body && result.body.error) || {};
      const minimum = error.minimum_bid_jpy || (error.details && error.details.minimum_bid_jpy) || (result.body && result.body.minimum_bid_jpy);
      return { key: "err.bid_too_low", vars: { minimum: yen(minimum || (lot && lot.minimum_bid_jpy)) } };
    }
    const known = ["auction_closed", "auction_not_started", "not_registered", "payment_pending", "idempotency_key_reused",
      "payment_method_unavailable", "payment_provider_unavailable", "offer_not_payable", "offer_paid", "offer_expired",
      "offer_not_found", "pay_link_invalid", "lot_not_found", "card_unavailable"];
    if (known.indexOf(code) >= 0) return { key: "err." + code };
    if (result.status >= 500) return { key: "common.server" };
    return { key: "err.unknown", vars: { code: code || result.status } };
  }

  async function register(event) {
    event.preventDefault();
    if (busy) return;
    const method = el("register-form").querySelector("input[name=payment_method]:checked");
    const body = { prefecture: el("prefecture").value, payment_method: method ? method.value : "" };
    errors.registerFields = {};
    if (!body.prefecture) errors.registerFields.prefecture = true;
    if (!body.payment_method) errors.registerFields.payment_method = true;
    errors.register = Object.keys(errors.registerFields).length ? { key: "err.fields" } : null;
    renderRegisterErrors();
    if (errors.register) return (errors.registerFields.prefecture ? el("prefecture") : el("payment-field").querySelector("input")).focus();
    busy = true;
    el("register-submit").disabled = true;
    const made = await F.util.api("POST", "/api/v1/lots/" + encodeURIComponent(lotId) + "/bidders", { json: body, bearer: session.session_token });
    busy = false;
    el("register-submit").disabled = false;
    if (made.status === 401) return signOut();
    if (!made.ok) {
      if (made.status === 422) {
        const detail = (made.body && made.body.detail) || [];
        (Array.isArray(detail) ? detail : []).forEach(function (problem) {
          const name = Array.isArray(problem.loc) ? problem.loc[problem.loc.length - 1] : "";
          if (name === "prefecture" || name === "payment_method") errors.registerFields[name] = true;
        });
        errors.register = { key: "err.fields" };
      } else errors.register = refusal(made);
      if (F.util.errorCode(made) === "payment_method_unavailable" && unavailable.indexOf(body.payment_method) < 0) {
        unavailable.push(body.payment_method);
        paymentChoices();
      }
      renderRegisterErrors();
      return el("register-error").focus();
    }
    registration = made.body;
    errors.register = null;
    if (registration.payment_state === "pending" && registration.setup_url) {
      location.href = registration.setup_url; // save the card with the payment service, then back here
      return;
    }
    await loadMe();
    if (!el("amount").closest("form").hidden) el("amount").focus();
  }

  // A card not saved yet (the bidder left the payment service's page): registering again
  // answers the same registration with a fresh page to save the card.
  async function setupCard() {
    if (busy) return;
    busy = true;
    el("setup-button").disabled = true;
    errors.setup = null;
    const again = await F.util.api("POST", "/api/v1/lots/" + encodeURIComponent(lotId) + "/bidders", {
      json: { prefecture: el("prefecture").value || "00", payment_method: "card" }, bearer: session.session_token,
    });
    busy = false;
    el("setup-button").disabled = false;
    if (again.status === 401) return signOut();
    if (again.ok && again.body && again.body.setup_url) {
      location.href = again.body.setup_url;
      return;
    }
    if (again.ok) return loadMe();
    errors.setup = refusal(again);
    render();
  }

  async function bid(event) {
    event.preventDefault();
    if (busy || !lot) return;
    const text = el("amount").value.replace(/[,，\s円¥￥]/g, "").replace(/[０-９]/g, function (d) {
      return String.fromCharCode(d.charCodeAt(0) - 0xfee0);
    });
    errors.bid = null;
    errors.amount = /^\d{1,12}$/.test(text) && Number(text) > 0 ? null : "err.amount";
    if (errors.amount) {
      renderBidErrors();
      return el("amount").focus();
    }
    const amount = Number(text);
    if (amount < lot.minimum_bid_jpy) {
      errors.bid = { key: "err.bid_too_low", vars: { minimum: yen(lot.minimum_bid_jpy) } };
      renderBidErrors();
      return el("amount").focus();
    }
    const body = JSON.stringify({ amount_jpy: amount });
    if (body !== attempt.body) attempt = { body: body, key: F.util.uuid() };
    busy = true;
    el("bid-submit").disabled = true;
    el("bid-status").textContent = t("lot.bid.sending");
    const placed = await F.util.api("POST", "/api/v1/lots/" + encodeURIComponent(lotId) + "/bids", {
      json: { amount_jpy: amount }, headers: { "Idempotency-Key": attempt.key }, bearer: session.session_token,
    });
    busy = false;
    el("bid-submit").disabled = false;
    el("bid-status").textContent = "";
    if (placed.status === 401) return signOut();
    if (!placed.network) attempt = { body: "", key: "" }; // answered: the next press is a new attempt
    if (placed.ok) {
      amountDirty = false;
      el("bid-status").textContent = t("lot.bid.done", { amount: yen(amount) });
      if (placed.body && placed.body.lot) update(placed.body.lot);
      loadMe();
      return;
    }
    errors.bid = refusal(placed);
    if (F.util.errorCode(placed) === "bid_too_low") amountDirty = false; // offer the new minimum
    renderBidErrors();
    el("bid-error").focus();
    await refresh();
    loadMe();
  }

  async function pay() {
    const button = el("pay-button");
    if (busy) return;
    busy = true;
    button.disabled = true;
    errors.pay = { key: "lot.pay.sending" };
    renderPay();
    const offerId = payOfferId();
    if (!offerId) {
      // The link names no offer and nobody is signed in: sign in first, then back to this link.
      location.href = "/signin.html?" + new URLSearchParams({ next: location.pathname + location.search }).toString();
      return;
    }
    const base = "/api/v1/lots/" + encodeURIComponent(lotId) + "/offers/" + encodeURIComponent(offerId);
    let result;
    if (button.dataset.kind === "demo") {
      result = await F.util.api("POST", base + "/demo-pay", { bearer: session ? session.session_token : undefined });
    } else {
      result = await F.util.api("POST", base + "/checkout", { json: { token: payToken() || tokenOf(me && me.offer && me.offer.pay_url) } });
      if (result.ok && result.body && result.body.checkout_url) {
        errors.pay = { key: "lot.pay.redirect" };
        renderPay();
        location.href = result.body.checkout_url;
        return;
      }
    }
    busy = false;
    button.disabled = false;
    if (result.status === 401) return signOut();
    if (!result.ok) {
      errors.pay = Object.assign(refusal(result), { tone: "error" });
      renderPay();
      return;
    }
    errors.pay = null;
    await loadMe();
    await refresh();
    loadOffers();
  }

  function missing(network) {
    const title = el("lot-title");
    delete title.dataset.i18n;
    title.textContent = "";
    if (network) {
      delete el("lot-missing").dataset.i18n;
      el("lot-missing").textContent = t("common.network");
    }
    el("lot-missing").hidden = false;
  }

  function idFromPage() {
    const fromPath = /^\/lots\/(\d+)\/?$/.exec(location.pathname);
    if (fromPath) return fromPath[1];
    const fromQuery = params.get("id") || "";
    return /^\d+$/.test(fromQuery) ? fromQuery : "";
  }

  async function load() {
    lotId = idFromPage();
    if (!lotId) return missing(false);
    const found = await refresh();
    if (!found.ok) return missing(found.network);
    paymentChoices();
    openStream();
    if (closed() || payToken()) loadOffers();
    if (session) loadMe();
    setInterval(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    session = F.util.session();
    F.i18n.onChange(function (lang) {
      fillPrefectures(lang);
      paymentChoices();
      render();
    });
    fillPrefectures(F.i18n.current());
    paymentChoices();
    el("register-form").addEventListener("submit", register);
    el("bid-form").addEventListener("submit", bid);
    el("amount").addEventListener("input", function () {
      amountDirty = true;
      if (errors.amount) { errors.amount = null; renderBidErrors(); }
    });
    el("prefecture").addEventListener("change", function () { delete errors.registerFields.prefecture; renderRegisterErrors(); });
    el("payment-choices").addEventListener("change", function () { delete errors.registerFields.payment_method; renderRegisterErrors(); });
    el("pay-button").addEventListener("click", pay);
    el("setup-button").addEventListener("click", setupCard);
    load();
  });
})();
