// The shop's pass check (/verify/): a phone at the counter reads the holder's pass with its
// rear camera (jsQR on video frames), asks the server (POST /api/v1/verify) and answers
// full-screen within a second: green with the card and the benefits usable now, each used with
// one tap (POST /api/v1/benefits/{id}/redemptions), or red with the reason in plain words.
//
// Who may check: a shop phone signed in by its device link (`#link=…`, exchanged once for a
// device token kept in localStorage; the fragment never reaches a server log and is wiped from
// the address bar at once), or a town staff member signed in to the console (its session
// cookie, writes carrying the X-CSRF-Token header from the furusato_csrf cookie, as the
// console does). Without either, the page explains how to register the phone.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const DEVICE_KEY = "furusato.verifier";
  const SCAN_MS = 100; // between decoded frames: ~10 a second, light on a phone's battery
  const MAX_SIDE = 720; // frames are scaled down to this before decoding (speed; a pass QR is big)
  const SAME_PROOF_MS = 2000; // after 次の方, the pass just answered is not read again at once
  const PASETO = /v4\.public\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?/;
  const REASONS = ["expired", "forged", "not_holder", "revoked", "other_town", "unknown_card"];
  const params = new URLSearchParams(location.search);
  const town = params.get("town") || "";

  let device = null; // {device_token, shop, town}
  let me = null; // GET /verify/me
  let stream = null;
  let scanning = false;
  let scanTimer = null;
  let answer = null; // {tone, titleKey, reasonText, result, proof, redeemed: {id: redemption}, errors: {id: key}}
  let ignore = { proof: "", until: 0 };
  let message = null; // {key, vars, tone}
  let wakeLock = null;
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });

  F.i18n.define({
    ja: {
      "verify.history.none": "まだ利用はありません。",
      "verify.history.failed": "読み込めませんでした。電波のよい場所で開き直してください。",
      "verify.history.item": "{at}　{benefit}　No. {number}",
      "verify.linking": "このスマホを登録しています…",
      "verify.linked": "「{shop}」の確認用スマホとして登録しました。",
      "verify.link.invalid": "この登録用リンクは無効か、すでに使われています。町の担当者に新しいリンクを発行してもらってください。",
      "verify.revoked": "このスマホの登録は取り消されたか、期限が切れています。",
      "verify.where.device": "{shop}",
      "verify.where.staff": "{town}（職員）",
      "verify.camera.starting": "カメラを起動しています…",
      "verify.ready": "読み取りの準備ができました。",
      "verify.err.denied": "カメラの使用が許可されていません。ブラウザの設定でこのページのカメラを許可してください。下の「カメラを使わずに確認する」でも確認できます。",
      "verify.err.nocamera": "このスマホではカメラを使えません。下の「カメラを使わずに確認する」で確認できます。",
      "verify.err.noreader": "QRコードを読む機能を読み込めませんでした。ページを開き直すか、下の「カメラを使わずに確認する」をお使いください。",
      "verify.manual.empty": "パスの文字列を入力してください。",
      "verify.checking": "確認しています…",
      "verify.valid": "有効なパス",
      "verify.invalid": "使えないパス",
      "verify.used.title": "使用済みです",
      "verify.unusable": "確認できませんでした",
      "verify.number": "No. {number}",
      "verify.benefits.none": "このお店で今使える特典はありません。",
      "verify.use": "使う",
      "verify.using": "処理中…",
      "verify.used.now": "使いました（{time}）",
      "verify.used.before": "使用済み（{time}）",
      "verify.used.list": "{title}：{time} に使用済み",
      "verify.used.where": "{title}：{time}、{shop}で使用済み",
      "verify.paused": "いまは使えません",
      "verify.period.day": "1日1回",
      "verify.period.week": "1週間に1回",
      "verify.period.month": "1か月に1回",
      "verify.period.term": "期間中1回",
      "verify.reason.expired": "期限切れのパスです。お客様にパスの画面を開き直してもらってください。",
      "verify.reason.forged": "偽造または改ざんされたパスです。",
      "verify.reason.not_holder": "このカードは別の持ち主に移っています。",
      "verify.reason.revoked": "返金により無効になったカードです。",
      "verify.reason.other_town": "別の町のカードです。",
      "verify.reason.unknown_card": "見つからないカードです。",
      "verify.reason.not_a_pass": "ふるさとのパスのQRコードではありません。お客様に「マイ住民票」の「パスを表示」を開いてもらってください。",
      "verify.reason.already_redeemed": "この特典は、このカードですでに使われています。",
      "verify.reason.forbidden": "この特典は、このお店では使えません。",
      "verify.reason.network": "通信できませんでした。電波の良い所で、もう一度確認してください。",
      "verify.reason.server": "確認できませんでした（{code}）。少し待って、もう一度確認してください。",
      "verify.row.network": "通信できませんでした。もう一度押してください。",
      "verify.row.benefit_unavailable": "この特典は、いまは使えません（休止中か期間外です）。",
      "verify.row.not_eligible": "このカードの種類では使えない特典です。",
    },
    en: {
      "verify.pagetitle": "Check a pass | Furusato",
      "verify.brand": "Furusato pass check",
      "verify.preparing": "Getting ready…",
      "verify.heading": "Check a pass",
      "verify.unregistered.title": "This phone is not registered",
      "verify.unregistered.body": "To check passes with this phone, open the shop's device link, which town staff create in the console, on this phone.",
      "verify.unregistered.step1": "Town staff open “Benefits and shops” in the console and press “Add a checking phone” for the shop.",
      "verify.unregistered.step2": "Open the link (or its QR code) on this phone.",
      "verify.unregistered.step3": "This page opens and reads passes with the camera.",
      "verify.unregistered.staff": "Town staff: sign in to the console, then open this page again.",
      "verify.unregistered.console": "To the console",
      "verify.scan.hint": "Hold the customer's pass QR code inside the frame",
      "verify.manual": "Check without the camera",
      "verify.history": "Benefits used here (newest first)",
      "verify.history.none": "None used yet.",
      "verify.history.failed": "Could not load them. Open this again where the signal is better.",
      "verify.history.item": "{at}  {benefit}  No. {number}",
      "verify.manual.label": "The pass text",
      "verify.manual.hint": "Read the pass QR code with another app and paste its text here.",
      "verify.manual.submit": "Check",
      "verify.benefits": "Benefits usable now",
      "verify.next": "Next customer",
      "verify.retry": "Check again",
      "verify.linking": "Registering this phone…",
      "verify.linked": "This phone now checks passes for “{shop}”.",
      "verify.link.invalid": "This registration link is not valid or was already used. Ask town staff for a new link.",
      "verify.revoked": "This phone's registration was withdrawn or has expired.",
      "verify.where.device": "{shop}",
      "verify.where.staff": "{town} (staff)",
      "verify.camera.starting": "Starting the camera…",
      "verify.ready": "Ready to read a pass.",
      "verify.err.denied": "The camera is not allowed. Allow it for this page in the browser's settings, or use “Check without the camera” below.",
      "verify.err.nocamera": "This phone's camera cannot be used. Use “Check without the camera” below.",
      "verify.err.noreader": "The QR reader did not load. Open the page again, or use “Check without the camera” below.",
      "verify.manual.empty": "Paste the pass text.",
      "verify.checking": "Checking…",
      "verify.valid": "Valid pass",
      "verify.invalid": "Pass not valid",
      "verify.used.title": "Already used",
      "verify.unusable": "Could not check",
      "verify.number": "No. {number}",
      "verify.benefits.none": "No benefit of this shop can be used now.",
      "verify.use": "Use",
      "verify.using": "Working…",
      "verify.used.now": "Used ({time})",
      "verify.used.before": "Already used ({time})",
      "verify.used.list": "{title}: used at {time}",
      "verify.used.where": "{title}: used at {time}, {shop}",
      "verify.paused": "Not usable now",
      "verify.period.day": "Once a day",
      "verify.period.week": "Once a week",
      "verify.period.month": "Once a month",
      "verify.period.term": "Once in its term",
      "verify.reason.expired": "The pass has expired. Ask the customer to open the pass screen again.",
      "verify.reason.forged": "The pass is forged or altered.",
      "verify.reason.not_holder": "This card has moved to another holder.",
      "verify.reason.revoked": "This card was cancelled by a refund.",
      "verify.reason.other_town": "This is another town's card.",
      "verify.reason.unknown_card": "This card is unknown.",
      "verify.reason.not_a_pass": "This is not a Furusato pass QR code. Ask the customer to open “Show pass” on “My cards”.",
      "verify.reason.already_redeemed": "This card has already used this benefit.",
      "verify.reason.forbidden": "This benefit is not one of this shop's.",
      "verify.reason.network": "Could not reach the server. Move to a better signal and check again.",
      "verify.reason.server": "Could not check ({code}). Please wait a moment and check again.",
      "verify.row.network": "Could not reach the server. Press again.",
      "verify.row.benefit_unavailable": "This benefit cannot be used now (paused or outside its term).",
      "verify.row.not_eligible": "This benefit is not for this kind of card.",
    },
  });

  function el(id) { return document.getElementById(id); }

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function en() { return F.i18n.current() === "en"; }

  // A name the API gives as a string or as {name_ja, name_en, slug} (shop, town).
  function named(value) {
    if (!value) return "";
    if (typeof value === "string") return value;
    return (en() ? value.name_en || value.title_en : value.name_ja || value.title_ja) || value.name || value.slug || "";
  }

  function titled(value) {
    if (!value) return "";
    return (en() ? value.title_en : value.title_ja) || value.title || "";
  }

  function clock(iso) {
    const shown = F.util.time.jst(iso, true);
    return shown === "—" ? "" : shown;
  }

  // ----- Who this phone is -----
  function loadDevice() {
    try { return JSON.parse(localStorage.getItem(DEVICE_KEY) || "null"); } catch (e) { return null; }
  }

  function saveDevice(value) {
    try {
      if (value) localStorage.setItem(DEVICE_KEY, JSON.stringify(value));
      else localStorage.removeItem(DEVICE_KEY);
    } catch (e) { /* private mode: this visit only */ }
    device = value;
  }

  function cookie(name) {
    const found = document.cookie.split("; ").find(function (part) { return part.indexOf(name + "=") === 0; });
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function withTown(path) {
    return town && !device ? path + (path.indexOf("?") < 0 ? "?" : "&") + "town=" + encodeURIComponent(town) : path;
  }

  // The device token when this is a shop phone; else the console's cookie (+ CSRF on writes).
  function call(method, path, json) {
    const options = { json: json };
    if (device && device.device_token) options.bearer = device.device_token;
    else if (method !== "GET") options.headers = { "X-CSRF-Token": cookie("furusato_csrf") };
    return F.util.api(method, withTown(path), options);
  }

  async function exchange(link) {
    showMessage("verify.linking");
    const result = await F.util.api("POST", "/api/v1/verify/devices/session", { json: { link: link } });
    if (result.ok && result.body && result.body.device_token) {
      saveDevice({ device_token: result.body.device_token, shop: result.body.shop, town: result.body.town });
      showMessage("verify.linked", { shop: named(result.body.shop) }, "success");
      return true;
    }
    showMessage(result.network ? "common.network" : "verify.link.invalid", {}, "error");
    return false;
  }

  async function identify() {
    const result = await call("GET", "/api/v1/verify/me");
    if (result.ok) {
      me = result.body || {};
      return true;
    }
    if (result.status === 401 || result.status === 403) {
      if (device) {
        saveDevice(null);
        showMessage("verify.revoked", {}, "error");
      }
      unregistered();
      return false;
    }
    showMessage(result.network ? "common.network" : "verify.reason.server", { code: F.util.errorCode(result) || result.status }, "error");
    return false;
  }

  function unregistered() {
    me = null;
    stopCamera();
    el("scanner").hidden = true;
    el("unregistered").hidden = false;
    renderWhere();
    renderMessage();
  }

  function renderWhere() {
    const where = el("verify-where");
    if (!me) { where.textContent = ""; return; }
    const shop = me.shop || (device && device.shop);
    const townName = me.town || (device && device.town);
    where.textContent = shop ? t("verify.where.device", { shop: named(shop) }) : t("verify.where.staff", { town: named(townName) });
  }

  function showMessage(key, vars, tone) {
    message = key ? { key: key, vars: vars || {}, tone: tone || "" } : null;
    renderMessage();
  }

  function renderMessage() {
    const box = el("verify-message");
    delete box.dataset.i18n;
    box.hidden = !message;
    if (!message) return;
    box.textContent = t(message.key, message.vars);
    box.className = "notice" + (message.tone ? " notice-" + message.tone : "");
  }

  // ----- Camera and decoding -----
  function cameraProblem(key) {
    const box = el("camera-problem");
    box.hidden = !key;
    box.dataset.key = key || "";
    box.textContent = key ? t(key) : "";
    // Without a camera the viewfinder is only in the way: the text entry takes its place.
    el("viewfinder").hidden = !!key;
    el("scan-hint").hidden = !!key;
    if (key) el("manual").open = true;
  }

  // The camera's state goes in the message line unless it says something more useful (the
  // phone was just registered).
  function cameraStatus(key) {
    if (!message || message.key === "verify.camera.starting" || message.key === "verify.ready") showMessage(key);
  }

  async function startCamera() {
    if (stream) return;
    if (typeof window.jsQR !== "function") return cameraProblem("verify.err.noreader");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return cameraProblem("verify.err.nocamera");
    cameraStatus("verify.camera.starting");
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      });
    } catch (error) {
      stream = null;
      cameraStatus(null);
      const denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
      return cameraProblem(denied ? "verify.err.denied" : "verify.err.nocamera");
    }
    cameraProblem(null);
    const video = el("camera");
    video.srcObject = stream;
    try { await video.play(); } catch (e) { /* autoplay of a muted stream: plays when it can */ }
    cameraStatus("verify.ready");
    scanning = true;
    keepAwake();
    schedule();
  }

  function stopCamera() {
    scanning = false;
    clearTimeout(scanTimer);
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    const video = el("camera");
    if (video) video.srcObject = null;
  }

  function schedule() {
    clearTimeout(scanTimer);
    if (scanning) scanTimer = setTimeout(scan, SCAN_MS);
  }

  function scan() {
    if (!scanning || answer) return;
    const video = el("camera");
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (video.readyState >= 2 && width && height) {
      const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const frame = context.getImageData(0, 0, canvas.width, canvas.height);
      const code = window.jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
      if (code && code.data && !(code.data === ignore.proof && Date.now() < ignore.until)) {
        read(code.data);
        return;
      }
    }
    schedule();
  }

  // The pass inside what a QR code said: the proof itself, or a link carrying it.
  function proofOf(text) {
    const trimmed = String(text || "").trim();
    const found = trimmed.match(PASETO);
    if (found) return found[0];
    if (!trimmed || /\s/.test(trimmed) || /^[a-z][a-z0-9+.-]*:/i.test(trimmed)) return "";
    return trimmed; // some other signed string: the server judges it
  }

  async function read(text) {
    const proof = proofOf(text);
    if (!proof) {
      show({ tone: "invalid", titleKey: "verify.invalid", reasonKey: "verify.reason.not_a_pass", raw: text });
      return;
    }
    await check(proof);
  }

  // ----- The answer -----
  async function check(proof) {
    show({ tone: "checking", titleKey: "verify.checking", proof: proof });
    const result = await call("POST", "/api/v1/verify", { proof: proof });
    if (!answer || answer.proof !== proof) return; // 次の方 was pressed meanwhile
    if (result.status === 401) { answer = null; hideAnswer(); showMessage("verify.revoked", {}, "error"); saveDevice(null); unregistered(); return; }
    if (!result.ok || !result.body) {
      const code = F.util.errorCode(result) || result.status;
      show({
        tone: "error", titleKey: "verify.unusable", proof: proof, retry: true,
        reasonKey: result.network ? "verify.reason.network" : "verify.reason.server", reasonVars: { code: code },
      });
      return;
    }
    const body = result.body;
    if (!body.valid) {
      show({ tone: "invalid", titleKey: "verify.invalid", proof: proof, result: body, reasonKey: reasonKey(body.reason), reasonText: reasonText(body) });
      return;
    }
    const benefits = body.benefits || [];
    const used = benefits.filter(function (b) { return !b.available && (b.unavailable_reason === "already_redeemed" || b.last_redeemed_at); });
    // Everything this shop offers was already used this period: for the clerk that is a "no".
    if (benefits.length && !benefits.some(function (b) { return b.available; }) && used.length) {
      show({ tone: "invalid", titleKey: "verify.used.title", proof: proof, result: body, reasonKey: "verify.reason.already_redeemed", usedList: used });
      return;
    }
    show({ tone: "valid", titleKey: "verify.valid", proof: proof, result: body });
  }

  function reasonKey(reason) {
    return REASONS.indexOf(reason) >= 0 ? "verify.reason." + reason : "";
  }

  // The server's own words when the reason is one this page does not know.
  function reasonText(body) {
    if (reasonKey(body.reason)) return "";
    return (en() ? body.message_en : body.message_ja) || body.message || body.reason || "";
  }

  function show(next) {
    answer = Object.assign({ redeemed: {}, errors: {}, busy: {} }, next);
    renderAnswer();
    const screen = el("answer");
    if (screen.hidden) {
      screen.hidden = false;
      document.body.classList.add("answer-open");
    }
    if (answer.tone !== "checking") el("answer-title").focus();
  }

  function hideAnswer() {
    el("answer").hidden = true;
    document.body.classList.remove("answer-open");
  }

  function nextCustomer() {
    if (answer && answer.proof) ignore = { proof: answer.proof, until: Date.now() + SAME_PROOF_MS };
    answer = null;
    hideAnswer();
    usedHere(); // a redemption just made shows in the open list
    el("manual-proof").value = "";
    if (me) {
      if (stream) { scanning = true; schedule(); } else startCamera();
    }
  }

  function renderAnswer() {
    if (!answer) return;
    const screen = el("answer");
    screen.className = "answer answer-" + answer.tone;
    el("answer-mark").textContent = { valid: "✓", invalid: "✕", error: "!", checking: "…" }[answer.tone] || "";
    el("answer-title").textContent = t(answer.titleKey);
    const reason = el("answer-reason");
    const reasonShown = answer.reasonText || (answer.reasonKey ? t(answer.reasonKey, answer.reasonVars) : "");
    reason.textContent = reasonShown;
    reason.hidden = !reasonShown;
    el("answer-retry").hidden = !answer.retry;
    el("answer-next").hidden = answer.tone === "checking";

    const body = answer.result;
    const card = el("answer-card");
    card.hidden = !(body && body.number !== undefined && body.number !== null);
    if (!card.hidden) {
      el("answer-town").textContent = named(body.town);
      el("answer-series").textContent = titled(body.series);
      el("answer-number").textContent = t("verify.number", { number: body.number });
    }
    const section = el("answer-benefits");
    const list = el("benefit-list");
    if (answer.tone === "valid") {
      section.hidden = false;
      const benefits = body.benefits || [];
      list.replaceChildren.apply(list, benefits.length ? benefits.map(benefitRow) : [node("li", "benefit-none", t("verify.benefits.none"))]);
    } else if (answer.usedList) {
      section.hidden = true;
      const lines = answer.usedList.map(function (b) {
        const vars = { title: titled(b), time: clock(b.last_redeemed_at), shop: named(b.last_redeemed_shop || b.shop) };
        return node("li", "used-line", t(vars.shop ? "verify.used.where" : "verify.used.list", vars));
      });
      const ul = node("ul", "used-lines");
      ul.append.apply(ul, lines);
      reason.append(ul);
    } else {
      section.hidden = true;
    }
  }

  function benefitRow(benefit) {
    const li = node("li", "benefit");
    li.dataset.benefitId = benefit.id;
    const text = node("div", "benefit-text");
    text.append(node("p", "benefit-title", titled(benefit)));
    const facts = [];
    if (benefit.period) facts.push(t("verify.period." + benefit.period));
    if (benefit.shop && !(me && me.shop)) facts.push(named(benefit.shop));
    if (facts.length) text.append(node("p", "benefit-facts", facts.join("・")));
    li.append(text);
    const done = answer.redeemed[benefit.id];
    if (done) {
      li.classList.add("is-used-now");
      li.append(node("p", "benefit-done", t("verify.used.now", { time: clock(done.redeemed_at) })));
    } else if (benefit.available) {
      const button = node("button", "benefit-use", t(answer.busy[benefit.id] ? "verify.using" : "verify.use"));
      button.type = "button";
      button.disabled = !!answer.busy[benefit.id];
      button.setAttribute("aria-label", t("verify.use") + "：" + titled(benefit));
      button.addEventListener("click", function () { redeem(benefit); });
      li.append(button);
      if (answer.errors[benefit.id]) li.append(node("p", "field-error", t(answer.errors[benefit.id])));
    } else if (benefit.unavailable_reason === "already_redeemed" || benefit.last_redeemed_at) {
      li.append(node("p", "benefit-off", t("verify.used.before", { time: clock(benefit.last_redeemed_at) })));
    } else {
      li.append(node("p", "benefit-off", t("verify.paused")));
    }
    return li;
  }

  async function redeem(benefit) {
    const current = answer;
    if (!current || current.busy[benefit.id]) return;
    current.busy[benefit.id] = true;
    delete current.errors[benefit.id];
    renderAnswer();
    const path = "/api/v1/benefits/" + encodeURIComponent(benefit.id) + "/redemptions";
    const result = await call("POST", path, { proof: current.proof });
    current.busy[benefit.id] = false;
    if (answer !== current) return;
    if (result.status === 401) { saveDevice(null); hideAnswer(); answer = null; unregistered(); return; }
    const code = F.util.errorCode(result);
    const serverSays = (result.body && result.body.error && result.body.error.message) || "";
    if (result.ok) {
      current.redeemed[benefit.id] = result.body || { redeemed_at: new Date().toISOString() };
      renderAnswer();
      return;
    }
    if (code === "already_redeemed") {
      // The server's message says when and where (Japan time).
      show({ tone: "invalid", titleKey: "verify.used.title", proof: current.proof, result: current.result,
        reasonText: t("verify.reason.already_redeemed") + (serverSays ? " " + serverSays : "") });
      return;
    }
    if (code === "pass_invalid") {
      const reason = result.body.error.reason || "";
      show({ tone: "invalid", titleKey: "verify.invalid", proof: current.proof, result: current.result,
        reasonKey: reasonKey(reason), reasonText: reasonKey(reason) ? "" : serverSays });
      return;
    }
    if (code === "forbidden" || result.status === 403) {
      show({ tone: "invalid", titleKey: "verify.invalid", proof: current.proof, result: current.result, reasonKey: "verify.reason.forbidden" });
      return;
    }
    if (code === "benefit_unavailable" || code === "not_eligible") current.errors[benefit.id] = "verify.row." + code;
    else current.errors[benefit.id] = result.network ? "verify.row.network" : "verify.reason.server";
    renderAnswer();
  }

  // ----- Manual entry (no camera) -----
  function manual(event) {
    event.preventDefault();
    const field = el("manual-proof");
    const error = el("manual-error");
    const value = field.value.trim();
    error.hidden = !!value;
    error.textContent = value ? "" : t("verify.manual.empty");
    field.setAttribute("aria-invalid", value ? "false" : "true");
    if (!value) { field.focus(); return; }
    scanning = false;
    clearTimeout(scanTimer);
    read(value);
  }

  async function keepAwake() {
    try {
      if (navigator.wakeLock && !wakeLock && document.visibilityState === "visible") {
        wakeLock = await navigator.wakeLock.request("screen");
        wakeLock.addEventListener("release", function () { wakeLock = null; });
      }
    } catch (e) { wakeLock = null; /* the page works without it */ }
  }

  function render() {
    renderMessage();
    renderWhere();
    renderAnswer();
    const problem = el("camera-problem");
    if (problem.dataset.key) problem.textContent = t(problem.dataset.key);
  }

  async function start() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    const link = fragment.get("link");
    if (!link && me) return;
    if (link) {
      // The secret leaves the address bar (and the history) before anything else happens.
      history.replaceState(null, "", location.pathname + location.search);
      await exchange(link);
    }
    if (!(await identify())) return;
    if (!message || message.key === "verify.linking") showMessage(null);
    el("unregistered").hidden = true;
    el("scanner").hidden = false;
    renderWhere();
    await startCamera();
  }

  // The shop's own redemptions (a staff verifier: the town's), the newest 20, read when opened.
  async function usedHere() {
    if (!el("history").open) return;
    const result = await call("GET", "/api/v1/verify/redemptions?limit=20");
    const shown = el("history-message");
    const items = result.ok ? result.body.items : [];
    shown.hidden = result.ok && items.length > 0;
    shown.textContent = t(result.ok ? "verify.history.none" : "verify.history.failed");
    el("history-list").replaceChildren.apply(el("history-list"), items.map(function (item) {
      const benefit = en() ? item.benefit_title_en : item.benefit_title_ja;
      return node("li", "", t("verify.history.item", { at: clock(item.redeemed_at), benefit: benefit, number: item.number }));
    }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    el("history").addEventListener("toggle", usedHere);
    device = loadDevice();
    F.i18n.onChange(render);
    el("answer-next").addEventListener("click", nextCustomer);
    el("answer-retry").addEventListener("click", function () { if (answer && answer.proof) check(answer.proof); });
    el("manual-form").addEventListener("submit", manual);
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && answer && answer.tone !== "checking") nextCustomer();
    });
    // The camera is off while the page is out of sight, and back when it returns.
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) stopCamera();
      else if (me && !el("scanner").hidden) { keepAwake(); if (!answer) startCamera(); }
    });
    // A link opened while the page is open (pasted into the address bar) registers too.
    window.addEventListener("hashchange", start);
    start();
  });
})();
