// A staffed spot's kiosk: a full-screen QR that changes every 30 seconds, so only someone in
// front of the screen can check in (a photo of it stops working within a minute). It asks the
// server for the current code every ~10 s and just after the code's window ends, shows a
// countdown to the next change, keeps the screen awake where the browser allows it, and says
// plainly when the connection is lost. Runs for editors and the town's shop verifiers (who
// have no other console page), without the console's menu.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const REFRESH_MS = 10000;
  const RETRY_MS = 3000;

  let spotId = "";
  let shown = null;        // the last answer {url, code, expires_at, window_seconds, qr_svg, spot}
  let skew = 0;            // server clock − this device's clock, ms (from the Date header)
  let timer = null;
  let ticker = null;
  let failures = 0;
  let wakeLock = null;

  function serverNow() { return Date.now() + skew; }

  function spotName(spot) {
    if (!spot) return "";
    return F.i18n.current() === "en" ? (spot.name_en || spot.name_ja) : (spot.name_ja || spot.name_en);
  }

  // A plain fetch (not C.api) to read the Date header: the countdown follows the server's
  // clock, not a kiosk tablet's that may be minutes off.
  async function fetchCode() {
    let response;
    try {
      response = await fetch(C.townPath("spots/" + encodeURIComponent(spotId) + "/kiosk"), {
        headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
      });
    } catch (e) {
      return { ok: false, status: 0, network: true, body: null };
    }
    let body = null;
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    const date = Date.parse(response.headers.get("Date") || "");
    if (response.ok && !isNaN(date)) skew = date - Date.now();
    return { ok: response.ok, status: response.status, network: false, body: body };
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(refresh, Math.max(250, ms));
  }

  async function refresh() {
    const answer = await fetchCode();
    if (answer.status === 401) return C.api("GET", "/api/v1/staff/me"); // sends to sign-in
    if (!answer.ok) {
      failures += 1;
      if (answer.status === 403 || answer.status === 404 || answer.status === 409 || answer.status === 422) {
        return stop(answer);
      }
      render();
      return schedule(RETRY_MS);
    }
    failures = 0;
    const changed = !shown || shown.code !== answer.body.code;
    shown = answer.body;
    render(changed);
    const untilTurn = C.time.ms(shown.expires_at) - serverNow() + 300;
    schedule(Math.min(REFRESH_MS, untilTurn));
  }

  // A refusal that waiting will not fix: the spot is gone, not a kiosk spot, or not allowed.
  function stop(answer) {
    clearTimeout(timer);
    clearInterval(ticker);
    shown = null;
    C.el("kiosk-qr-box").hidden = true;
    C.el("kiosk-timer").hidden = true;
    C.el("kiosk-offline").hidden = true;
    C.el("kiosk-spot").textContent = t("kiosk.unavailable");
    const code = C.errorCode(answer);
    const known = ["spot_not_found", "spot_archived", "not_a_kiosk"];
    C.say("page-error", known.indexOf(code) >= 0 ? t("kcerr." + code) : C.errorText(answer), "error");
  }

  function render(changed) {
    if (shown) {
      C.el("kiosk-spot").textContent = spotName(shown.spot);
      const town = C.state().town;
      C.el("kiosk-town").textContent = town ? C.townName(town) : "";
      document.title = t("kiosk.title_of", { spot: spotName(shown.spot) });
      if (changed) {
        const img = C.el("kiosk-qr");
        img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(shown.qr_svg);
        img.alt = t("kiosk.qr_alt", { spot: spotName(shown.spot) });
        img.dataset.code = shown.code;
      }
      C.el("kiosk-qr-box").hidden = false;
      C.el("kiosk-timer").hidden = false;
    }
    tick();
  }

  // The countdown and, when the server has not answered for a while, the warning. A code is
  // still taken for one window after its own, so the QR stays until then.
  function tick() {
    const offline = C.el("kiosk-offline");
    if (!shown) {
      offline.hidden = failures === 0;
      offline.textContent = t("kiosk.offline");
      return;
    }
    const windowMs = (shown.window_seconds || 30) * 1000;
    const left = C.time.ms(shown.expires_at) - serverNow();
    const seconds = Math.max(0, Math.ceil(left / 1000));
    C.el("kiosk-countdown").textContent = t("kiosk.countdown", { s: seconds });
    C.el("kiosk-bar-fill").style.width = Math.max(0, Math.min(100, (left / windowMs) * 100)) + "%";
    const stale = left < -windowMs;
    C.el("kiosk-qr-box").classList.toggle("stale", stale);
    offline.hidden = failures === 0 && left > -2000;
    offline.textContent = t(stale ? "kiosk.offline_stale" : "kiosk.offline");
  }

  async function keepAwake() {
    if (!("wakeLock" in navigator) || document.visibilityState !== "visible") return;
    try { wakeLock = await navigator.wakeLock.request("screen"); } catch (e) { wakeLock = null; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("kiosk", async function (context) {
      spotId = new URLSearchParams(location.search).get("spot") || "";
      const editor = ["owner", "editor"].indexOf(context.town.role) >= 0;
      const exit = C.el("kiosk-exit");
      exit.hidden = !editor;
      exit.href = C.page("spots");
      const full = C.el("kiosk-fullscreen");
      full.hidden = !document.documentElement.requestFullscreen;
      full.addEventListener("click", function () {
        if (document.fullscreenElement) document.exitFullscreen();
        else document.documentElement.requestFullscreen().catch(function () { /* refused: stays windowed */ });
      });
      document.addEventListener("fullscreenchange", function () {
        full.textContent = t(document.fullscreenElement ? "kiosk.fullscreen_exit" : "kiosk.fullscreen");
      });
      if (!/^\d+$/.test(spotId)) {
        C.el("kiosk-spot").textContent = t("kiosk.unavailable");
        return C.say("page-error", t("kiosk.no_spot"), "error");
      }
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible") { keepAwake(); refresh(); }
      });
      F.i18n.onChange(function () { render(true); });
      keepAwake();
      ticker = setInterval(tick, 250);
      await refresh();
    }, ["owner", "editor", "verifier"]);
  });
})();
