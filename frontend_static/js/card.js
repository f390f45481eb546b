// "My cards" (card.html): the signed-in holder's cards from GET /holders/me/cards, each with its
// image and number, and for cards we keep in custody a form to move it to the holder's wallet.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  let session = null;
  let cards = null;
  let message = null; // {key, vars, tone}
  const moveErrors = {}; // token_id → message key

  F.i18n.define({
    ja: {
      "cards.signedin": "{email} でログイン中",
      "cards.none": "まだ住民票がありません。町のページからお求めいただけます。",
      "cards.count": "{total}枚の住民票をお持ちです。",
      "cards.status.minted": "発行済み",
      "cards.status.minting": "発行中",
      "cards.alt": "{town} デジタル住民票 No. {number} のカード画像",
      "cards.kept": "ふるさとでお預かりしています。",
      "cards.own": "あなたのウォレットにあります。",
      "cards.move": "自分のウォレットへ移す",
      "cards.move.address": "移し先のウォレットのアドレス",
      "cards.move.submit": "移す",
      "cards.move.note": "移したあとは、ご自身のウォレットで管理していただきます（元には戻せません）。",
      "cards.moved": "No. {number} をあなたのウォレットへ移しました。",
      "cards.err.address": "アドレスの形式が正しくありません（0xから始まる42文字）。",
      "cards.err.not_in_custody": "このカードは、すでにお預かりしていません。",
      "cards.err.not_minted": "発行が完了してから移せます。少しお待ちください。",
      "cards.err.unknown": "移せませんでした（{code}）。",
    },
    en: {
      "cards.pagetitle": "My cards | Furusato",
      "cards.heading": "My cards",
      "cards.signedout": "Sign in with the email address you bought with to see your cards.",
      "cards.signin": "Sign in",
      "cards.signout": "Sign out",
      "cards.loading": "Loading…",
      "cards.signedin": "Signed in as {email}",
      "cards.none": "No cards yet. You can get one on a town's page.",
      "cards.count": "You hold {total} card(s).",
      "cards.status.minted": "Issued",
      "cards.status.minting": "Issuing",
      "cards.alt": "{town} digital resident card No. {number}",
      "cards.kept": "Kept safe for you by Furusato.",
      "cards.own": "In your own wallet.",
      "cards.move": "Move to my wallet",
      "cards.move.address": "Your wallet address",
      "cards.move.submit": "Move",
      "cards.move.note": "After the move, the card is in your own wallet and you look after it (this cannot be undone).",
      "cards.moved": "Moved No. {number} to your wallet.",
      "cards.err.address": "This is not a valid address (0x followed by 40 characters).",
      "cards.err.not_in_custody": "We no longer keep this card.",
      "cards.err.not_minted": "You can move it once it is issued. Please wait a little.",
      "cards.err.unknown": "Could not move the card ({code}).",
    },
  });

  function el(id) { return document.getElementById(id); }

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function moveForm(card) {
    const details = node("details", "move");
    details.append(node("summary", "", t("cards.move")));
    const form = node("form");
    form.noValidate = true;
    const id = "to-" + card.token_id;
    const label = node("label", "", t("cards.move.address"));
    label.htmlFor = id;
    const input = node("input");
    Object.assign(input, { id: id, name: "to_address", type: "text", autocomplete: "off", spellcheck: false });
    input.placeholder = "0x…";
    const error = node("p", "field-error", moveErrors[card.token_id] ? t(moveErrors[card.token_id]) : "");
    error.id = id + "-error";
    error.hidden = !moveErrors[card.token_id];
    input.setAttribute("aria-describedby", error.id);
    if (moveErrors[card.token_id]) {
      input.setAttribute("aria-invalid", "true");
      details.open = true;
    }
    const button = node("button", "primary", t("cards.move.submit"));
    button.type = "submit";
    form.append(node("p", "hint", t("cards.move.note")), label, input, error, button);
    form.addEventListener("submit", function (event) { move(event, card, input, button); });
    details.append(form);
    return details;
  }

  function cardItem(card, lang) {
    const en = lang === "en";
    const town = en ? card.town_en : card.town_ja;
    const li = node("li", "card-item");
    const img = node("img");
    img.src = card.image_url;
    img.alt = t("cards.alt", { town: town, number: card.number });
    img.width = 320;
    const badge = node("span", "badge badge-" + card.status, t("cards.status." + card.status));
    li.append(
      img,
      node("p", "number", t("card.number", { number: card.number })),
      badge,
      node("p", "card-town", town),
      node("p", "muted", en ? card.title_en : card.title_ja),
      node("p", "muted", t(card.custodial ? "cards.kept" : "cards.own")),
    );
    if (card.custodial && card.status === "minted") li.append(moveForm(card));
    return li;
  }

  function render(lang) {
    el("signed-out").hidden = !!session;
    el("signed-in").hidden = !session;
    if (!session) return;
    el("signed-in-as").textContent = t("cards.signedin", { email: session.email || "" });
    const shown = el("cards-message");
    if (message || cards) {
      delete shown.dataset.i18n;
      const text = message ? t(message.key, message.vars)
        : t(cards.items.length ? "cards.count" : "cards.none", { total: cards.total });
      shown.textContent = text;
      shown.className = "notice" + (message && message.tone ? " notice-" + message.tone : "");
    }
    if (cards) el("cards").replaceChildren.apply(el("cards"), cards.items.map(function (c) { return cardItem(c, lang); }));
  }

  function signOut() {
    F.util.session(null);
    session = null;
    render(F.i18n.current());
  }

  async function load() {
    const result = await F.util.api("GET", "/api/v1/holders/me/cards", { bearer: session.session_token });
    if (result.status === 401) return signOut();
    if (!result.ok) {
      message = { key: result.network ? "common.network" : "common.server", tone: "error" };
    } else {
      cards = result.body;
    }
    render(F.i18n.current());
  }

  async function move(event, card, input, button) {
    event.preventDefault();
    const address = input.value.trim();
    if (!/^0x[0-9a-fA-F]{40}$/.test(address)) {
      moveErrors[card.token_id] = "cards.err.address";
      render(F.i18n.current());
      document.getElementById("to-" + card.token_id).focus();
      return;
    }
    button.disabled = true;
    const path = "/api/v1/holders/me/cards/" + encodeURIComponent(card.token_id) + "/move";
    const result = await F.util.api("POST", path, { json: { to_address: address }, bearer: session.session_token });
    button.disabled = false;
    if (result.status === 401) return signOut();
    delete moveErrors[card.token_id];
    const code = F.util.errorCode(result);
    if (result.ok) {
      message = { key: "cards.moved", vars: { number: card.number }, tone: "success" };
      await load();
      return;
    }
    if (result.status === 422) moveErrors[card.token_id] = "cards.err.address";
    else if (code === "not_in_custody" || code === "not_minted") moveErrors[card.token_id] = "cards.err." + code;
    else message = { key: result.network ? "common.network" : "cards.err.unknown", vars: { code: code || result.status }, tone: "error" };
    render(F.i18n.current());
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    el("sign-out").addEventListener("click", signOut);
    session = F.util.session();
    render(F.i18n.current());
    if (session) load();
  });
})();
