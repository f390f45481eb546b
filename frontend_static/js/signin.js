// Sign-in by emailed link. Without a fragment: ask for the email and POST /holders/sign-in.
// Opened from the email (signin.html#token=…): POST /holders/session, keep the session, go to
// card.html.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  let shown = null; // {key, tone} of the message on screen
  let fieldError = null;

  F.i18n.define({
    ja: {
      "signin.sent": "メールを送信しました。届いたメールのリンクを開いてください（数分たっても届かない場合は、迷惑メールフォルダもご確認ください）。",
      "signin.checking": "ログインしています…",
      "signin.invalid": "このリンクは無効か、期限が切れています。お手数ですが、もう一度メールを送ってください。",
      "signin.email.invalid": "メールアドレスを正しく入力してください（例: taro@example.jp）。",
      "signin.sending": "送信中です…",
      "signin.failed": "送信できませんでした。時間をおいて、もう一度お試しください。",
    },
    en: {
      "signin.pagetitle": "Sign in to My cards | Furusato",
      "signin.heading": "Sign in to My cards",
      "signin.lead": "Enter the email address you bought with. We will send you a sign-in link; no password needed.",
      "signin.email": "Email address",
      "signin.submit": "Send me a sign-in link",
      "signin.sent": "Email sent. Please open the link in it (if it has not arrived in a few minutes, check your spam folder).",
      "signin.checking": "Signing you in…",
      "signin.invalid": "This link is not valid or has expired. Please send yourself a new one.",
      "signin.email.invalid": "Please enter a valid email address (e.g. taro@example.com).",
      "signin.sending": "Sending…",
      "signin.failed": "We could not send the email. Please try again later.",
    },
  });

  function el(id) { return document.getElementById(id); }

  function render() {
    const message = el("signin-message");
    message.hidden = !shown;
    message.textContent = shown ? t(shown.key) : "";
    message.className = "notice" + (shown && shown.tone ? " notice-" + shown.tone : "");
    el("email-error").hidden = !fieldError;
    el("email-error").textContent = fieldError ? t(fieldError) : "";
    if (fieldError) el("email").setAttribute("aria-invalid", "true");
    else el("email").removeAttribute("aria-invalid");
  }

  function show(key, tone) {
    shown = key ? { key: key, tone: tone } : null;
    render();
  }

  function failure(result) {
    if (result.network) return "common.network";
    return result.status >= 500 ? "common.server" : "signin.invalid";
  }

  async function send(event) {
    event.preventDefault();
    const email = el("email").value.trim();
    fieldError = /^[^@\s]+@[^@\s]+$/.test(email) ? null : "signin.email.invalid";
    if (fieldError) {
      render();
      el("email").focus();
      return;
    }
    el("signin-submit").disabled = true;
    show("signin.sending");
    const result = await F.util.api("POST", "/api/v1/holders/sign-in", { json: { email: email } });
    el("signin-submit").disabled = false;
    if (result.ok) return show("signin.sent", "success");
    if (result.status === 422) {
      fieldError = "signin.email.invalid";
      return show(null);
    }
    show(result.network ? "common.network" : result.status >= 500 ? "common.server" : "signin.failed", "error");
  }

  async function exchange(secret) {
    el("signin-form").hidden = true;
    show("signin.checking");
    const result = await F.util.api("POST", "/api/v1/holders/session", { json: { token: secret } });
    if (result.ok && result.body && result.body.session_token) {
      F.util.session(result.body);
      location.replace("/card.html");
      return;
    }
    el("signin-form").hidden = false;
    show(failure(result), "error");
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    el("signin-form").addEventListener("submit", send);
    fromLink();
  });
  // The link pasted into a tab that already shows this page only changes the fragment.
  window.addEventListener("hashchange", fromLink);

  function fromLink() {
    const secret = F.util.fragmentToken();
    if (!secret) return;
    history.replaceState(null, "", location.pathname + location.search); // the link works once
    exchange(secret);
  }
})();
