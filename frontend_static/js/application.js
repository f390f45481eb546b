// The applicant's page (application.html?id=ID#token=TOKEN, the link of the receipt and of
// every lottery mail): GET /api/v1/applications/{id} with the application token, re-read
// while something can still change. The token comes from the URL fragment once, then from
// localStorage (as the order page keeps an order's), so a reload works and the token stays
// out of the address bar. A place (won, promoted) is paid on its order's page.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  // How often to look again, by status; absent: nothing more can change.
  const POLL_MS = { applied: 5000, won: 10000, promoted: 10000, waitlisted: 30000 };
  const NETWORK_RETRY_MS = 10000;
  const applicationId = new URLSearchParams(location.search).get("id") || "";
  let token = null;
  let application = null;
  let drop = null;
  let problem = null; // "missing" | "network"

  F.i18n.define({
    ja: {
      "astatus.applied": "申込済",
      "astatus.won": "当選",
      "astatus.waitlisted": "補欠",
      "astatus.lost": "落選",
      "astatus.promoted": "繰り上げ当選",
      "astatus.paid": "支払済",
      "astatus.expired": "期限切れ",
      "alead.applied": "お申し込みを受け付けています。抽選は {draw}（日本時間）に行います。結果はこのページとメールでお知らせします。",
      "alead.applied.closed": "お申し込みの受付は締め切りました。抽選は {draw}（日本時間）に行います。結果はこのページとメールでお知らせします。",
      "alead.applied.drawing": "ただいま抽選の処理中です。まもなく結果が出ます。",
      "alead.won": "おめでとうございます。当選しました！ {deadline}（日本時間）までにお支払いください。期限を過ぎると当選は無効になり、補欠の方に繰り上がります。",
      "alead.promoted": "当選された方の枠が空いたため、繰り上げ当選となりました。{deadline}（日本時間）までにお支払いください。期限を過ぎると無効になります。",
      "alead.waitlisted": "今回は補欠となりました。当選された方がお支払い期限までにお支払いされなかった場合、順位の順に繰り上げ当選となり、メールでお知らせします。",
      "alead.lost": "お申し込みありがとうございました。残念ながら、今回はご用意できませんでした（すべての枠が確定しました）。",
      "alead.paid": "お支払いを確認しました。住民票の発行の状況はご注文のページでご覧いただけます。",
      "alead.expired": "お支払い期限までにお支払いがなかったため、この当選は無効になりました。",
      "app.rank": "抽選の順位: {rank}位",
      "app.pay": "お支払いへ進む",
      "app.order": "ご注文の状況を見る",
      "app.entry": "受付番号（エントリーID）",
      "app.quantity": "申込枚数",
      "app.quantity.value": "{quantity}枚",
      "app.prefecture": "お住まいの都道府県",
      "app.created": "お申し込み日時",
      "app.close": "締切",
      "app.draw": "抽選日",
      "app.deadline": "お支払い期限",
      "app.jst": "{time}（日本時間）",
      "app.verify": "抽選の検証ページで、この受付番号の順位を確かめる",
      "app.missing": "お申し込みが見つかりませんでした。受付のメールにあるリンクから開き直してください。",
      "app.network": "通信が途切れています。つながり次第、自動で更新します…",
    },
    en: {
      "app.pagetitle": "Your lottery application | Furusato",
      "app.heading": "Your lottery application",
      "app.loading": "Checking your application…",
      "astatus.applied": "Applied",
      "astatus.won": "Won",
      "astatus.waitlisted": "Waitlisted",
      "astatus.lost": "Not drawn",
      "astatus.promoted": "Won from the waitlist",
      "astatus.paid": "Paid",
      "astatus.expired": "Expired",
      "alead.applied": "Your application is in. The draw is at {draw} (Japan time). We tell you the result on this page and by email.",
      "alead.applied.closed": "Applications have closed. The draw is at {draw} (Japan time). We tell you the result on this page and by email.",
      "alead.applied.drawing": "The lottery is being drawn. The result comes shortly.",
      "alead.won": "Congratulations, you won! Please pay by {deadline} (Japan time). After that the place lapses and goes to the waitlist.",
      "alead.promoted": "A winner's place came free and is now yours. Please pay by {deadline} (Japan time), or it lapses.",
      "alead.waitlisted": "You are on the waitlist. If winners do not pay in time, their places go down the waitlist in rank order, and we will email you if you get one.",
      "alead.lost": "Thank you for applying. We are sorry: every place is now taken, and your entry did not get one.",
      "alead.paid": "Payment received. See your order's page for the card being issued.",
      "alead.expired": "The place was not paid by its deadline, so it lapsed.",
      "app.rank": "Rank in the draw: {rank}",
      "app.pay": "Go to payment",
      "app.order": "See your order",
      "app.entry": "Entry number (entry id)",
      "app.quantity": "Cards asked for",
      "app.quantity.value": "{quantity}",
      "app.prefecture": "Prefecture",
      "app.created": "Applied at",
      "app.close": "Closes",
      "app.draw": "Draw",
      "app.deadline": "Pay by",
      "app.jst": "{time} (Japan time)",
      "app.verify": "Check this entry's rank on the lottery's verification page",
      "app.missing": "We could not find this application. Open it again from the link in your receipt email.",
      "app.network": "The connection dropped. We will update as soon as it is back…",
    },
  });

  function el(id) { return document.getElementById(id); }
  function when(iso) { return t("app.jst", { time: F.util.time.jst(iso) }); }

  function remember(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* private mode: this visit still works */ }
  }
  function recall(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

  function setMessage(text, tone) {
    const message = el("app-message");
    delete message.dataset.i18n;
    message.hidden = !text;
    message.textContent = text || "";
    message.className = "notice" + (tone ? " notice-" + tone : "");
  }

  function orderPage(a) {
    return "/order.html?id=" + encodeURIComponent(a.order_id) + "#token=" + encodeURIComponent(a.order_token);
  }

  function lead(a) {
    if (a.status === "applied") {
      if (a.lottery_state === "open" || a.lottery_state === "announced") {
        if (F.util.time.ms(a.applications_close_at) > Date.now()) return t("alead.applied", { draw: F.util.time.jst(a.draw_at) });
      }
      if (F.util.time.ms(a.draw_at) <= Date.now()) return t("alead.applied.drawing");
      return t("alead.applied.closed", { draw: F.util.time.jst(a.draw_at) });
    }
    return t("alead." + a.status, { deadline: F.util.time.jst(a.pay_deadline) });
  }

  function render() {
    if (!application) {
      el("app").hidden = true;
      if (problem) setMessage(t("app." + problem), problem === "missing" ? "error" : "");
      return;
    }
    const a = application;
    setMessage(problem === "network" ? t("app.network") : "", "");
    el("app").hidden = false;
    const en = F.i18n.current() === "en";
    el("app-drop-link").textContent = drop ? (en ? drop.title_en : drop.title_ja) : "";
    el("app-drop-link").href = "/drop.html?id=" + encodeURIComponent(a.drop_id);
    const badge = el("app-status");
    badge.className = "badge badge-" + a.status;
    badge.textContent = t("astatus." + a.status);
    el("app-lead").textContent = lead(a);
    el("app-rank").hidden = !a.rank;
    if (a.rank) el("app-rank").textContent = t("app.rank", { rank: Number(a.rank).toLocaleString("ja-JP") });
    const payable = (a.status === "won" || a.status === "promoted") && a.order_id && a.order_token;
    el("app-pay-box").hidden = !payable;
    if (payable) {
      el("app-pay").textContent = t("app.pay");
      el("app-pay").href = orderPage(a);
    }
    const paid = a.status === "paid" && a.order_id && a.order_token;
    el("app-order-box").hidden = !paid;
    if (paid) {
      el("app-order").textContent = t("app.order");
      el("app-order").href = orderPage(a);
    }
    el("app-entry-label").textContent = t("app.entry");
    el("app-entry").textContent = a.entry_id;
    el("app-quantity-label").textContent = t("app.quantity");
    el("app-quantity").textContent = t("app.quantity.value", { quantity: a.quantity });
    el("app-prefecture-label").textContent = t("app.prefecture");
    el("app-prefecture").textContent = F.prefectures.name(a.prefecture, F.i18n.current());
    el("app-created-label").textContent = t("app.created");
    el("app-created").textContent = when(a.created_at);
    el("app-close-label").textContent = t("app.close");
    el("app-close").textContent = when(a.applications_close_at);
    el("app-draw-label").textContent = t("app.draw");
    el("app-draw").textContent = when(a.draw_at);
    el("app-deadline-row").hidden = !a.pay_deadline || a.status === "paid";
    el("app-deadline-label").textContent = t("app.deadline");
    el("app-deadline").textContent = a.pay_deadline ? when(a.pay_deadline) : "";
    el("app-verify").textContent = t("app.verify");
    el("app-verify").href = "/lottery.html?drop=" + encodeURIComponent(a.drop_id) + "#entry=" + encodeURIComponent(a.entry_id);
    if (drop) document.title = t("astatus." + a.status) + " — " + (en ? drop.title_en : drop.title_ja) + (en ? " | Furusato" : " | ふるさと");
  }

  async function loadDrop(dropId) {
    const found = await F.util.api("GET", "/api/v1/drops/" + encodeURIComponent(dropId));
    if (found.ok) drop = found.body;
  }

  async function poll() {
    const result = await F.util.api("GET", "/api/v1/applications/" + encodeURIComponent(applicationId), { bearer: token });
    if (result.ok) {
      application = result.body;
      problem = null;
      remember("furusato.lottery." + application.drop_id, applicationId);
      if (!drop) await loadDrop(application.drop_id);
    } else if (result.status === 404) {
      problem = "missing";
    } else {
      problem = "network";
    }
    render();
    if (problem === "missing") return;
    const next = problem === "network" ? NETWORK_RETRY_MS : POLL_MS[application.status];
    if (next) setTimeout(poll, next);
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    const fromLink = F.util.fragmentToken();
    if (fromLink && applicationId) {
      remember("furusato.application." + applicationId, fromLink);
      // Keep the token out of the address bar (and out of links people copy).
      history.replaceState(null, "", location.pathname + location.search);
    }
    token = fromLink || (applicationId ? recall("furusato.application." + applicationId) : null);
    if (!applicationId || !token) {
      problem = "missing";
      render();
      return;
    }
    poll();
  });
})();
