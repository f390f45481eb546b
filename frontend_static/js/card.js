// "My cards" (card.html): the signed-in holder's cards from GET /holders/me/cards, each with its
// image and number, and for cards we keep in custody a form to move it to the holder's wallet.
// Each issued card also opens its pass (パス): a full-screen QR from GET /holders/me/pass that a
// shop scans at /verify/. The QR is a short-lived signed proof, replaced every refresh_seconds;
// a live clock and a moving band tell a shop clerk the screen is live, not a screenshot.
// Offline, the newest unexpired proof stays on screen with a countdown (the last answers are
// kept in memory and sessionStorage); after it expires the pass says so, and it comes back
// by itself when the phone is online again.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  let session = null;
  let cards = null;
  // Towns (by Japanese name, as /me/cards names them) where the holder is registered premium
  // this year (GET /holders/me/registration, ふるさと住民登録): their cards show "プレミアム".
  let premium = new Set();
  let message = null; // {key, vars, tone}
  const moveErrors = {}; // token_id → message key

  F.i18n.define({
    ja: {
      "cards.signedin": "{email} でログイン中",
      "cards.none": "まだ住民票がありません。町のページからお求めいただけます。",
      "cards.count": "{total}枚の住民票をお持ちです。",
      "cards.status.minted": "発行済み",
      "cards.status.minting": "発行中",
      "cards.alt": "{town} デジタル住民票 No. {number} のカード画像",
      "cards.kept": "ふるさとでお預かりしています。",
      "cards.own": "あなたのウォレットにあります。",
      "cards.move": "自分のウォレットへ移す",
      "cards.move.address": "移し先のウォレットのアドレス",
      "cards.move.submit": "移す",
      "cards.move.note": "移したあとは、ご自身のウォレットで管理していただきます（元には戻せません）。",
      "cards.moved": "No. {number} をあなたのウォレットへ移しました。",
      "cards.err.address": "アドレスの形式が正しくありません（0xから始まる42文字）。",
      "cards.err.not_in_custody": "このカードは、すでにお預かりしていません。",
      "cards.err.not_minted": "発行が完了してから移せます。少しお待ちください。",
      "cards.err.unknown": "移せませんでした（{code}）。",
      "pass.show": "パスを表示",
      "pass.show.saved": "保存したパスを表示",
      "pass.title": "デジタル住民票のパス",
      "pass.close": "閉じる",
      "pass.qr.alt": "{town} No. {number} のパスのQRコード",
      "pass.loading": "パスを読み込み中…",
      "pass.live": "お店の方にこの画面を見せてください。QRコードは{seconds}秒ごとに新しくなります。",
      "pass.offline": "オフライン",
      "pass.offline.left": "インターネットにつながっていません。このパスはあと{seconds}秒使えます。",
      "pass.offline.expired": "パスの有効期限が切れました。インターネットにつながると、自動で新しいパスを表示します。",
      "pass.unavailable": "このカードのパスは表示できません（返金や譲渡で、このカードが使えなくなっている可能性があります）。",
      "pass.error": "パスを読み込めませんでした。少し待つと自動でもう一度試します。",
      "pass.clock.label": "現在時刻",
      "cards.premium": "プレミアム",
      "cards.premium.title": "{town}のプレミアム住民（{year}年）",
    },
    en: {
      "cards.pagetitle": "My cards | Furusato",
      "cards.heading": "My cards",
      "cards.signedout": "Sign in with the email address you bought with to see your cards.",
      "cards.signin": "Sign in",
      "cards.signout": "Sign out",
      "cards.loading": "Loading…",
      "cards.signedin": "Signed in as {email}",
      "cards.none": "No cards yet. You can get one on a town's page.",
      "cards.count": "You hold {total} card(s).",
      "cards.status.minted": "Issued",
      "cards.status.minting": "Issuing",
      "cards.alt": "{town} digital resident card No. {number}",
      "cards.kept": "Kept safe for you by Furusato.",
      "cards.own": "In your own wallet.",
      "cards.move": "Move to my wallet",
      "cards.move.address": "Your wallet address",
      "cards.move.submit": "Move",
      "cards.move.note": "After the move, the card is in your own wallet and you look after it (this cannot be undone).",
      "cards.moved": "Moved No. {number} to your wallet.",
      "cards.err.address": "This is not a valid address (0x followed by 40 characters).",
      "cards.err.not_in_custody": "We no longer keep this card.",
      "cards.err.not_minted": "You can move it once it is issued. Please wait a little.",
      "cards.err.unknown": "Could not move the card ({code}).",
      "pass.show": "Show pass",
      "pass.show.saved": "Show the saved pass",
      "pass.title": "Digital resident card pass",
      "pass.close": "Close",
      "pass.qr.alt": "QR code of the pass of {town} No. {number}",
      "pass.loading": "Loading the pass…",
      "pass.live": "Show this screen to the shop. The QR code changes every {seconds} seconds.",
      "pass.offline": "Offline",
      "pass.offline.left": "You are offline. This pass can still be used for {seconds} s.",
      "pass.offline.expired": "The pass has expired. It comes back by itself once you are online again.",
      "pass.unavailable": "This card has no pass (it may no longer be valid after a refund or a transfer).",
      "pass.error": "Could not load the pass. Trying again in a moment.",
      "pass.clock.label": "Time now",
      "cards.mydata": "My data (see, download or ask to erase what a town holds about you)",
      "cards.premium": "Premium",
      "cards.premium.title": "Premium resident of {town} ({year})",
    },
  });

  function el(id) { return document.getElementById(id); }

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function cardKey(card) {
    return card.chain_id + ":" + String(card.contract).toLowerCase() + ":" + card.token_id;
  }

  // ----- The pass (full-screen QR) -----
  // Proofs per card, newest last, each with `offset` = server clock − this phone's clock (ms)
  // when it arrived, so countdowns follow the server's expiry even on a phone whose clock is off.
  const Pass = (function () {
    const STORE_KEY = "furusato.pass";
    const KEEP = 3; // proofs kept per card (a minute of them at 20 s)
    const RETRY_MS = 5000; // next try after a failed fetch
    const DEFAULT_REFRESH = 20;
    let saved = { refresh_seconds: DEFAULT_REFRESH, cards: {} };
    let openKey = null;
    let shownCard = null; // the /me/cards item the pass was opened from (names in both languages)
    let opener = null; // the button to give the focus back to
    let offline = false;
    let failed = false; // the last fetch got an answer that was not the pass (5xx)
    let loaded = false; // a fetch answered since the pass was opened
    let listed = false; // …and that answer had the open card
    let lastFetch = 0;
    let fetchTimer = null;
    let tickTimer = null;
    let fetching = false;
    let wakeLock = null;
    let screen = null;

    function now() { return Date.now(); }

    function restore() {
      try {
        const text = sessionStorage.getItem(STORE_KEY);
        if (text) saved = JSON.parse(text);
      } catch (e) { saved = { refresh_seconds: DEFAULT_REFRESH, cards: {} }; }
      if (!saved || typeof saved.cards !== "object") saved = { refresh_seconds: DEFAULT_REFRESH, cards: {} };
      prune();
    }

    function persist() {
      try { sessionStorage.setItem(STORE_KEY, JSON.stringify(saved)); } catch (e) { /* private mode: memory only */ }
    }

    function forget() {
      saved = { refresh_seconds: DEFAULT_REFRESH, cards: {} };
      try { sessionStorage.removeItem(STORE_KEY); } catch (e) { /* nothing kept */ }
      close();
    }

    function left(entry) {
      return F.util.time.ms(entry.expires_at) - (now() + (entry.offset || 0));
    }

    // Expired proofs are of no use to anyone: dropped as soon as they lapse.
    function prune() {
      Object.keys(saved.cards).forEach(function (key) {
        const kept = (saved.cards[key].proofs || []).filter(function (entry) { return left(entry) > 0; });
        if (kept.length) saved.cards[key].proofs = kept;
        else delete saved.cards[key];
      });
    }

    function remember(body) {
      const arrived = now();
      const fresh = {};
      (body.cards || []).forEach(function (card) {
        const key = cardKey(card);
        const issued = F.util.time.ms(card.issued_at);
        const entry = {
          proof: card.proof,
          qr_svg: card.qr_svg,
          issued_at: card.issued_at,
          expires_at: card.expires_at,
          offset: isNaN(issued) ? 0 : issued - arrived,
        };
        const before = (saved.cards[key] && saved.cards[key].proofs) || [];
        const proofs = before.filter(function (p) { return p.proof !== entry.proof; }).concat([entry]).slice(-KEEP);
        const item = cards && cards.items.find(function (c) { return cardKey(c) === key; });
        fresh[key] = {
          town: card.town,
          town_ja: item ? item.town_ja : (saved.cards[key] || {}).town_ja,
          town_en: item ? item.town_en : (saved.cards[key] || {}).town_en,
          series: card.series || {},
          number: card.number,
          proofs: proofs,
        };
      });
      // A card missing from the answer (refunded, moved away) loses its saved proofs at once.
      saved = { refresh_seconds: Number(body.refresh_seconds) || DEFAULT_REFRESH, cards: fresh };
      prune();
      persist();
    }

    // The newest proof of the open card that has not expired, or null.
    function current() {
      const card = openKey && saved.cards[openKey];
      if (!card) return null;
      const usable = card.proofs.filter(function (entry) { return left(entry) > 0; });
      return usable.length ? usable[usable.length - 1] : null;
    }

    async function load() {
      if (!openKey || fetching) return;
      clearTimeout(fetchTimer);
      const token = session && session.session_token;
      if (!token) return close();
      fetching = true;
      lastFetch = now();
      const result = navigator.onLine === false ? { ok: false, status: 0, network: true }
        : await F.util.api("GET", "/api/v1/holders/me/pass", { bearer: token });
      fetching = false;
      if (!openKey) return;
      if (result.status === 401) { close(); signOut(); return; }
      let wait = RETRY_MS;
      if (result.ok && result.body) {
        remember(result.body);
        listed = (result.body.cards || []).some(function (card) { return cardKey(card) === openKey; });
        offline = false;
        failed = false;
        loaded = true;
        wait = saved.refresh_seconds * 1000;
      } else {
        offline = !!result.network;
        failed = !result.network;
      }
      render();
      fetchTimer = setTimeout(load, wait);
    }

    function build() {
      screen = node("div", "pass-screen");
      screen.id = "pass-screen";
      screen.hidden = true;
      screen.setAttribute("role", "dialog");
      screen.setAttribute("aria-modal", "true");
      screen.setAttribute("aria-labelledby", "pass-title");
      screen.innerHTML =
        '<div class="pass-band" aria-hidden="true"><span class="pass-sweep"></span></div>' +
        '<div class="pass-top">' +
        '  <p class="pass-title" id="pass-title"></p>' +
        '  <span class="badge pass-offline" id="pass-offline" hidden></span>' +
        '  <button type="button" class="pass-close" id="pass-close"></button>' +
        "</div>" +
        '<div class="pass-body">' +
        '  <div class="pass-qr" id="pass-qr"><img id="pass-qr-img" alt="" width="280" height="280"></div>' +
        '  <p class="notice notice-error pass-expired" id="pass-expired" role="alert" hidden></p>' +
        '  <p class="pass-town" id="pass-town"></p>' +
        '  <p class="pass-series" id="pass-series"></p>' +
        '  <p class="number pass-number" id="pass-number"></p>' +
        '  <p class="pass-clock" id="pass-clock"><span class="pass-date" id="pass-date"></span> <time id="pass-time"></time></p>' +
        '  <p class="pass-status" id="pass-status" role="status" aria-live="polite"></p>' +
        "</div>" +
        '<div class="pass-band pass-band-bottom" aria-hidden="true"><span class="pass-sweep"></span></div>';
      document.body.append(screen);
      el("pass-close").addEventListener("click", close);
      screen.addEventListener("keydown", function (event) {
        if (event.key === "Escape") close();
        if (event.key === "Tab") { event.preventDefault(); el("pass-close").focus(); } // the one control
      });
    }

    function text(id, value) {
      const target = el(id);
      if (target.textContent !== value) target.textContent = value;
    }

    // Names from the card list when the pass was opened from it, else what the pass says.
    function names(card) {
      const en = F.i18n.current() === "en";
      const series = card.series || {};
      const town = en ? card.town_en : card.town_ja;
      return {
        town: town || (shownCard ? (en ? shownCard.town_en : shownCard.town_ja) : String(card.town || "")),
        series: (en ? series.title_en : series.title_ja) || (shownCard ? (en ? shownCard.title_en : shownCard.title_ja) : ""),
      };
    }

    function tick() {
      if (!openKey) return;
      const stamp = F.util.time.jst(new Date(now()).toISOString(), true);
      text("pass-date", stamp.slice(0, 10));
      text("pass-time", stamp.slice(11));
      el("pass-time").dateTime = new Date(now()).toISOString();
      render();
      // Online, a lapsed proof is replaced at once rather than at the next scheduled fetch.
      if (!current() && !offline && listed && !fetching && now() - lastFetch > 2000) load();
    }

    function render() {
      if (!screen || !openKey) return;
      text("pass-title", t("pass.title"));
      text("pass-close", t("pass.close"));
      const badge = el("pass-offline");
      badge.hidden = !offline;
      text("pass-offline", t("pass.offline"));
      const card = saved.cards[openKey];
      const entry = current();
      const img = el("pass-qr-img");
      const expired = el("pass-expired");
      const status = el("pass-status");
      if (card) {
        const shown = names(card);
        text("pass-town", shown.town);
        text("pass-series", shown.series);
        text("pass-number", t("card.number", { number: card.number }));
      } else if (shownCard) {
        const en = F.i18n.current() === "en";
        text("pass-town", en ? shownCard.town_en : shownCard.town_ja);
        text("pass-series", en ? shownCard.title_en : shownCard.title_ja);
        text("pass-number", t("card.number", { number: shownCard.number }));
      }
      el("pass-qr").hidden = !entry;
      if (entry) {
        const src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(entry.qr_svg);
        if (img.dataset.proof !== entry.proof) {
          img.src = src;
          img.dataset.proof = entry.proof;
        }
        img.alt = t("pass.qr.alt", { town: card ? names(card).town : "", number: card ? card.number : "" });
      }
      let expiredText = "";
      let statusText = "";
      if (entry && offline) {
        statusText = t("pass.offline.left", { seconds: Math.max(0, Math.ceil(left(entry) / 1000)) });
      } else if (entry && failed) {
        statusText = t("pass.error");
      } else if (entry) {
        statusText = t("pass.live", { seconds: saved.refresh_seconds });
      } else if (offline) {
        expiredText = t("pass.offline.expired");
      } else if (failed) {
        expiredText = t("pass.error");
      } else if (loaded && !listed) {
        expiredText = t("pass.unavailable");
      } else {
        statusText = t("pass.loading");
      }
      expired.hidden = !expiredText;
      text("pass-expired", expiredText);
      text("pass-status", statusText);
      screen.classList.toggle("is-offline", offline);
    }

    async function keepAwake() {
      try {
        if (navigator.wakeLock && !wakeLock) {
          wakeLock = await navigator.wakeLock.request("screen");
          wakeLock.addEventListener("release", function () { wakeLock = null; });
        }
      } catch (e) { wakeLock = null; /* not allowed here: the pass works without it */ }
    }

    function open(key, card, button) {
      if (!screen) build();
      openKey = key;
      shownCard = card || null;
      opener = button || null;
      loaded = false;
      listed = !!saved.cards[key];
      failed = false;
      offline = navigator.onLine === false;
      el("pass-qr-img").dataset.proof = "";
      screen.hidden = false;
      document.body.classList.add("pass-open");
      tick();
      clearInterval(tickTimer);
      tickTimer = setInterval(tick, 250);
      el("pass-close").focus();
      keepAwake();
      load();
    }

    function close() {
      if (!openKey) return;
      openKey = null;
      clearTimeout(fetchTimer);
      clearInterval(tickTimer);
      if (screen) screen.hidden = true;
      document.body.classList.remove("pass-open");
      if (wakeLock) { wakeLock.release().catch(function () {}); wakeLock = null; }
      if (opener && document.contains(opener)) opener.focus();
    }

    // Cards loaded from the list failed (offline): their saved passes can still be shown.
    function savedItems() {
      if (!session) return [];
      prune();
      return Object.keys(saved.cards).map(function (key) {
        const card = saved.cards[key];
        const li = node("li", "card-item");
        li.append(
          node("p", "number", t("card.number", { number: card.number })),
          node("p", "muted", names(card).series),
        );
        const show = node("button", "primary pass-button", t("pass.show.saved"));
        show.type = "button";
        show.addEventListener("click", function () { open(key, null, show); });
        li.append(show);
        return li;
      });
    }

    function install() {
      restore();
      window.addEventListener("offline", function () {
        offline = true;
        render();
      });
      window.addEventListener("online", function () {
        if (openKey) load();
      });
      document.addEventListener("visibilitychange", function () {
        if (!openKey) return;
        if (document.hidden) clearTimeout(fetchTimer);
        else { keepAwake(); load(); }
      });
    }

    return { install: install, open: open, close: close, render: render, forget: forget, savedItems: savedItems };
  })();

  function moveForm(card) {
    const details = node("details", "move");
    details.append(node("summary", "", t("cards.move")));
    const form = node("form");
    form.noValidate = true;
    const id = "to-" + card.token_id;
    const label = node("label", "", t("cards.move.address"));
    label.htmlFor = id;
    const input = node("input");
    Object.assign(input, { id: id, name: "to_address", type: "text", autocomplete: "off", spellcheck: false });
    input.placeholder = "0x…";
    const error = node("p", "field-error", moveErrors[card.token_id] ? t(moveErrors[card.token_id]) : "");
    error.id = id + "-error";
    error.hidden = !moveErrors[card.token_id];
    input.setAttribute("aria-describedby", error.id);
    if (moveErrors[card.token_id]) {
      input.setAttribute("aria-invalid", "true");
      details.open = true;
    }
    const button = node("button", "primary", t("cards.move.submit"));
    button.type = "submit";
    form.append(node("p", "hint", t("cards.move.note")), label, input, error, button);
    form.addEventListener("submit", function (event) { move(event, card, input, button); });
    details.append(form);
    return details;
  }

  function cardItem(card, lang) {
    const en = lang === "en";
    const town = en ? card.town_en : card.town_ja;
    const li = node("li", "card-item");
    const img = node("img");
    img.src = card.image_url;
    img.alt = t("cards.alt", { town: town, number: card.number });
    img.width = 320;
    const badge = node("span", "badge badge-" + card.status, t("cards.status." + card.status));
    const badges = node("p", "badges");
    badges.append(badge);
    const tier = premium.has(card.town_ja) ? registrationOf(card.town_ja) : null;
    if (tier) {
      const mark = node("span", "badge badge-premium", t("cards.premium"));
      mark.title = t("cards.premium.title", { town: town, year: tier.year });
      badges.append(mark);
    }
    li.append(
      img,
      node("p", "number", t("card.number", { number: card.number })),
      badges,
      node("p", "card-town", town),
      node("p", "muted", en ? card.title_en : card.title_ja),
      node("p", "muted", t(card.custodial ? "cards.kept" : "cards.own")),
    );
    // A card moved to the holder's own wallet gets its pass by signing in with that wallet.
    if (card.status === "minted" && (card.custodial || session.kind === "wallet")) {
      const show = node("button", "primary pass-button", t("pass.show"));
      show.type = "button";
      show.addEventListener("click", function () { Pass.open(cardKey(card), card, show); });
      li.append(show);
    }
    if (card.custodial && card.status === "minted") li.append(moveForm(card));
    return li;
  }

  let registration = [];

  function registrationOf(townJa) {
    return registration.find(function (item) { return item.name_ja === townJa && item.tier === "premium"; }) || null;
  }

  // Premium is a town's decision about an e-mail holder (ふるさと住民登録); nothing on chain.
  async function loadRegistration() {
    if (!session || session.kind === "wallet") return;
    const result = await F.util.api("GET", "/api/v1/holders/me/registration", { bearer: session.session_token });
    if (!result.ok || !result.body || !Array.isArray(result.body.towns)) return;
    registration = result.body.towns;
    premium = new Set(registration.filter(function (item) { return item.tier === "premium"; }).map(function (item) {
      return item.name_ja;
    }));
    if (premium.size) render(F.i18n.current());
  }

  function render(lang) {
    el("signed-out").hidden = !!session;
    el("signed-in").hidden = !session;
    if (!session) return;
    el("signed-in-as").textContent = t("cards.signedin", { email: session.email || session.address || "" });
    el("mydata-link").hidden = session.kind === "wallet";
    const shown = el("cards-message");
    if (message || cards) {
      delete shown.dataset.i18n;
      const text = message ? t(message.key, message.vars)
        : t(cards.items.length ? "cards.count" : "cards.none", { total: cards.total });
      shown.textContent = text;
      shown.className = "notice" + (message && message.tone ? " notice-" + message.tone : "");
    }
    if (cards) el("cards").replaceChildren.apply(el("cards"), cards.items.map(function (c) { return cardItem(c, lang); }));
    else el("cards").replaceChildren.apply(el("cards"), Pass.savedItems());
    Pass.render();
  }

  function signOut() {
    F.util.session(null);
    session = null;
    Pass.forget();
    render(F.i18n.current());
  }

  async function load() {
    const result = await F.util.api("GET", "/api/v1/holders/me/cards", { bearer: session.session_token });
    if (result.status === 401) return signOut();
    if (!result.ok) {
      message = { key: result.network ? "common.network" : "common.server", tone: "error" };
    } else {
      cards = result.body;
    }
    render(F.i18n.current());
  }

  async function move(event, card, input, button) {
    event.preventDefault();
    const address = input.value.trim();
    if (!/^0x[0-9a-fA-F]{40}$/.test(address)) {
      moveErrors[card.token_id] = "cards.err.address";
      render(F.i18n.current());
      document.getElementById("to-" + card.token_id).focus();
      return;
    }
    button.disabled = true;
    const path = "/api/v1/holders/me/cards/" + encodeURIComponent(card.token_id) + "/move";
    const result = await F.util.api("POST", path, { json: { to_address: address }, bearer: session.session_token });
    button.disabled = false;
    if (result.status === 401) return signOut();
    delete moveErrors[card.token_id];
    const code = F.util.errorCode(result);
    if (result.ok) {
      message = { key: "cards.moved", vars: { number: card.number }, tone: "success" };
      await load();
      return;
    }
    if (result.status === 422) moveErrors[card.token_id] = "cards.err.address";
    else if (code === "not_in_custody" || code === "not_minted") moveErrors[card.token_id] = "cards.err." + code;
    else message = { key: result.network ? "common.network" : "cards.err.unknown", vars: { code: code || result.status }, tone: "error" };
    render(F.i18n.current());
  }

  document.addEventListener("DOMContentLoaded", function () {
    Pass.install();
    F.i18n.onChange(render);
    el("sign-out").addEventListener("click", signOut);
    session = F.util.session();
    render(F.i18n.current());
    if (session) {
      load();
      loadRegistration();
    }
  });
})();
