// Console sign-in: an e-mail address → POST /api/v1/staff/sign-in (202 whoever asks, so the
// page says "if this address is registered"), then the 6-digit code → POST /staff/session,
// which sets the HttpOnly session cookie and the CSRF cookie. Then home, or ?next=.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  let email = "";
  let message = null; // {key, vars, tone}
  const errors = {}; // field → key

  function next() {
    const wanted = new URLSearchParams(location.search).get("next") || "";
    // Only a console page of this site: never an address elsewhere.
    return /^\/console\/[a-z-]+\.html(\?[^#]*)?$/.test(wanted) ? wanted : "/console/home.html";
  }

  function render() {
    const box = C.el("signin-message");
    box.hidden = !message;
    box.textContent = message ? t(message.key, message.vars) : "";
    box.className = "notice" + (message && message.tone ? " notice-" + message.tone : "");
    ["email", "code"].forEach(function (name) { C.fieldMessage(name, errors[name] ? t(errors[name]) : ""); });
    C.el("code-sent-to").textContent = email ? t("signin.sent_to", { email: email }) : "";
  }

  function show(key, tone, vars) {
    message = key ? { key: key, tone: tone, vars: vars } : null;
    render();
  }

  async function sendCode(event) {
    if (event) event.preventDefault();
    const typed = C.el("email").value.trim();
    errors.email = /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(typed) ? null : "signin.email.invalid";
    if (errors.email) {
      render();
      C.el("email").focus();
      return;
    }
    email = typed;
    C.el("email-submit").disabled = true;
    show("signin.sending");
    const sent = await C.api("POST", "/api/v1/staff/sign-in", { json: { email: email }, allow401: true });
    C.el("email-submit").disabled = false;
    if (!sent.ok) {
      if (sent.status === 422) {
        errors.email = "signin.email.invalid";
        show(null);
        C.el("email").focus();
        return;
      }
      message = null;
      render();
      C.say("signin-message", C.errorText(sent), "error");
      return;
    }
    C.el("email-form").hidden = true;
    C.el("code-form").hidden = false;
    C.el("code").value = "";
    show("signin.sent", "success");
    C.el("code").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const code = C.el("code").value.replace(/\s/g, "");
    errors.code = /^\d{6}$/.test(code) ? null : "signin.code.invalid";
    if (errors.code) {
      render();
      C.el("code").focus();
      return;
    }
    C.el("code-submit").disabled = true;
    show("signin.checking");
    const opened = await C.api("POST", "/api/v1/staff/session", { json: { email: email, code: code }, allow401: true });
    if (opened.ok) {
      location.replace(next());
      return;
    }
    C.el("code-submit").disabled = false;
    const reason = C.errorCode(opened);
    if (["code_invalid", "code_expired", "code_locked", "code_used"].indexOf(reason) >= 0 || opened.status === 401) {
      errors.code = "cerr." + (reason || "code_invalid");
      show(null);
      C.el("code").focus();
      return;
    }
    message = null;
    render();
    C.say("signin-message", C.errorText(opened), "error");
  }

  function otherEmail() {
    email = "";
    errors.code = null;
    C.el("code-form").hidden = true;
    C.el("email-form").hidden = false;
    show(null);
    C.el("email").focus();
  }

  document.addEventListener("DOMContentLoaded", async function () {
    F.i18n.onChange(render);
    C.el("email-form").addEventListener("submit", sendCode);
    C.el("code-form").addEventListener("submit", signIn);
    C.el("resend").addEventListener("click", function () {
      C.el("email").value = email;
      sendCode();
    });
    C.el("other-email").addEventListener("click", otherEmail);
    const given = new URLSearchParams(location.search).get("email");
    if (given) C.el("email").value = given;
    C.el("code").addEventListener("input", function () { if (errors.code) { errors.code = null; render(); } });
    C.el("email").addEventListener("input", function () { if (errors.email) { errors.email = null; render(); } });
    // Already signed in (a bookmark of this page): straight on.
    const me = await C.api("GET", "/api/v1/staff/me", { allow401: true });
    if (me.ok) location.replace(next());
  });
})();
