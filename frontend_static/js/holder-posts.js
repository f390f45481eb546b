// "My cards" (card.html), below the cards: the towns' announcements for the series the holder
// holds (newest first), and their polls. One card is one vote: a holder of three cards sees
// three votes, chooses an option once and applies it to the cards they tick (all by default);
// each card's vote gets a receipt, shown after voting with a copy button, to look up later on
// the poll's public page. A vote can be changed until the close when the poll allows it; a
// closed poll links to its results. Uses the page's holder session (common.js), like card.js.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const PAGE = 20;
  const KEPT_KEY = "furusato.poll-receipts";
  let news = { items: [], total: 0 };
  let polls = null; // [{…poll, cards: [...]}]
  let numbers = {}; // "contract:token_id" → the card's number (from /holders/me/cards)
  const fresh = {}; // poll id → receipts just made {key → receipt}
  const picked = {}; // poll id → {option: id, cards: {key → bool}} (kept across re-renders)
  const notes = {}; // poll id → {key, vars, tone}
  let copied = null; // the receipt last copied (its button says so)

  F.i18n.define({
    ja: {
      "hp.news": "町からのお知らせ",
      "hp.news.none": "まだお知らせはありません。",
      "hp.news.more": "前のお知らせを見る",
      "hp.news.meta": "{date} · {town}",
      "hp.polls": "投票",
      "hp.polls.intro": "町のことを、住民票をお持ちの方にたずねています。住民票1枚につき1票です。",
      "hp.status.scheduled": "受付前",
      "hp.status.open": "受付中",
      "hp.status.closed": "締め切り",
      "hp.status.cancelled": "取りやめ",
      "hp.window": "受付: {from} 〜 {to}（日本時間）",
      "hp.opens": "{from}（日本時間）から投票できます。",
      "hp.votes.one": "あなたの住民票1枚で、1票を投じられます。",
      "hp.votes.many": "あなたは住民票を{n}枚お持ちなので、{n}票あります。選んだ答えを、下でチェックした住民票それぞれの1票として投じます。",
      "hp.votes.none": "この投票では、あなたの住民票で投票できません（投票が始まったときにお持ちでなかった住民票は、投票できません）。",
      "hp.card": "No. {number}",
      "hp.card.voted": "「{option}」に投票済み",
      "hp.card.not_voted": "まだ投票していません",
      "hp.card.final": "（変更できません）",
      "hp.choose": "答えを選んでください",
      "hp.which": "どの住民票で投票しますか",
      "hp.submit.one": "投票する",
      "hp.submit.many": "{n}枚の住民票で投票する",
      "hp.submit.change": "投票を変える",
      "hp.change.note": "締め切りまでなら、投票した答えを変えられます。変えると、新しい受付番号になります。",
      "hp.final.note": "この投票は、投票したあとに答えを変えられません。",
      "hp.done.all": "投票は済んでいます。",
      "hp.sending": "投票しています…",
      "hp.voted": "投票しました（{n}票）。下の受付番号（レシート）を控えておくと、締め切りのあと、結果のページで自分の票が数えられたか確かめられます。",
      "hp.receipt": "受付番号（レシート）",
      "hp.nonce": "確かめ用の番号",
      "hp.nonce.hint": "受付番号があなたの住民票と答えの票であることを、あとで確かめるための番号です。この端末にだけ残ります。",
      "hp.copy": "控える",
      "hp.copied": "コピーしました",
      "hp.copy.failed": "コピーできませんでした。番号を長押しして選んでください。",
      "hp.results": "結果を見る",
      "hp.results.check": "結果のページで、受付番号から自分の票を確かめられます。",
      "hp.err.choose": "答えを1つ選んでください。",
      "hp.err.cards": "投票する住民票を1枚以上選んでください。",
      "hp.err.poll_not_open": "この投票は受付期間外です。",
      "hp.err.not_eligible": "この住民票では投票できません（投票が始まったときにお持ちでなかったか、返金で無効になった住民票です）。",
      "hp.err.vote_final": "この投票は、投票したあとに答えを変えられません。",
      "hp.err.option_not_found": "この答えは見つかりませんでした。ページを読み込み直してください。",
      "hp.err.poll_not_found": "この投票は見つかりませんでした。ページを読み込み直してください。",
      "hp.err.signin": "ログインの有効期限が切れました。もう一度ログインしてください。",
      "hp.err.unknown": "投票できませんでした（{code}）。",
    },
    en: {
      "hp.news": "News from the town",
      "hp.news.none": "No announcements yet.",
      "hp.news.more": "Show earlier announcements",
      "hp.news.meta": "{date} · {town}",
      "hp.polls": "Polls",
      "hp.polls.intro": "The town asks its card holders. Each card is one vote.",
      "hp.status.scheduled": "Not open yet",
      "hp.status.open": "Open",
      "hp.status.closed": "Closed",
      "hp.status.cancelled": "Cancelled",
      "hp.window": "Voting: {from} to {to} (Japan time)",
      "hp.opens": "Voting opens at {from} (Japan time).",
      "hp.votes.one": "Your card gives you one vote.",
      "hp.votes.many": "You hold {n} cards, so you have {n} votes. The answer you choose is cast as one vote for each card you tick below.",
      "hp.votes.none": "Your cards cannot vote in this poll (only cards held when the poll opened can vote).",
      "hp.card": "No. {number}",
      "hp.card.voted": "Voted “{option}”",
      "hp.card.not_voted": "Not voted yet",
      "hp.card.final": "(final)",
      "hp.choose": "Choose your answer",
      "hp.which": "Which cards vote",
      "hp.submit.one": "Vote",
      "hp.submit.many": "Vote with {n} cards",
      "hp.submit.change": "Change my vote",
      "hp.change.note": "You can change your answer until the poll closes. A changed vote gets a new receipt.",
      "hp.final.note": "In this poll a vote cannot be changed once cast.",
      "hp.done.all": "You have voted.",
      "hp.sending": "Voting…",
      "hp.voted": "Voted ({n} vote(s)). Keep the receipt below: after the close you can check on the results page that your vote was counted.",
      "hp.receipt": "Receipt",
      "hp.nonce": "Check number",
      "hp.nonce.hint": "With it you can show later that the receipt is your card's vote for your answer. Kept on this device only.",
      "hp.copy": "Copy",
      "hp.copied": "Copied",
      "hp.copy.failed": "Could not copy. Press and hold the code to select it.",
      "hp.results": "See the results",
      "hp.results.check": "On the results page you can check your vote with its receipt.",
      "hp.err.choose": "Choose one answer.",
      "hp.err.cards": "Tick at least one card to vote with.",
      "hp.err.poll_not_open": "This poll is not open for votes.",
      "hp.err.not_eligible": "This card cannot vote (it was not held when the poll opened, or it was refunded).",
      "hp.err.vote_final": "In this poll a vote cannot be changed once cast.",
      "hp.err.option_not_found": "This answer was not found. Please reload the page.",
      "hp.err.poll_not_found": "This poll was not found. Please reload the page.",
      "hp.err.signin": "Your sign-in has expired. Please sign in again.",
      "hp.err.unknown": "Could not vote ({code}).",
    },
  });

  function el(id) { return document.getElementById(id); }

  function make(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      const value = attrs[name];
      if (value === undefined || value === null || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name === "htmlFor") node.htmlFor = value;
      else if (name in node && typeof value !== "string") node[name] = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) { if (child !== null && child !== undefined) node.append(child); });
    return node;
  }

  function en() { return F.i18n.current() === "en"; }
  function pick(item, field) { return en() ? (item[field + "_en"] || item[field + "_ja"] || "") : (item[field + "_ja"] || item[field + "_en"] || ""); }

  // The page's holder session token (the same store card.js reads), or "".
  function token() {
    const saved = F.util.session();
    return saved ? saved.session_token : "";
  }

  function townName(item) {
    const town = item.town;
    if (town && typeof town === "object") return en() ? (town.name_en || town.name_ja || town.slug || "") : (town.name_ja || town.slug || "");
    return (en() ? item.town_en : item.town_ja) || item.town_name_ja || (typeof town === "string" ? town : "");
  }

  function cardKey(card) { return String(card.contract).toLowerCase() + ":" + card.token_id; }

  function cardNumber(card) {
    if (card.number !== undefined && card.number !== null) return card.number;
    const known = numbers[cardKey(card)];
    return known !== undefined ? known : card.token_id;
  }

  // ----- announcements -----

  function renderNews() {
    const box = el("announcements");
    const items = news.items.slice().sort(function (a, b) {
      return (F.util.time.ms(b.sent_at || b.send_at) || 0) - (F.util.time.ms(a.sent_at || a.send_at) || 0);
    });
    const list = make("ul", { className: "posts" }, items.map(function (item) {
      const town = townName(item);
      const date = F.util.time.jst(item.sent_at || item.send_at);
      return make("li", { className: "post", id: "announcement-" + item.id }, [
        make("article", { "aria-labelledby": "announcement-" + item.id + "-title" }, [
          make("p", { className: "muted post-meta", text: town ? t("hp.news.meta", { date: date, town: town }) : date }),
          make("h3", { id: "announcement-" + item.id + "-title", text: pick(item, "title") }),
          make("p", { className: "post-body", text: pick(item, "body") }),
        ]),
      ]);
    }));
    const parts = [make("h2", { text: t("hp.news") })];
    if (items.length) parts.push(list);
    else parts.push(make("p", { className: "muted", text: t("hp.news.none") }));
    if (news.items.length < news.total) {
      const more = make("button", { type: "button", className: "link-button", text: t("hp.news.more") });
      more.addEventListener("click", function () { loadNews(news.items.length); });
      parts.push(make("p", {}, [more]));
    }
    box.replaceChildren.apply(box, parts);
    box.hidden = false;
  }

  async function loadNews(offset) {
    const path = "/api/v1/holders/me/announcements?limit=" + PAGE + "&offset=" + offset;
    const found = await F.util.api("GET", path, { bearer: token() });
    if (!found.ok || !found.body) return;
    const items = found.body.items || [];
    news = { items: offset ? news.items.concat(items) : items, total: found.body.total !== undefined ? found.body.total : items.length };
    renderNews();
  }

  // ----- polls -----

  function optionLabel(poll, id) {
    const option = (poll.options || []).find(function (o) { return o.id === id; });
    return option ? pick(option, "label") : "";
  }

  function hasVoted(card) { return card.option_id !== null && card.option_id !== undefined; }

  function canVote(poll, card) {
    if (card.can_vote !== undefined) return !!card.can_vote;
    if (poll.status !== "open" || card.eligible === false) return false;
    const voted = card.option_id !== null && card.option_id !== undefined;
    return !voted || poll.allow_change !== false;
  }

  async function copy(text, button) {
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch (e) {
      // Plain http on a LAN address has no clipboard API: select the code instead.
      const code = button.parentNode.querySelector("code");
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
    }
    copied = ok ? text : null;
    button.textContent = t(ok ? "hp.copied" : "hp.copy");
    const status = button.parentNode.querySelector(".copy-status");
    if (status) status.textContent = ok ? t("hp.copied") : t("hp.copy.failed");
  }

  // The receipt (and, from this phone's own vote, its nonce: the server shows it once) with a
  // button that copies both, to paste into the poll page's search or keep in a note.
  function receiptLine(receipt, nonce) {
    const text = nonce ? t("hp.receipt") + ": " + receipt + "\n" + t("hp.nonce") + ": " + nonce : receipt;
    const button = make("button", { type: "button", className: "secondary small copy-button", text: t(copied === text ? "hp.copied" : "hp.copy") });
    button.addEventListener("click", function () { copy(text, button); });
    const box = make("div", { className: "receipt" }, [
      make("span", { className: "receipt-label", text: t("hp.receipt") }),
      make("code", { className: "mono receipt-code", text: receipt }),
    ]);
    if (nonce) {
      box.append(
        make("span", { className: "receipt-label", text: t("hp.nonce") }),
        make("code", { className: "mono receipt-nonce", text: nonce }),
        make("span", { className: "hint", text: t("hp.nonce.hint") }),
      );
    }
    box.append(button, make("span", { className: "copy-status visually-hidden", role: "status", "aria-live": "polite" }));
    return box;
  }

  // Receipts this phone was given, with their nonces: {poll id: {card key: {receipt, nonce}}}.
  function kept() {
    try { return JSON.parse(localStorage.getItem(KEPT_KEY) || "{}") || {}; } catch (e) { return {}; }
  }

  function keep(pollId, made) {
    const all = kept();
    all[pollId] = Object.assign(all[pollId] || {}, made);
    try { localStorage.setItem(KEPT_KEY, JSON.stringify(all)); } catch (e) { /* private mode: this visit only */ }
  }

  function cardLine(poll, card) {
    const voted = card.option_id !== null && card.option_id !== undefined;
    const mine = (fresh[poll.id] && fresh[poll.id][cardKey(card)]) || (kept()[poll.id] || {})[cardKey(card)] || null;
    const receipt = card.receipt || (mine && mine.receipt);
    // The nonce belongs to the receipt it came with (a changed vote has a new receipt).
    const nonce = mine && mine.receipt === receipt ? mine.nonce : "";
    const state = voted ? t("hp.card.voted", { option: optionLabel(poll, card.option_id) }) + (poll.allow_change === false ? " " + t("hp.card.final") : "") : t("hp.card.not_voted");
    const li = make("li", { className: "poll-card-line" + (fresh[poll.id] && fresh[poll.id][cardKey(card)] ? " fresh" : "") }, [
      make("span", { className: "poll-card-number", text: t("hp.card", { number: cardNumber(card) }) }),
      make("span", { className: voted ? "poll-card-state voted" : "poll-card-state", text: state }),
    ]);
    if (receipt) li.append(receiptLine(receipt, nonce));
    return li;
  }

  function voteForm(poll, cards) {
    const votable = cards.filter(function (card) { return canVote(poll, card); });
    const keep = picked[poll.id] || (picked[poll.id] = { option: null, cards: {} });
    const idBase = "poll-" + poll.id;
    const form = make("form", { className: "vote-form", novalidate: true });
    const choices = make("fieldset", { className: "field", "aria-describedby": idBase + "-error" }, [make("legend", { text: t("hp.choose") })]);
    const box = make("div", { className: "choices" });
    (poll.options || []).forEach(function (option) {
      const id = idBase + "-option-" + option.id;
      const input = make("input", { type: "radio", name: idBase + "-option", id: id, value: String(option.id) });
      input.checked = keep.option === option.id;
      input.addEventListener("change", function () { keep.option = option.id; });
      box.append(make("label", { className: "choice", htmlFor: id }, [input, make("span", { text: pick(option, "label") })]));
    });
    choices.append(box);
    form.append(choices);
    if (votable.length > 1) {
      const which = make("fieldset", { className: "field" }, [make("legend", { text: t("hp.which") })]);
      const list = make("div", { className: "choices" });
      votable.forEach(function (card) {
        const key = cardKey(card);
        const id = idBase + "-card-" + card.token_id;
        // Ticked at first: the cards that have not voted (all of them when every one has, to change).
        if (keep.cards[key] === undefined) keep.cards[key] = !hasVoted(card) || votable.every(hasVoted);
        const input = make("input", { type: "checkbox", id: id, value: key });
        input.checked = keep.cards[key];
        input.addEventListener("change", function () {
          keep.cards[key] = input.checked;
          button.textContent = buttonText();
        });
        list.append(make("label", { className: "choice", htmlFor: id }, [input, make("span", { text: t("hp.card", { number: cardNumber(card) }) })]));
      });
      which.append(list);
      form.append(which);
    }
    const error = make("p", { className: "field-error", id: idBase + "-error", hidden: true });
    function chosen() {
      return votable.filter(function (card) { return votable.length === 1 || keep.cards[cardKey(card)]; });
    }
    function buttonText() {
      const anyVoted = chosen().some(function (card) { return card.option_id !== null && card.option_id !== undefined; });
      const n = chosen().length;
      if (anyVoted && n <= 1) return t("hp.submit.change");
      return n > 1 ? t("hp.submit.many", { n: n }) : t("hp.submit.one");
    }
    const button = make("button", { type: "submit", className: "primary", text: buttonText() });
    form.append(error, button);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!keep.option) {
        error.hidden = false;
        error.textContent = t("hp.err.choose");
        const first = form.querySelector("input[type=radio]");
        if (first) first.focus();
        return;
      }
      const cardsToVote = chosen();
      if (!cardsToVote.length) {
        error.hidden = false;
        error.textContent = t("hp.err.cards");
        return;
      }
      vote(poll, keep.option, cardsToVote, button);
    });
    return form;
  }

  function pollCard(poll) {
    const cards = poll.cards || [];
    const id = "poll-" + poll.id;
    const badge = make("span", { className: "badge poll-status poll-status-" + poll.status, text: t("hp.status." + poll.status) });
    const card = make("article", { className: "poll-card", id: id, "aria-labelledby": id + "-question" }, [
      make("div", { className: "poll-head" }, [badge, townName(poll) ? make("span", { className: "muted", text: townName(poll) }) : null]),
      make("h3", { id: id + "-question", text: pick(poll, "question") }),
    ]);
    const description = pick(poll, "description");
    if (description) card.append(make("p", { className: "post-body", text: description }));
    card.append(make("p", { className: "muted", text: t("hp.window", { from: F.util.time.jst(poll.opens_at), to: F.util.time.jst(poll.closes_at) }) }));
    const note = notes[poll.id];
    if (note) card.append(make("p", { className: "notice" + (note.tone ? " notice-" + note.tone : ""), role: "status", text: t(note.key, note.vars) }));
    if (poll.status === "scheduled") {
      card.append(make("p", { text: t("hp.opens", { from: F.util.time.jst(poll.opens_at) }) }));
      return card;
    }
    if (poll.status === "open") {
      const eligible = cards.filter(function (c) { return c.eligible !== false; });
      card.append(make("p", { className: "poll-votes", text: !eligible.length ? t("hp.votes.none") : eligible.length === 1 ? t("hp.votes.one") : t("hp.votes.many", { n: eligible.length }) }));
    }
    if (cards.length) card.append(make("ul", { className: "poll-card-lines" }, cards.map(function (c) { return cardLine(poll, c); })));
    if (poll.status === "open") {
      const votable = cards.filter(function (c) { return canVote(poll, c); });
      if (votable.length) {
        card.append(voteForm(poll, cards));
        card.append(make("p", { className: "hint", text: t(poll.allow_change === false ? "hp.final.note" : "hp.change.note") }));
      } else if (cards.some(function (c) { return c.eligible !== false; })) {
        card.append(make("p", { text: t("hp.done.all") + (poll.allow_change === false ? " " + t("hp.final.note") : "") }));
      }
    }
    if (poll.status === "closed") {
      card.append(make("p", {}, [make("a", { className: "button primary", href: "/poll.html?id=" + encodeURIComponent(poll.id), text: t("hp.results") })]));
      if (cards.some(function (c) { return c.receipt; })) card.append(make("p", { className: "hint", text: t("hp.results.check") }));
    }
    return card;
  }

  function renderPolls() {
    const box = el("polls");
    if (!polls || !polls.length) {
      box.hidden = true;
      return;
    }
    const order = { open: 0, scheduled: 1, closed: 2, cancelled: 3 };
    const sorted = polls.slice().sort(function (a, b) {
      return (order[a.status] - order[b.status]) || (F.util.time.ms(b.closes_at) - F.util.time.ms(a.closes_at));
    });
    // Keep the focus where it was (a re-render replaces the form).
    box.replaceChildren.apply(box, [
      make("h2", { text: t("hp.polls") }),
      make("p", { className: "muted", text: t("hp.polls.intro") }),
    ].concat(sorted.map(pollCard)));
    box.hidden = false;
  }

  async function loadPolls() {
    const found = await F.util.api("GET", "/api/v1/holders/me/polls", { bearer: token() });
    if (!found.ok || !found.body) return;
    // Each item is {poll, cards}: the poll's public facts and the caller's cards in its electorate.
    polls = (found.body.items || []).map(function (item) {
      return item.poll ? Object.assign({}, item.poll, { cards: item.cards || [] }) : item;
    });
    renderPolls();
  }

  async function vote(poll, optionId, cards, button) {
    button.disabled = true;
    notes[poll.id] = { key: "hp.sending" };
    const body = { option_id: optionId, cards: cards.map(function (card) { return { contract: card.contract, token_id: card.token_id }; }) };
    const done = await F.util.api("POST", "/api/v1/polls/" + encodeURIComponent(poll.id) + "/votes", { json: body, bearer: token() });
    button.disabled = false;
    if (done.ok) {
      const made = {};
      ((done.body && done.body.votes) || []).forEach(function (v) { made[cardKey(v)] = { receipt: v.receipt, nonce: v.receipt_nonce || "" }; });
      fresh[poll.id] = made;
      keep(poll.id, made);
      notes[poll.id] = { key: "hp.voted", vars: { n: Object.keys(made).length || cards.length }, tone: "success" };
      await loadPolls();
    } else {
      const code = F.util.errorCode(done);
      if (done.status === 401) notes[poll.id] = { key: "hp.err.signin", tone: "error" };
      else if (["poll_not_open", "not_eligible", "vote_final", "option_not_found", "poll_not_found"].indexOf(code) >= 0) notes[poll.id] = { key: "hp.err." + code, tone: "error" };
      else if (done.network) notes[poll.id] = { key: "common.network", tone: "error" };
      else notes[poll.id] = { key: "hp.err.unknown", vars: { code: code || done.status }, tone: "error" };
      if (code === "poll_not_open" || code === "vote_final") await loadPolls();
      else renderPolls();
    }
    const shown = document.querySelector("#poll-" + poll.id + " .notice");
    if (shown) {
      shown.tabIndex = -1;
      shown.focus();
    }
  }

  async function loadNumbers() {
    const found = await F.util.api("GET", "/api/v1/holders/me/cards", { bearer: token() });
    if (!found.ok || !found.body) return;
    numbers = {};
    (found.body.items || []).forEach(function (card) { numbers[cardKey(card)] = card.number; });
  }

  function render() {
    if (!token()) return;
    renderNews();
    renderPolls();
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!token()) return;
    F.i18n.onChange(render);
    loadNews(0);
    // The numbers first (a card's vote line names it by its number), then the polls.
    loadNumbers().then(loadPolls);
  });
})();
