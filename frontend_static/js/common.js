// Helpers shared by the pages: prefecture names, yen amounts, JSON calls to the API, and the
// tokens kept in localStorage. Loaded after i18n.js and before the page's own script.
"use strict";
(function () {
  // Index = JIS X 0401 code; 0 is "abroad" (code "00").
  const PREFECTURES_JA = ["海外", "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
    "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県",
    "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県",
    "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県"];
  const PREFECTURES_EN = ["Outside Japan", "Hokkaido", "Aomori", "Iwate", "Miyagi", "Akita", "Yamagata", "Fukushima",
    "Ibaraki", "Tochigi", "Gunma", "Saitama", "Chiba", "Tokyo", "Kanagawa", "Niigata", "Toyama", "Ishikawa", "Fukui",
    "Yamanashi", "Nagano", "Gifu", "Shizuoka", "Aichi", "Mie", "Shiga", "Kyoto", "Osaka", "Hyogo", "Nara", "Wakayama",
    "Tottori", "Shimane", "Okayama", "Hiroshima", "Yamaguchi", "Tokushima", "Kagawa", "Ehime", "Kochi", "Fukuoka",
    "Saga", "Nagasaki", "Kumamoto", "Oita", "Miyazaki", "Kagoshima", "Okinawa"];
  const SESSION_KEY = "furusato.session";

  window.Furusato.i18n.define({
    ja: {
      "common.network": "通信できませんでした。接続を確かめて、もう一度お試しください。",
      "common.server": "ただいま混み合っています。少し待ってから、もう一度お試しください。",
      "status.upcoming": "近日発売",
      "status.on_sale": "販売中",
      "status.sold_out": "売り切れ",
      "status.ended": "販売終了",
      "status.paused": "一時停止中",
      "status.lottery": "抽選販売",
      "card.number": "No. {number}",
    },
    en: {
      "nav.mycards": "My cards",
      "nav.back": "Back to the town",
      "common.network": "We could not reach the server. Check your connection and try again.",
      "common.server": "We are busy right now. Please wait a moment and try again.",
      "status.upcoming": "Coming soon",
      "status.on_sale": "On sale",
      "status.sold_out": "Sold out",
      "status.ended": "Sale ended",
      "status.paused": "Paused",
      "status.lottery": "Lottery",
      "card.number": "No. {number}",
    },
  });

  function prefectureName(code, lang) {
    const index = parseInt(code, 10);
    return (lang === "en" ? PREFECTURES_EN : PREFECTURES_JA)[index] || "";
  }

  function yen(amount) {
    return "¥" + Number(amount).toLocaleString("ja-JP");
  }

  // fetch() JSON; never throws for HTTP errors. Answers {ok, status, body, network}.
  async function api(method, path, options) {
    const opts = options || {};
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    if (opts.json !== undefined) headers["Content-Type"] = "application/json";
    if (opts.bearer) headers.Authorization = "Bearer " + opts.bearer;
    let response;
    try {
      response = await fetch(path, {
        method: method,
        headers: headers,
        body: opts.json !== undefined ? JSON.stringify(opts.json) : undefined,
      });
    } catch (e) {
      return { ok: false, status: 0, body: null, network: true };
    }
    let body = null;
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    return { ok: response.ok, status: response.status, body: body, network: false };
  }

  // The stable error code of an API answer ("sold_out", …), or "" for validation / no body.
  function errorCode(result) {
    return (result.body && result.body.error && result.body.error.code) || "";
  }

  // A random UUID, also where crypto.randomUUID is missing (plain http on a LAN address).
  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function store(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (e) { /* private mode: the page still works until reload */ }
  }

  function load(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

  function orderToken(orderId, token) {
    if (token !== undefined) store("furusato.order." + orderId, token);
    return load("furusato.order." + orderId);
  }

  // The holder's session {session_token, expires_at, email}, or null when absent or expired.
  function session(value) {
    if (value !== undefined) store(SESSION_KEY, value === null ? null : JSON.stringify(value));
    let saved = null;
    try { saved = JSON.parse(load(SESSION_KEY) || "null"); } catch (e) { saved = null; }
    if (!saved || !saved.session_token) return null;
    if (saved.expires_at && Date.parse(saved.expires_at) <= Date.now()) return null;
    return saved;
  }

  // `#token=…` from the URL fragment, or null.
  function fragmentToken() {
    return new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
  }

  // The badge of a drop: a lottery drop is not bought on the drop page, whatever its window,
  // so it says lottery rather than on sale.
  function shownStatus(drop) {
    return drop.sale_mode === "lottery" ? "lottery" : drop.status;
  }

  // ----- Japan time (the API answers UTC; a time without an offset is UTC too) -----
  const JST_MS = 9 * 3600 * 1000;
  function instant(iso) {
    if (!iso) return NaN;
    const text = String(iso);
    return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) || text.length <= 10 ? text : text + "Z");
  }
  // "2025/04/01 09:30" in Japan time (with the seconds when `seconds`), or "—".
  function jst(iso, seconds) {
    const ms = instant(iso);
    if (isNaN(ms)) return "—";
    const j = new Date(ms + JST_MS).toISOString();
    return j.slice(0, 4) + "/" + j.slice(5, 7) + "/" + j.slice(8, 10) + " " + j.slice(11, seconds ? 19 : 16);
  }
  // "2025/04/01" in Japan time, or "—".
  function jstDate(iso) {
    const ms = instant(iso);
    if (isNaN(ms)) return "—";
    const j = new Date(ms + JST_MS).toISOString();
    return j.slice(0, 4) + "/" + j.slice(5, 7) + "/" + j.slice(8, 10);
  }

  // A same-site path to go back to after sign-in ("/lots/3"), or "" for anything else.
  function safeNext(value) {
    const text = String(value || "");
    return /^\/(?![\/\\])[\w\-./?=&%#]*$/.test(text) ? text : "";
  }

  window.Furusato.prefectures = { ja: PREFECTURES_JA, en: PREFECTURES_EN, name: prefectureName };
  window.Furusato.util = {
    yen: yen,
    api: api,
    errorCode: errorCode,
    uuid: uuid,
    orderToken: orderToken,
    session: session,
    fragmentToken: fragmentToken,
    shownStatus: shownStatus,
    time: { ms: instant, jst: jst, date: jstDate },
    safeNext: safeNext,
  };
})();
