// Accepting an invite: the mailed link opens invite.html#token=…; the token leaves the address
// bar at once (kept for this tab only) and is sent only when the person presses the button —
// mail scanners open links, and a GET must not use the invite up. No session is needed: the
// token proves the mailbox. Then the person signs in with a code sent to that address.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const KEY = "furusato.console.invite";
  let shown = null;

  function keep(token) {
    try { if (token) sessionStorage.setItem(KEY, token); else sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ }
  }

  function kept() {
    try { return sessionStorage.getItem(KEY); } catch (e) { return null; }
  }

  let memo = null;

  function render() {
    if (!shown) return;
    C.say("invite-message", t(shown.key, shown.vars), shown.tone);
  }

  function show(key, tone, vars) {
    shown = { key: key, tone: tone, vars: vars };
    render();
  }

  async function accept() {
    const token = memo || kept();
    if (!token) return;
    C.el("accept").disabled = true;
    const done = await C.api("POST", "/api/v1/staff/invites/accept", { json: { token: token }, allow401: true });
    C.el("accept").disabled = false;
    if (!done.ok) {
      const code = C.errorCode(done);
      if (["invite_invalid", "invite_expired", "invite_used", "invite_not_pending", "already_member", "role_too_high"].indexOf(code) >= 0 || done.status === 404) {
        keep(null);
        C.el("invite-panel").hidden = true;
        return show("cerr." + (code || "invite_invalid"), "error");
      }
      shown = null;
      return C.say("invite-message", C.errorText(done), "error");
    }
    keep(null);
    const body = done.body || {};
    C.el("invite-panel").hidden = true;
    show("invite.done", "success", {
      town: F.i18n.current() === "en" ? (body.name_en || body.name_ja) : body.name_ja,
      role: t("role." + body.role), email: body.email,
    });
    const link = C.el("invite-home");
    link.href = "/console/" + C.query({ email: body.email, next: "/console/home.html?town=" + encodeURIComponent(body.slug) });
    link.textContent = t("invite.signin");
    delete link.dataset.i18n;
    C.el("invite-next").hidden = false;
    link.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    const fromLink = F.util.fragmentToken();
    if (fromLink) {
      memo = fromLink;
      keep(fromLink);
      history.replaceState(null, "", location.pathname + location.search);
    }
    if (!(memo || kept())) return show("invite.no_token", "error");
    C.el("invite-panel").hidden = false;
    C.el("accept").addEventListener("click", accept);
  });
})();
