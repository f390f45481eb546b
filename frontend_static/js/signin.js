// Sign-in by emailed link. Without a fragment: ask for the email and POST /holders/sign-in.
// Opened from the email (signin.html#token=…): POST /holders/session, keep the session, go to
// card.html — or back to the page the sign-in started from: `next` (a same-site path such as
// /lots/3) in the link's fragment or query. Opened as signin.html?next=/lots/3 the request
// carries `next` (the mailed link returns there), and with &create=1 also `create_account`
// (a bidder who has no card yet gets an account).
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  let shown = null; // {key, tone} of the message on screen
  let fieldError = null;
  const params = new URLSearchParams(location.search);
  const next = F.util.safeNext(params.get("next"));
  const create = !!next && params.get("create") === "1";

  F.i18n.define({
    ja: {
      "signin.sent": "メールを送信しました。届いたメールのリンクを開いてください（数分たっても届かない場合は、迷惑メールフォルダもご確認ください）。",
      "signin.checking": "ログインしています…",
      "signin.invalid": "このリンクは無効か、期限が切れています。お手数ですが、もう一度メールを送ってください。",
      "signin.email.invalid": "メールアドレスを正しく入力してください（例: taro@example.jp）。",
      "signin.sending": "送信中です…",
      "signin.failed": "送信できませんでした。時間をおいて、もう一度お試しください。",
      "signin.lead.create": "メールアドレスを入力してください。ログイン用のリンクをお送りします。はじめての方は、このメールアドレスで登録されます。パスワードは不要です。",
      "signin.wallet.waiting": "ウォレットで署名してください…",
      "signin.wallet.failed": "ウォレットでログインできませんでした。もう一度お試しください。",
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
      "signin.lead.create": "Enter your email address. We will send you a sign-in link; if you are new, this address becomes your account. No password needed.",
      "signin.wallet.heading": "Cards in your own wallet",
      "signin.wallet.lead": "Sign a message with your wallet to sign in (no fee).",
      "signin.wallet.submit": "Sign in with my wallet",
      "signin.wallet.waiting": "Please sign in your wallet…",
      "signin.wallet.failed": "Signing in with the wallet did not work. Please try again.",
    },
  });

  function el(id) { return document.getElementById(id); }

  function render() {
    if (create) {
      const lead = document.querySelector("[data-i18n='signin.lead']");
      if (lead) lead.textContent = t("signin.lead.create"); // after i18n.js set the page's own
    }
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
    const body = { email: email };
    if (next) body.next = next;
    if (create) body.create_account = true;
    const result = await F.util.api("POST", "/api/v1/holders/sign-in", { json: body });
    el("signin-submit").disabled = false;
    if (result.ok) return show("signin.sent", "success");
    if (result.status === 422) {
      fieldError = "signin.email.invalid";
      return show(null);
    }
    show(result.network ? "common.network" : result.status >= 500 ? "common.server" : "signin.failed", "error");
  }

  async function exchange(secret, back) {
    el("signin-form").hidden = true;
    show("signin.checking");
    const result = await F.util.api("POST", "/api/v1/holders/session", { json: { token: secret } });
    if (result.ok && result.body && result.body.session_token) {
      F.util.session(result.body);
      location.replace(back || "/card.html");
      return;
    }
    el("signin-form").hidden = false;
    show(failure(result), "error");
  }

  // Sign-In with Ethereum (EIP-4361): the server writes the message for the wallet's address
  // (with its single-use nonce; a browser has no Keccak-256 for the EIP-55 form), the wallet
  // (an EIP-1193 provider in the browser) signs it, the server checks it and opens a session.
  async function walletSignIn() {
    const wallet = window.ethereum;
    el("wallet-submit").disabled = true;
    show("signin.wallet.waiting");
    try {
      const accounts = await wallet.request({ method: "eth_requestAccounts" });
      const path = "/api/v1/holders/siwe/nonce?address=" + encodeURIComponent(accounts[0]);
      const nonce = await F.util.api("POST", path, { json: {} });
      if (!nonce.ok || !nonce.body.message) throw new Error("nonce");
      const signature = await wallet.request({ method: "personal_sign", params: [nonce.body.message, accounts[0]] });
      const body = { message: nonce.body.message, signature: signature };
      const result = await F.util.api("POST", "/api/v1/holders/siwe/session", { json: body });
      if (!result.ok) throw new Error("session");
      F.util.session({
        session_token: result.body.session_token,
        expires_at: result.body.expires_at,
        address: result.body.address,
        kind: "wallet",
      });
      location.replace(next || "/card.html");
    } catch (e) {
      el("wallet-submit").disabled = false;
      show("signin.wallet.failed", "error");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    render();
    el("signin-form").addEventListener("submit", send);
    if (window.ethereum && typeof window.ethereum.request === "function") {
      el("wallet-signin").hidden = false;
      el("wallet-submit").addEventListener("click", walletSignIn);
    }
    fromLink();
  });
  // The link pasted into a tab that already shows this page only changes the fragment.
  window.addEventListener("hashchange", fromLink);

  function fromLink() {
    const secret = F.util.fragmentToken();
    if (!secret) return;
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    const back = F.util.safeNext(fragment.get("next")) || next;
    history.replaceState(null, "", location.pathname + location.search); // the link works once
    exchange(secret, back);
  }
})();
