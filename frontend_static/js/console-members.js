// Members and invites of the town (owners): invite by e-mail with a role (the mail holds a
// one-time link, 7 days), change a member's role, remove a member, withdraw an invite. The
// server refuses a role above the inviter's own and removing the last owner; the page says so
// in words.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const ROLES = ["owner", "editor", "moderator", "analyst", "verifier"];
  let members = [];
  let invites = [];
  let errors = {};

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function roleSelect(id, chosen) {
    const select = C.make("select", { id: id });
    ROLES.forEach(function (role) { select.append(C.make("option", { value: role, text: t("role." + role), selected: role === chosen })); });
    return select;
  }

  function memberRow(member) {
    const me = C.state().me;
    const mine = me && me.email === member.email;
    const selectId = "role-" + member.staff_id;
    const select = roleSelect(selectId, member.role);
    const save = C.make("button", { type: "button", className: "secondary small", text: t("members.change_role") });
    save.addEventListener("click", async function () {
      if (select.value === member.role) return;
      const yes = await C.confirm(t("members.change_role.title"), t("members.change_role.body", { email: member.email, from: t("role." + member.role), to: t("role." + select.value) }), t("members.change_role"));
      if (!yes) { select.value = member.role; return; }
      save.disabled = true;
      const done = await C.townApi("PATCH", "members/" + member.staff_id, { json: { role: select.value } });
      save.disabled = false;
      if (!done.ok) { select.value = member.role; return C.say("members-message", C.errorText(done), "error"); }
      C.say("members-message", t("members.role_changed", { email: member.email, role: t("role." + select.value) }), "success");
      load();
    });
    const remove = C.make("button", { type: "button", className: "secondary small", text: t("members.remove") });
    remove.addEventListener("click", async function () {
      const yes = await C.confirm(t("members.remove.title"), t(mine ? "members.remove.self" : "members.remove.body", { email: member.email }), t("members.remove"));
      if (!yes) return;
      remove.disabled = true;
      const done = await C.townApi("DELETE", "members/" + member.staff_id);
      remove.disabled = false;
      if (!done.ok) return C.say("members-message", C.errorText(done), "error");
      if (mine) { location.replace("/console/home.html"); return; }
      C.say("members-message", t("members.removed", { email: member.email }), "success");
      load();
    });
    return C.make("tr", {}, [
      cell(t("col.email"), [member.email, mine ? C.make("span", { className: "muted", text: " " + t("members.you") }) : null]),
      cell(t("col.role"), [C.make("label", { htmlFor: selectId, className: "visually-hidden", text: t("members.role_of", { email: member.email }) }), select]),
      cell(t("col.since"), [C.time.format(member.since)]),
      cell(t("col.actions"), [C.make("div", { className: "row-actions" }, [save, remove])], "wide"),
    ]);
  }

  function inviteRow(invite) {
    const revoke = C.make("button", { type: "button", className: "secondary small", text: t("members.revoke") });
    revoke.addEventListener("click", async function () {
      const yes = await C.confirm(t("members.revoke.title"), t("members.revoke.body", { email: invite.email }), t("members.revoke"));
      if (!yes) return;
      revoke.disabled = true;
      const done = await C.townApi("DELETE", "invites/" + invite.id);
      revoke.disabled = false;
      if (!done.ok) return C.say("members-message", C.errorText(done), "error");
      C.say("members-message", t("members.revoked", { email: invite.email }), "success");
      load();
    });
    return C.make("tr", {}, [
      cell(t("col.email"), [invite.email]),
      cell(t("col.role"), [t("role." + invite.role)]),
      cell(t("col.expires"), [C.time.format(invite.expires_at)]),
      cell(t("col.actions"), [revoke], "wide"),
    ]);
  }

  function render() {
    C.el("members-rows").replaceChildren.apply(C.el("members-rows"), members.map(memberRow));
    C.el("members-table").hidden = members.length === 0;
    const pending = invites.filter(function (invite) { return !invite.status || invite.status === "pending"; });
    C.el("invites-rows").replaceChildren.apply(C.el("invites-rows"), pending.map(inviteRow));
    C.el("invites-table").hidden = pending.length === 0;
    C.el("invites-empty").hidden = pending.length !== 0;
    const select = C.el("invite-role");
    const chosen = select.value || "editor";
    select.replaceChildren.apply(select, ROLES.map(function (role) { return C.make("option", { value: role, text: t("role." + role) }); }));
    select.value = chosen;
    C.el("invite-role-hint").textContent = t("role." + select.value + ".about");
    ["invite-email", "invite-role"].forEach(function (name) { C.fieldMessage(name, errors[name] ? t(errors[name]) : ""); });
  }

  async function load() {
    const found = await C.townApi("GET", "members", { query: { limit: 100 } });
    if (!found.ok) return C.fail(found);
    members = found.body.items;
    const open = await C.townApi("GET", "invites", { query: { limit: 100 } });
    invites = open.ok ? open.body.items : [];
    render();
  }

  async function invite(event) {
    event.preventDefault();
    const email = C.el("invite-email").value.trim();
    const role = C.el("invite-role").value;
    errors = {};
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) errors["invite-email"] = "v.email";
    render();
    if (errors["invite-email"]) return C.el("invite-email").focus();
    C.el("invite-submit").disabled = true;
    const done = await C.townApi("POST", "invites", { json: { email: email, role: role } });
    C.el("invite-submit").disabled = false;
    if (!done.ok) {
      const named = C.fieldErrors(done);
      if (named.email) errors["invite-email"] = "v.email";
      const reason = C.errorCode(done);
      if (reason === "already_member") errors["invite-email"] = "cerr.already_member";
      if (reason === "role_too_high") errors["invite-role"] = "cerr.role_too_high";
      render();
      if (Object.keys(errors).length) return C.el(Object.keys(errors)[0]).focus();
      return C.say("invite-error", C.errorText(done), "error");
    }
    C.say("invite-error", "");
    C.el("invite-email").value = "";
    C.say("members-message", t("members.invited", { email: email, role: t("role." + role) }), "success");
    load();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("members", function () {
      C.el("invite-form").addEventListener("submit", invite);
      C.el("invite-submit").disabled = false;
      C.el("invite-role").addEventListener("change", function () { errors["invite-role"] = null; render(); });
      C.el("invite-email").addEventListener("input", function () { if (errors["invite-email"]) { errors["invite-email"] = null; render(); } });
      F.i18n.onChange(render);
      load();
    }, ["owner"]);
  });
})();
