// A park's page (/parks/{id}, or park.html?id=N; the sign's QR leads here): the name it has
// now (read from the chain), its default name, the naming term and who holds the right (a
// pseudonym), photo, description, the on-chain record, and a link to the auction when one is
// open. The signed-in primary winner of the running term proposes a name here (name, reading,
// reason) and follows what the town decided: pending, rejected with a reason (propose again),
// approved.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const params = new URLSearchParams(location.search);
  const WATCH_MS = 3000;
  let parkId = "";
  let park = null;
  let session = null;
  let me = null;
  let watch = null;
  let errors = { general: null, fields: {} };
  let message = null;
  let busy = false;

  F.i18n.define({
    ja: {
      "park.default": "本来の名前（条例上の名前）: {name}",
      "park.term": "命名期間",
      "park.term.value": "{start} 〜 {end}",
      "park.holder": "命名権を持つ人",
      "park.holder.none": "いまはいません",
      "park.location": "場所",
      "park.photo.alt": "{name}の写真",
      "park.auction.open": "この公園の命名権のオークションを開催中です",
      "park.auction.scheduled": "この公園の命名権のオークションを予定しています",
      "park.state.relaying": "送信中",
      "park.state.pending": "町が確認中",
      "park.state.approved": "承認されました",
      "park.state.rejected": "見送られました",
      "park.state.failed": "受け付けられませんでした",
      "park.proposal.reading": "よみ: {reading}",
      "park.proposal.at": "提案: {at}",
      "park.proposal.reason": "見送りの理由: {reason}",
      "park.proposal.note": "町からのひとこと: {note}",
      "park.msg.pending": "提案を受け付けました。町が確認するまでお待ちください（結果はこのページに表示されます）。",
      "park.msg.rejected": "前回の提案は見送られました。別の名前で、もう一度提案できます。",
      "park.msg.approved": "承認されました。命名期間のあいだ、公園の名前は「{name}」です。",
      "park.msg.failed": "前回の提案は記録できませんでした。もう一度提案してください。",
      "park.sending": "送信中です…",
      "park.err.name": "公園の名前を入力してください（全角21文字・64バイトまで）。",
      "park.err.reading": "よみがなを入力してください。",
      "park.err.not_primary_winner": "名前を提案できるのは、命名権を落札した方だけです。",
      "park.err.name_pending": "確認中の提案があります。結果が出るまでお待ちください。",
      "park.err.name_already_approved": "この期間の名前は、すでに承認されています。",
      "park.err.outside_term": "命名期間の外のため、いまは提案できません。",
      "park.err.name_invalid": "この名前は使えません（長さや使えない文字をご確認ください）。",
      "park.err.rate_limited": "操作が続いたため、少し待ってから、もう一度お試しください。",
      "park.err.unknown": "受け付けられませんでした（{code}）。",
      "park.rec.chain": "チェーン",
      "park.rec.contract": "コントラクト",
      "park.rec.lot": "命名権の番号",
    },
    en: {
      "park.pagetitle": "Park | Furusato",
      "park.eyebrow": "Park",
      "park.loading": "Loading…",
      "park.missing": "We could not find this park.",
      "park.auction": "This park's naming right is up for auction",
      "park.auction.body": "The winner may name this park for the term (once the town has checked the name).",
      "park.naming": "Propose the park's name",
      "park.naming.body": "You won the naming right: propose the park's name for this term. The town checks it (no offensive words, no one else's trademark); once approved, it is the park's name.",
      "park.f.name": "The park's name",
      "park.f.name.hint": "e.g. ほしかわ未来の森公園",
      "park.f.reading": "Reading (in hiragana)",
      "park.f.reading.hint": "In hiragana (e.g. ほしかわみらいのもりこうえん)",
      "park.f.reason": "What the name means to you (optional)",
      "park.propose": "Propose this name",
      "park.holder_signin": "Won this park's naming right? Sign in to propose a name.",
      "park.signin": "Sign in",
      "park.record": "Record",
      "park.record.body": "The park's name and who holds the right are read from the blockchain; anyone can check them.",
      "park.explorer": "See it in a block explorer",
      "park.default": "Default (official) name: {name}",
      "park.term": "Naming term",
      "park.term.value": "{start} – {end}",
      "park.holder": "Right held by",
      "park.holder.none": "No one right now",
      "park.location": "Where",
      "park.photo.alt": "Photo of {name}",
      "park.auction.open": "This park's naming right is being auctioned now",
      "park.auction.scheduled": "An auction of this park's naming right is coming",
      "park.state.relaying": "Sending",
      "park.state.pending": "The town is checking it",
      "park.state.approved": "Approved",
      "park.state.rejected": "Not accepted",
      "park.state.failed": "Could not be recorded",
      "park.proposal.reading": "Reading: {reading}",
      "park.proposal.at": "Proposed: {at}",
      "park.proposal.reason": "Why not: {reason}",
      "park.proposal.note": "The town adds: {note}",
      "park.msg.pending": "Proposal received. Please wait for the town to check it (the answer appears on this page).",
      "park.msg.rejected": "Your last proposal was not accepted. You may propose another name.",
      "park.msg.approved": "Approved: for this term the park's name is “{name}”.",
      "park.msg.failed": "Your last proposal could not be recorded. Please propose again.",
      "park.sending": "Sending…",
      "park.err.name": "Please enter the park's name (at most 64 bytes: 21 kanji or 64 letters).",
      "park.err.reading": "Please enter the reading.",
      "park.err.not_primary_winner": "Only the winner of the naming right may propose a name.",
      "park.err.name_pending": "A proposal is being checked. Please wait for the answer.",
      "park.err.name_already_approved": "A name for this term has already been approved.",
      "park.err.outside_term": "The naming term is not running, so no name can be proposed now.",
      "park.err.name_invalid": "This name cannot be used (check its length and characters).",
      "park.err.rate_limited": "Many tries in a row: please wait a little and try again.",
      "park.err.unknown": "This was refused ({code}).",
      "park.rec.chain": "Chain",
      "park.rec.contract": "Contract",
      "park.rec.lot": "Naming right no.",
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

  // The name to show: the chain's current name; in English the park's English name while it
  // carries its default name.
  function shownName() {
    if (!park) return "";
    if (en() && park.current_name === park.default_name && park.name_en) return park.name_en;
    return park.current_name || park.default_name;
  }

  // The winner's proposals for the term, newest first.
  function proposals() {
    const list = me && Array.isArray(me.proposals) ? me.proposals.slice() : [];
    return list.sort(function (x, y) { return y.id - x.id; });
  }

  function latest() { return proposals()[0] || null; }

  function rejectText(p) {
    const reason = p.reject_reason;
    if (!reason || typeof reason !== "object") return "";
    return en() ? (reason.label_en || reason.label_ja || "") : (reason.label_ja || "");
  }

  function renderPark() {
    const name = el("park-name");
    delete name.dataset.i18n;
    name.textContent = shownName();
    document.title = shownName() + (en() ? " | Furusato" : " | ふるさと");
    const renamed = park.current_name && park.current_name !== park.default_name;
    el("park-reading").hidden = !(renamed && park.current_reading);
    el("park-reading").textContent = renamed && park.current_reading ? park.current_reading : "";
    el("park-default").hidden = !renamed;
    el("park-default").textContent = renamed ? t("park.default", { name: en() && park.name_en ? park.default_name + " (" + park.name_en + ")" : park.default_name }) : "";
    const photo = el("park-photo");
    if (/^data:image\/(png|jpeg|webp);base64,/.test(park.photo_data_url || "")) {
      photo.src = park.photo_data_url;
      photo.alt = t("park.photo.alt", { name: park.default_name });
      photo.hidden = false;
    }
    el("park-description").textContent = en() ? (park.description_en || park.description_ja || "") : (park.description_ja || "");
    const facts = el("park-facts");
    facts.replaceChildren();
    if (park.term_start && park.term_end) {
      facts.append(node("dt", "", t("park.term")),
        node("dd", "", t("park.term.value", { start: F.util.time.date(park.term_start), end: F.util.time.date(park.term_end) })));
    }
    const holder = park.holder ? (en() ? park.holder.replace(/^保有者\s*/, "Holder ") : park.holder) : t("park.holder.none");
    facts.append(node("dt", "", t("park.holder")), node("dd", "", holder));
    if (park.location_ja) facts.append(node("dt", "", t("park.location")), node("dd", "", park.location_ja));
    facts.hidden = false;
    el("back-link").href = "/?town=" + encodeURIComponent(park.municipality || "");

    const auction = el("auction-link");
    auction.hidden = !park.auction_lot_id;
    if (park.auction_lot_id) {
      auction.href = "/lots/" + encodeURIComponent(park.auction_lot_id);
      const title = el("auction-title");
      if (park.auction_status === "scheduled" || park.auction_status === "open") {
        delete title.dataset.i18n;
        title.textContent = t("park.auction." + park.auction_status);
      }
    }
    renderRecord();
  }

  function renderRecord() {
    const chain = park.chain || {};
    const list = el("record-list");
    list.replaceChildren();
    el("record").hidden = !chain.contract;
    [["park.rec.chain", chain.chain_id], ["park.rec.contract", chain.contract], ["park.rec.lot", chain.lot_id]].forEach(function (row) {
      if (row[1] === null || row[1] === undefined || row[1] === "") return;
      list.append(node("dt", "", t(row[0])), node("dd", row[0] === "park.rec.contract" ? "mono" : "", String(row[1])));
    });
    const explorer = el("explorer-link");
    explorer.hidden = !chain.explorer_url || !/^https?:\/\//.test(chain.explorer_url);
    if (!explorer.hidden) explorer.href = chain.explorer_url;
  }

  function proposalItem(p) {
    const li = node("li", "proposal");
    li.append(
      node("span", "badge badge-proposal-" + p.state, t("park.state." + p.state)),
      node("p", "proposal-name", p.name),
    );
    if (p.reading) li.append(node("p", "muted", t("park.proposal.reading", { reading: p.reading })));
    if (p.proposed_at) li.append(node("p", "hint", t("park.proposal.at", { at: F.util.time.jst(p.proposed_at) })));
    if (p.state === "rejected") {
      const reason = rejectText(p);
      if (reason) li.append(node("p", "", t("park.proposal.reason", { reason: reason })));
      if (p.reject_note) li.append(node("p", "", t("park.proposal.note", { note: p.reject_note })));
    }
    return li;
  }

  function renderNaming() {
    const winner = !!(me && me.is_primary_winner);
    el("naming-section").hidden = !winner;
    const signinHint = el("holder-signin");
    signinHint.hidden = !!session || !park || !park.holder;
    el("holder-signin-link").href = "/signin.html?" + new URLSearchParams({ next: location.pathname + location.search }).toString();
    if (!winner) return;
    el("proposals").replaceChildren.apply(el("proposals"), proposals().map(proposalItem));
    const last = latest();
    const waiting = last && (last.state === "relaying" || last.state === "pending");
    const approved = proposals().some(function (p) { return p.state === "approved"; });
    el("propose-form").hidden = waiting || approved;
    el("naming-intro").hidden = approved;
    const box = el("naming-message");
    let key = null;
    let tone = "";
    if (approved) { key = "park.msg.approved"; tone = "success"; }
    else if (waiting) key = "park.msg.pending";
    else if (last && last.state === "rejected") key = "park.msg.rejected";
    else if (last && last.state === "failed") key = "park.msg.failed";
    if (message && !key) { key = message.key; tone = message.tone || ""; }
    const approvedOne = proposals().filter(function (p) { return p.state === "approved"; })[0];
    box.hidden = !key;
    box.className = "notice" + (tone ? " notice-" + tone : "");
    box.textContent = key ? t(key, { name: approvedOne ? approvedOne.name : "" }) : "";
    renderErrors();
  }

  function renderErrors() {
    const general = el("propose-error");
    general.hidden = !errors.general;
    general.textContent = errors.general ? t(errors.general.key, errors.general.vars) : "";
    ["name", "reading", "reason"].forEach(function (name) {
      const shown = errors.fields[name];
      el(name + "-error").hidden = !shown;
      el(name + "-error").textContent = shown ? t(shown) : "";
      if (shown) el(name).setAttribute("aria-invalid", "true");
      else el(name).removeAttribute("aria-invalid");
    });
  }

  function render() {
    if (!park) return;
    renderPark();
    renderNaming();
  }

  async function loadPark() {
    const found = await F.util.api("GET", "/api/v1/parks/" + encodeURIComponent(parkId));
    if (found.ok) {
      park = found.body;
      render();
    }
    return found;
  }

  async function loadMe() {
    if (!session || !park || !park.lot_id) return;
    const found = await F.util.api("GET", "/api/v1/lots/" + encodeURIComponent(park.lot_id) + "/me", { bearer: session.session_token });
    if (found.status === 401) {
      F.util.session(null);
      session = null;
      me = null;
      return render();
    }
    if (!found.ok) return;
    const before = latest();
    me = found.body;
    const after = latest();
    render();
    // A decision arrived (or the relay finished): the park's name may have changed.
    if (before && after && before.state !== after.state) loadPark();
    const waiting = after && (after.state === "relaying" || after.state === "pending");
    clearTimeout(watch);
    if (waiting) watch = setTimeout(loadMe, WATCH_MS);
  }

  function refusal(result) {
    if (result.network) return { key: "common.network" };
    const code = F.util.errorCode(result);
    if (result.status === 429) return { key: "park.err.rate_limited" };
    if (["not_primary_winner", "name_pending", "name_already_approved", "outside_term", "name_invalid"].indexOf(code) >= 0) {
      return { key: "park.err." + code };
    }
    if (result.status >= 500) return { key: "common.server" };
    return { key: "park.err.unknown", vars: { code: code || result.status } };
  }

  async function propose(event) {
    event.preventDefault();
    if (busy) return;
    const body = { name: el("name").value.trim(), reading: el("reading").value.trim() };
    const reason = el("reason").value.trim();
    if (reason) body.reason = reason;
    errors = { general: null, fields: {} };
    if (!body.name || new TextEncoder().encode(body.name).length > 64) errors.fields.name = "park.err.name";
    if (!body.reading) errors.fields.reading = "park.err.reading";
    renderErrors();
    const first = ["name", "reading"].find(function (name) { return errors.fields[name]; });
    if (first) return el(first).focus();
    busy = true;
    el("propose-submit").disabled = true;
    el("propose-status").textContent = t("park.sending");
    const made = await F.util.api("POST", "/api/v1/lots/" + encodeURIComponent(park.lot_id) + "/name-proposals", {
      json: body, bearer: session.session_token,
    });
    busy = false;
    el("propose-submit").disabled = false;
    el("propose-status").textContent = "";
    if (made.status === 401) {
      F.util.session(null);
      session = null;
      me = null;
      return render();
    }
    if (!made.ok) {
      if (made.status === 422) {
        const detail = (made.body && made.body.detail) || [];
        (Array.isArray(detail) ? detail : []).forEach(function (problem) {
          const name = Array.isArray(problem.loc) ? problem.loc[problem.loc.length - 1] : "";
          if (name === "name" || name === "reading") errors.fields[name] = "park.err." + name;
        });
        errors.general = Object.keys(errors.fields).length ? null : refusal(made);
        if (!errors.general && !Object.keys(errors.fields).length) errors.general = { key: "park.err.name_invalid" };
      } else {
        errors.general = refusal(made);
      }
      renderErrors();
      return el(Object.keys(errors.fields)[0] || "propose-error").focus();
    }
    el("name").value = "";
    el("reading").value = "";
    el("reason").value = "";
    await loadMe();
    el("naming-message").focus();
  }

  function missing(network) {
    const name = el("park-name");
    delete name.dataset.i18n;
    name.textContent = "";
    if (network) {
      delete el("park-missing").dataset.i18n;
      el("park-missing").textContent = t("common.network");
    }
    el("park-missing").hidden = false;
  }

  function idFromPage() {
    const fromPath = /^\/parks\/(\d+)\/?$/.exec(location.pathname);
    if (fromPath) return fromPath[1];
    const fromQuery = params.get("id") || "";
    return /^\d+$/.test(fromQuery) ? fromQuery : "";
  }

  async function load() {
    parkId = idFromPage();
    if (!parkId) return missing(false);
    const found = await loadPark();
    if (!found.ok) return missing(found.network);
    loadMe();
  }

  document.addEventListener("DOMContentLoaded", function () {
    session = F.util.session();
    F.i18n.onChange(render);
    el("propose-form").addEventListener("submit", propose);
    ["name", "reading", "reason"].forEach(function (name) {
      el(name).addEventListener("input", function () {
        if (errors.fields[name]) { delete errors.fields[name]; renderErrors(); }
      });
    });
    load();
  });
})();
