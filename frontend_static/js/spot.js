// A spot's check-in page (/s/{code} on a poster or a kiosk's QR redirects to
// spot.html?code=…&k=…): the spot (GET /api/v1/spots/{code}), and for a signed-in holder a
// "チェックインする" button (POST /api/v1/spots/{code}/check-ins, once per spot per day). A
// visitor not signed in gets a sign-in link that comes back here (signin.html?next=…). When
// the spot checks the location the phone's position is asked for on the tap (only the
// distance is kept by the server); at a kiosk spot the `k` code of the kiosk's QR is sent.
// Every refusal is said in plain Japanese (or English), by its error code.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const params = new URLSearchParams(location.search);
  const CODE = /^[A-Za-z0-9]{3,32}$/;
  const KIOSK_CODE = /^[0-9]{4,12}$/;
  const LOCATION_TIMEOUT_MS = 15000;
  let code = "";
  let kioskCode = "";
  let spot = null;
  let session = null;
  let message = null; // {key, vars, kind: "success" | "error" | ""}
  let done = false;
  let busy = false;

  F.i18n.define({
    ja: {
      "spot.pagetitle": "チェックイン | ふるさと",
      "spot.signed_in": "{email} でログイン中",
      "spot.sending": "チェックインしています…",
      "spot.locating": "現在地を確かめています…",
      "spot.done": "{name}にチェックインしました（{day}）。ご来訪ありがとうございます。",
      "spot.place": "場所: {place}",
      "err.no_card": "{town}のデジタル住民票をお持ちの方がチェックインできます。このログインのアカウントには、{town}の有効な住民票がありません。",
      "err.already_checked_in": "今日はすでにここでチェックインしています。チェックインは1日1回です。また明日お越しください。",
      "err.kiosk_code_invalid": "受付の画面のQRコードを、もう一度読み取ってください（コードは30秒ごとに変わります）。",
      "err.location_required": "このスポットでは現在地の確認が必要です。位置情報の利用を許可して、もう一度お試しください。",
      "err.location_denied": "位置情報が使えませんでした。ブラウザの設定で位置情報の利用を許可して、もう一度お試しください。",
      "err.location_unavailable": "現在地がわかりませんでした。屋外や窓の近くで、もう一度お試しください。",
      "err.out_of_range": "現在地がこのスポットから約{distance}m離れています。スポットの近くで、もう一度お試しください。",
      "err.out_of_range.plain": "現在地がこのスポットから離れています。スポットの近くで、もう一度お試しください。",
      "err.rate_limited": "操作が続いたため、少しお待ちください。しばらくしてから、もう一度お試しください。",
      "err.spot_not_found": "このスポットは見つかりませんでした。ポスターのQRコードをもう一度読み取ってください。",
      "err.unauthorized": "ログインの有効期限が切れました。もう一度ログインしてください。",
      "err.unknown": "チェックインできませんでした（{code}）。",
    },
    en: {
      "spot.pagetitle": "Check in | Furusato",
      "spot.eyebrow": "Check in",
      "spot.loading": "Loading…",
      "spot.lead": "Holders of a digital resident card can check in here (once a day).",
      "spot.missing": "We could not find this spot. Please scan the poster's QR code again.",
      "spot.heading": "Check in",
      "spot.location.note": "This spot checks, with your phone's location, that you are here. Your location itself is not stored (only the distance).",
      "spot.kiosk.note": "At this spot, check in by scanning the QR code shown on the reception screen.",
      "spot.signedout": "To check in, sign in with the email address you used to buy your digital resident card. You will come back to this page.",
      "spot.signin": "Sign in to check in",
      "spot.button": "Check in",
      "spot.mycards": "See my cards",
      "spot.signed_in": "Signed in as {email}",
      "spot.sending": "Checking in…",
      "spot.locating": "Finding your location…",
      "spot.done": "You have checked in at {name} ({day}). Thank you for visiting.",
      "spot.place": "Where: {place}",
      "err.no_card": "Holders of a {town} digital resident card can check in. This account holds no valid {town} card.",
      "err.already_checked_in": "You have already checked in here today. Check-ins are once a day; see you tomorrow.",
      "err.kiosk_code_invalid": "Please scan the QR code on the reception screen again (it changes every 30 seconds).",
      "err.location_required": "This spot needs your location. Allow location access and try again.",
      "err.location_denied": "We could not use your location. Allow location access in your browser settings and try again.",
      "err.location_unavailable": "We could not find your location. Try again outdoors or near a window.",
      "err.out_of_range": "You are about {distance} m from this spot. Please try again close to it.",
      "err.out_of_range.plain": "You are too far from this spot. Please try again close to it.",
      "err.rate_limited": "Too many attempts. Please wait a little and try again.",
      "err.spot_not_found": "We could not find this spot. Please scan the poster's QR code again.",
      "err.unauthorized": "Your sign-in has expired. Please sign in again.",
      "err.unknown": "We could not check you in ({code}).",
    },
  });

  function el(id) { return document.getElementById(id); }

  function townName() {
    if (!spot) return "";
    return F.i18n.current() === "en" ? spot.town_en : spot.town_ja;
  }

  function spotName() {
    if (!spot) return "";
    return F.i18n.current() === "en" ? spot.name_en : spot.name_ja;
  }

  function here() {
    const query = new URLSearchParams({ code: code });
    if (kioskCode) query.set("k", kioskCode);
    return "/spot.html?" + query.toString();
  }

  function render() {
    if (!spot) return;
    const name = el("spot-name");
    name.textContent = spotName();
    F.i18n.setJapanese(name, spot.name_ja);
    document.title = spotName() + " | " + t("spot.pagetitle");
    el("spot-town").textContent = townName();
    F.i18n.setJapanese(el("spot-town"), spot.town_ja);
    el("spot-place").hidden = !spot.place_ja;
    el("spot-place").textContent = spot.place_ja ? t("spot.place", { place: spot.place_ja }) : "";
    el("spot-lead").hidden = false;
    el("check-in-section").hidden = false;
    el("location-note").hidden = !spot.requires_location;
    el("kiosk-note").hidden = !spot.kiosk;
    el("signed-out").hidden = !!session;
    el("signed-in").hidden = !session || done;
    el("signin-link").href = "/signin.html?" + new URLSearchParams({ next: here() }).toString();
    el("signed-in-as").textContent = session ? t("spot.signed_in", { email: session.email || "" }) : "";
    el("check-in-button").disabled = busy;
    el("card-link").hidden = !done;
    const box = el("check-in-message");
    box.hidden = !message;
    if (message) {
      box.className = "notice" + (message.kind ? " notice-" + message.kind : "");
      box.setAttribute("role", message.kind === "error" ? "alert" : "status");
      const vars = Object.assign({ town: townName(), name: spotName() }, message.vars || {});
      box.textContent = t(message.key, vars);
    }
  }

  function say(key, kind, vars) {
    message = { key: key, kind: kind || "", vars: vars || {} };
    render();
    if (kind) el("check-in-message").focus();
  }

  // The refusal's text: out_of_range carries the distance in its message ("約1,234m").
  function refusal(result) {
    const errorCode = F.util.errorCode(result);
    if (errorCode === "out_of_range") {
      const found = /約([\d,]+)m/.exec((result.body.error && result.body.error.message) || "");
      return found ? { key: "err.out_of_range", vars: { distance: found[1] } } : { key: "err.out_of_range.plain" };
    }
    const known = ["no_card", "already_checked_in", "kiosk_code_invalid", "location_required", "rate_limited",
      "spot_not_found", "unauthorized"];
    if (known.indexOf(errorCode) >= 0) return { key: "err." + errorCode };
    if (result.status === 422) return { key: "err.location_required" };
    return { key: "err.unknown", vars: { code: errorCode || String(result.status) } };
  }

  function position() {
    return new Promise(function (resolve) {
      if (!navigator.geolocation) return resolve({ error: "err.location_unavailable" });
      navigator.geolocation.getCurrentPosition(
        function (found) { resolve({ coords: found.coords }); },
        function (failure) {
          resolve({ error: failure.code === 1 ? "err.location_denied" : "err.location_unavailable" });
        },
        { enableHighAccuracy: true, timeout: LOCATION_TIMEOUT_MS, maximumAge: 0 }
      );
    });
  }

  async function checkIn() {
    if (busy || !session || !spot) return;
    busy = true;
    const body = {};
    if (kioskCode) body.kiosk_code = kioskCode;
    if (spot.requires_location) {
      say("spot.locating");
      const found = await position();
      if (found.error) {
        busy = false;
        return say(found.error, "error");
      }
      body.latitude = found.coords.latitude;
      body.longitude = found.coords.longitude;
      if (typeof found.coords.accuracy === "number" && isFinite(found.coords.accuracy)) {
        body.accuracy_m = Math.min(Math.max(found.coords.accuracy, 0), 100000);
      }
    }
    say("spot.sending");
    const result = await F.util.api("POST", "/api/v1/spots/" + encodeURIComponent(code) + "/check-ins", {
      json: body,
      bearer: session.session_token,
    });
    busy = false;
    if (result.ok) {
      done = true;
      const day = result.body.day ? result.body.day.replace(/-/g, "/") : "";
      return say("spot.done", "success", { day: day });
    }
    if (result.network) return say("common.network", "error");
    if (result.status >= 500) return say("common.server", "error");
    if (result.status === 401) {
      F.util.session(null);
      session = null;
    }
    if (F.util.errorCode(result) === "already_checked_in") done = true;
    const text = refusal(result);
    say(text.key, "error", text.vars);
  }

  function missing(network) {
    el("spot-name").textContent = t("spot.eyebrow");
    el("spot-missing").hidden = false;
    if (network) el("spot-missing").textContent = t("common.network");
  }

  async function load() {
    code = params.get("code") || "";
    const k = params.get("k") || "";
    kioskCode = KIOSK_CODE.test(k) ? k : "";
    if (!CODE.test(code)) return missing(false);
    const found = await F.util.api("GET", "/api/v1/spots/" + encodeURIComponent(code));
    if (!found.ok) return missing(found.network);
    spot = found.body;
    code = spot.code;
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    session = F.util.session();
    F.i18n.onChange(render);
    el("check-in-button").addEventListener("click", checkIn);
    load();
  });
})();
