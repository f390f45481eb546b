// A poll's public page (poll.html?id=N): the question, the options, the window and the status;
// after the close the results (votes per option, turnout, whether the quorum was met), the
// ballot file, how to recount it yourself with scripts/recount_poll.py, and a search box that
// finds a receipt in the ballot file. The file is read and its hash chain recomputed in this
// browser (format furusato-ballots-1, docs/polls.md), so the page does not ask anyone to
// trust the server's tally; a receipt typed here is never sent anywhere.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const pollId = new URLSearchParams(location.search).get("id") || "";
  const REFRESH_MS = 30000; // while open: the status (and the close) without a reload
  let poll = null;
  let results = null;
  let town = null; // {slug, name_ja, name_en}
  let ballots = null; // {text, votes: [{card, contract, token_id, choice, receipt, hash, line, n}], head, ok, problem}
  let problem = null; // "missing" | "network"
  let search = null; // {key, vars, tone}
  let timer = null;

  F.i18n.define({
    ja: {
      "pp.loading": "読み込み中…",
      "pp.eyebrow": "住民票をお持ちの方の投票",
      "pp.eyebrow.town": "{town} · 住民票をお持ちの方の投票",
      "pp.missing": "この投票は見つかりませんでした。アドレスをお確かめください。",
      "pp.network": "読み込めませんでした。接続を確かめて、ページを読み込み直してください。",
      "pp.status": "状態",
      "pp.status.scheduled": "受付前",
      "pp.status.open": "受付中",
      "pp.status.closed": "締め切り",
      "pp.window": "受付期間（日本時間）",
      "pp.window.value": "{from} 〜 {to}",
      "pp.who": "投票できる住民票",
      "pp.who.all": "この町のすべての住民票（投票の始まりの時点で持っていた方）",
      "pp.who.series": "{series}（投票の始まりの時点で持っていた方）",
      "pp.electorate": "投票できる枚数",
      "pp.electorate.value": "{n}枚（1枚につき1票）",
      "pp.quorum": "成立の条件",
      "pp.quorum.value": "投票率 {percent}% 以上",
      "pp.quorum.none": "なし（何票でも成立）",
      "pp.change": "投票のやり直し",
      "pp.change.yes": "締め切りまで変えられます",
      "pp.change.no": "変えられません",
      "pp.open.note": "投票は「マイ住民票」のページからできます。選択肢ごとの票数は、締め切りまでだれにも（町の職員にも）見えません。",
      "pp.scheduled.note": "投票は {from}（日本時間）に始まります。",
      "pp.vote": "マイ住民票で投票する",
      "pp.options": "選択肢",
      "pp.results": "結果",
      "pp.votes": "{n}票",
      "pp.share": "{percent}",
      "pp.turnout": "投票率",
      "pp.turnout.value": "{percent}（{votes} / {eligible}枚）",
      "pp.revoked": "返金で無効になった住民票",
      "pp.revoked.value": "{n}枚（数えていません）",
      "pp.closed_at": "締め切った日時",
      "pp.met": "成立しました。投票率が、成立に必要な {percent}% に届きました。",
      "pp.met.none": "成立の条件はありません。",
      "pp.not_met": "成立しませんでした。投票率が、成立に必要な {percent}% に届きませんでした（結果は参考です）。",
      "pp.ballots": "投票の記録",
      "pp.ballots.intro": "1票ずつ（住民票・選んだ答え・受付番号）を順に並べ、前の行の指紋（ハッシュ）でつないだファイルです。1行でも書き換えると、その先の指紋がすべて合わなくなります。",
      "pp.ballots.download": "投票の記録をダウンロード",
      "pp.check.ok": "✓ このブラウザーで記録を数え直しました。票数と指紋のつながりは、発表された結果と同じです。",
      "pp.check.bad": "✗ 記録を数え直すと、発表された結果と合いません（{what}）。",
      "pp.check.bad.head": "最後の指紋",
      "pp.check.bad.chain": "指紋のつながり（{n}行目）",
      "pp.check.bad.count": "票数",
      "pp.check.bad.format": "ファイルの形式",
      "pp.check.none": "このブラウザーでは数え直せません（https のページとして開くと数え直せます）。下の手順で、ご自分のパソコンで数え直せます。",
      "pp.check.loading": "記録を読み込んで、数え直しています…",
      "pp.search.label": "受付番号（レシート）で自分の票を確かめる",
      "pp.search.button": "確かめる",
      "pp.search.hint": "「マイ住民票」で投票したときに表示された受付番号です。照らし合わせはこのブラウザーの中だけで行い、番号はどこにも送りません。",
      "pp.search.empty": "受付番号（64文字の英数字）を入れてください。",
      "pp.search.found": "見つかりました。記録の {n} 番目の票です: 住民票 {card}、答え「{choice}」。この票は数えられています。",
      "pp.search.bound": "確かめ用の番号とも一致しました: この受付番号は、この住民票の「{choice}」への票です。",
      "pp.search.unbound": "確かめ用の番号が、この受付番号と合いません。番号をお確かめください。",
      "pp.search.missing": "この受付番号は記録にありません。投票を変えた場合は、最後に表示された受付番号でお確かめください。返金された住民票の票は数えません。",
      "pp.search.wait": "記録を読み込んでいます。少し待ってから、もう一度押してください。",
      "pp.recount": "自分で数え直すには",
      "pp.recount.intro": "Python 3 があれば、だれでも町のサーバーを信じずに数え直せます。ふるさとのソースコードにある scripts/recount_poll.py（1つのファイルで、Python の標準ライブラリだけで動きます。どこにでもコピーして使えます）で、記録のファイルを数え直し、指紋のつながりと発表された結果を確かめます。",
      "pp.recount.outro": "結果がこのページの数と同じで、最後の指紋が下の値と同じなら、記録は公開されたときのままです。",
      "pp.recount.mine": "自分の票も確かめるとき（受付番号と、確かめ用の番号を入れて）",
      "pp.recount.receipt": "受付番号",
      "pp.recount.nonce": "確かめ用の番号",
      "pp.recount.head": "最後の指紋（head）",
      "pp.recount.block": "投票の始まりのブロック",
      "pp.recount.format": "形式",
    },
    en: {
      "pp.pagetitle": "Poll | Furusato",
      "pp.loading": "Loading…",
      "pp.eyebrow": "A poll of card holders",
      "pp.eyebrow.town": "{town} · a poll of card holders",
      "pp.missing": "We could not find this poll. Please check the address.",
      "pp.network": "Could not load. Check your connection and reload the page.",
      "pp.facts": "About this poll",
      "pp.status": "Status",
      "pp.status.scheduled": "Not open yet",
      "pp.status.open": "Open",
      "pp.status.closed": "Closed",
      "pp.window": "Voting (Japan time)",
      "pp.window.value": "{from} to {to}",
      "pp.who": "Who votes",
      "pp.who.all": "Every card of the town (held when the poll opened)",
      "pp.who.series": "{series} (held when the poll opened)",
      "pp.electorate": "Cards that may vote",
      "pp.electorate.value": "{n} (one vote each)",
      "pp.quorum": "Quorum",
      "pp.quorum.value": "Turnout of at least {percent}%",
      "pp.quorum.none": "None (any turnout stands)",
      "pp.change": "Changing a vote",
      "pp.change.yes": "Allowed until the close",
      "pp.change.no": "Not allowed",
      "pp.open.note": "Vote on your “My cards” page. Nobody (town staff neither) sees the votes per option before the close.",
      "pp.scheduled.note": "Voting opens at {from} (Japan time).",
      "pp.vote": "Vote on My cards",
      "pp.options": "Options",
      "pp.results": "Results",
      "pp.votes": "{n} vote(s)",
      "pp.share": "{percent}",
      "pp.turnout": "Turnout",
      "pp.turnout.value": "{percent} ({votes} / {eligible} cards)",
      "pp.revoked": "Cards refunded",
      "pp.revoked.value": "{n} (not counted)",
      "pp.closed_at": "Closed at",
      "pp.met": "The result stands: turnout reached the quorum of {percent}%.",
      "pp.met.none": "No quorum was set.",
      "pp.not_met": "The result does not stand: turnout fell short of the quorum of {percent}% (it is advisory).",
      "pp.ballots": "Ballot file",
      "pp.ballots.intro": "Every vote (card, answer, receipt) in order, each line chained to the one before by its hash. Changing any line breaks every hash after it.",
      "pp.ballots.download": "Download the ballot file",
      "pp.check.ok": "✓ Recounted in this browser: the counts and the hash chain match the published result.",
      "pp.check.bad": "✗ Recounting the file does not match the published result ({what}).",
      "pp.check.bad.head": "the last hash",
      "pp.check.bad.chain": "the hash chain (line {n})",
      "pp.check.bad.count": "the counts",
      "pp.check.bad.format": "the file's format",
      "pp.check.none": "This browser cannot recount here (open the page over https). Recount on your computer with the steps below.",
      "pp.check.loading": "Reading and recounting the file…",
      "pp.search.label": "Check your vote by its receipt",
      "pp.search.button": "Check",
      "pp.search.hint": "The receipt “My cards” showed when you voted. It is looked up in this browser only, never sent.",
      "pp.search.empty": "Enter a receipt (64 letters and digits).",
      "pp.search.found": "Found: vote {n} of the file, card {card}, answer “{choice}”. It is counted.",
      "pp.search.bound": "The check number matches too: this receipt is this card's vote for “{choice}”.",
      "pp.search.unbound": "The check number does not match this receipt. Please check it.",
      "pp.search.missing": "This receipt is not in the file. If you changed your vote, use the last receipt you were shown. Refunded cards' votes are not counted.",
      "pp.search.wait": "Still reading the file. Try again in a moment.",
      "pp.recount": "Recount it yourself",
      "pp.recount.intro": "With Python 3 anyone can recount without trusting the town's server: scripts/recount_poll.py in Furusato's source code (one file, standard library only: copy it anywhere) recounts the file and checks its hash chain and the published results.",
      "pp.recount.outro": "If its counts are this page's and its last hash is the one below, the file is as published.",
      "pp.recount.mine": "to check your own vote too (your receipt and its check number)",
      "pp.recount.receipt": "RECEIPT",
      "pp.recount.nonce": "CHECK_NUMBER",
      "pp.recount.head": "Last hash (head)",
      "pp.recount.block": "Block at the opening",
      "pp.recount.format": "Format",
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
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) { if (child !== null && child !== undefined) node.append(child); });
    return node;
  }

  function en() { return F.i18n.current() === "en"; }
  function pick(item, field) { return en() ? (item[field + "_en"] || item[field + "_ja"] || "") : (item[field + "_ja"] || item[field + "_en"] || ""); }
  function count(n) { return Number(n || 0).toLocaleString("ja-JP"); }
  function percent(value) { return (Math.round(Number(value || 0) * 10) / 10).toLocaleString("ja-JP") + "%"; }

  function townName() {
    if (!town) return poll ? poll.municipality : "";
    return en() ? (town.name_en || town.name_ja) : town.name_ja;
  }

  function optionByPosition(position) {
    return ((poll && poll.options) || []).find(function (option) { return option.position === position; }) || null;
  }

  function ballotsUrl() {
    return (poll && poll.ballots_url) || (results && results.ballots_url) || "/api/v1/polls/" + encodeURIComponent(pollId) + "/ballots.txt";
  }

  // ----- drawing -----

  function fact(list, term, value) {
    list.append(make("dt", { text: term }), make("dd", {}, [typeof value === "string" ? document.createTextNode(value) : value]));
  }

  function renderFacts() {
    const list = el("facts");
    list.replaceChildren();
    fact(list, t("pp.status"), make("span", { className: "badge poll-status poll-status-" + poll.status, text: t("pp.status." + poll.status) }));
    fact(list, t("pp.window"), t("pp.window.value", { from: F.util.time.jst(poll.opens_at), to: F.util.time.jst(poll.closes_at) }));
    const series = (poll.series || []).map(function (s) { return pick(s, "title"); }).join("、");
    fact(list, t("pp.who"), series ? t("pp.who.series", { series: series }) : t("pp.who.all"));
    if (poll.electorate !== null && poll.electorate !== undefined) fact(list, t("pp.electorate"), t("pp.electorate.value", { n: count(poll.electorate) }));
    fact(list, t("pp.quorum"), poll.quorum_percent ? t("pp.quorum.value", { percent: poll.quorum_percent }) : t("pp.quorum.none"));
    fact(list, t("pp.change"), t(poll.allow_change ? "pp.change.yes" : "pp.change.no"));
    el("facts-section").hidden = false;
  }

  function renderOptions() {
    const closed = poll.status === "closed" && results;
    el("options-section").hidden = !!closed;
    if (closed) return;
    el("options").replaceChildren.apply(el("options"), (poll.options || []).map(function (option) {
      return make("li", { text: pick(option, "label") });
    }));
    const parts = [];
    if (poll.status === "open") {
      parts.push(make("p", { className: "notice", text: t("pp.open.note") }));
      parts.push(make("p", {}, [make("a", { className: "button primary", href: "/card.html", text: t("pp.vote") })]));
    } else if (poll.status === "scheduled") {
      parts.push(make("p", { className: "notice", text: t("pp.scheduled.note", { from: F.util.time.jst(poll.opens_at) }) }));
    }
    const box = el("options-section");
    box.querySelectorAll(".poll-note").forEach(function (node) { node.remove(); });
    parts.forEach(function (node) { node.classList.add("poll-note"); box.append(node); });
  }

  function renderResults() {
    const section = el("results-section");
    section.hidden = !(poll.status === "closed" && results);
    if (section.hidden) return;
    const total = results.votes_cast || 0;
    const top = Math.max.apply(null, (results.options || []).map(function (o) { return o.votes; }).concat([0]));
    el("results").replaceChildren.apply(el("results"), (results.options || []).map(function (option) {
      const share = total ? (100 * option.votes) / total : 0;
      const bar = make("span", { className: "poll-bar", "aria-hidden": "true" });
      bar.style.width = share.toFixed(1) + "%";
      return make("li", { className: "poll-result" + (option.votes === top && top > 0 ? " top" : "") }, [
        make("span", { className: "poll-result-label", text: pick(option, "label") }),
        make("span", { className: "poll-result-count", text: t("pp.votes", { n: count(option.votes) }) + " · " + percent(share) }),
        make("span", { className: "poll-bar-track", "aria-hidden": "true" }, [bar]),
      ]);
    }));
    const quorum = el("quorum");
    if (!results.quorum_percent) {
      quorum.textContent = t("pp.met.none");
      quorum.className = "notice";
    } else {
      quorum.textContent = t(results.quorum_met ? "pp.met" : "pp.not_met", { percent: results.quorum_percent });
      quorum.className = "notice " + (results.quorum_met ? "notice-success" : "notice-warn");
    }
    const turnout = el("turnout");
    turnout.replaceChildren();
    fact(turnout, t("pp.turnout"), t("pp.turnout.value", { percent: percent(results.turnout_percent), votes: count(results.votes_cast), eligible: count(results.eligible) }));
    if (results.revoked_excluded) fact(turnout, t("pp.revoked"), t("pp.revoked.value", { n: count(results.revoked_excluded) }));
    fact(turnout, t("pp.closed_at"), F.util.time.jst(results.closed_at));
  }

  function renderBallots() {
    const section = el("ballots-section");
    section.hidden = !(poll.status === "closed" && results);
    if (section.hidden) return;
    const url = ballotsUrl();
    el("ballots-link").href = url;
    el("ballots-link").setAttribute("download", "poll-" + pollId + "-ballots.txt");
    let check = el("ballots-check");
    if (!check) {
      check = make("p", { id: "ballots-check", role: "status" });
      el("ballots-link").parentNode.after(check);
    }
    if (!ballots) {
      check.className = "notice";
      check.textContent = t("pp.check.loading");
    } else if (ballots.ok) {
      check.className = "notice notice-success";
      check.textContent = t("pp.check.ok");
    } else if (ballots.problem === "webcrypto") {
      check.className = "notice";
      check.textContent = t("pp.check.none");
    } else {
      check.className = "notice notice-error";
      check.textContent = t("pp.check.bad", { what: t("pp.check.bad." + ballots.problem, { n: ballots.line }) });
    }
    const absolute = new URL(url, location.href).href;
    const resultsUrl = new URL((poll && poll.results_url) || "/api/v1/polls/" + encodeURIComponent(pollId) + "/results", location.href).href;
    el("recount-code").textContent = "python3 scripts/recount_poll.py " + absolute + " \\\n    --results " + resultsUrl +
      "\n\n# " + t("pp.recount.mine") + "\npython3 scripts/recount_poll.py " + absolute + " \\\n    --receipt " + t("pp.recount.receipt") + " --nonce " + t("pp.recount.nonce");
    const facts = el("recount-facts");
    facts.replaceChildren();
    fact(facts, t("pp.recount.head"), make("code", { className: "mono", text: results.ballots_head }));
    if (results.frozen_block !== null && results.frozen_block !== undefined) fact(facts, t("pp.recount.block"), String(results.frozen_block));
    fact(facts, t("pp.recount.format"), make("code", { className: "mono", text: results.algorithm || "furusato-ballots-1" }));
    const shown = el("receipt-result");
    if (search) {
      shown.textContent = t(search.key, search.vars) + (search.extra ? " " + t(search.extra, search.vars) : "");
      shown.className = "receipt-result notice" + (search.tone ? " notice-" + search.tone : "");
    } else {
      shown.textContent = "";
      shown.className = "receipt-result";
    }
  }

  function render() {
    if (problem) {
      el("poll-question").textContent = t(problem === "missing" ? "pp.missing" : "pp.network");
      delete el("poll-question").dataset.i18n;
      return;
    }
    if (!poll) return;
    const heading = el("poll-question");
    delete heading.dataset.i18n;
    heading.textContent = pick(poll, "question");
    document.title = pick(poll, "question") + " | " + (en() ? "Furusato" : "ふるさと");
    const eyebrow = el("poll-town");
    delete eyebrow.dataset.i18n;
    eyebrow.textContent = townName() ? t("pp.eyebrow.town", { town: townName() }) : t("pp.eyebrow");
    const description = pick(poll, "description");
    el("poll-description").hidden = !description;
    el("poll-description").textContent = description;
    renderFacts();
    renderOptions();
    renderResults();
    renderBallots();
  }

  // ----- the ballot file, recounted here -----

  async function sha256Hex(text) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  const VOTE_LINE = /^card=(0x[0-9a-fA-F]{40}):(\d+) choice=(\d+) receipt=([0-9a-f]{64}) hash=([0-9a-f]{64})$/;

  // Parses the three blocks and recomputes the chain and the counts (docs/polls.md).
  async function recount(text) {
    const blocks = text.replace(/\n$/, "").split("\n\n");
    if (blocks.length !== 3) return { ok: false, problem: "format", votes: [] };
    const header = blocks[0].split("\n");
    const lines = blocks[1] ? blocks[1].split("\n") : [];
    const footer = {};
    blocks[2].split("\n").forEach(function (line) {
      const at = line.indexOf(": ");
      if (at > 0) footer[line.slice(0, at)] = line.slice(at + 2);
    });
    const votes = [];
    const canHash = !!(window.crypto && crypto.subtle);
    let previous = canHash ? await sha256Hex(header.map(function (line) { return line + "\n"; }).join("")) : "";
    for (let i = 0; i < lines.length; i++) {
      const match = VOTE_LINE.exec(lines[i]);
      if (!match) return { ok: false, problem: "format", votes: votes };
      const vote = { n: i + 1, contract: match[1], token_id: match[2], choice: Number(match[3]), receipt: match[4], hash: match[5] };
      votes.push(vote);
      if (canHash) {
        previous = await sha256Hex(previous + "\n" + lines[i].slice(0, lines[i].lastIndexOf(" hash=")));
        if (previous !== vote.hash) return { ok: false, problem: "chain", line: i + 1, votes: votes };
      }
    }
    if (!canHash) return { ok: false, problem: "webcrypto", votes: votes };
    if (previous !== footer.head || previous !== results.ballots_head) return { ok: false, problem: "head", votes: votes };
    const counts = {};
    votes.forEach(function (vote) { counts[vote.choice] = (counts[vote.choice] || 0) + 1; });
    const same = votes.length === results.votes_cast && (results.options || []).every(function (option) {
      return (counts[option.position] || 0) === option.votes;
    });
    return same ? { ok: true, votes: votes } : { ok: false, problem: "count", votes: votes };
  }

  async function loadBallots() {
    let text = null;
    try {
      const response = await fetch(ballotsUrl(), { headers: { Accept: "text/plain" } });
      if (response.ok) text = await response.text();
    } catch (e) { text = null; }
    if (text === null) {
      ballots = { ok: false, problem: "format", votes: [] };
    } else {
      try { ballots = await recount(text); } catch (e) { ballots = { ok: false, problem: "webcrypto", votes: [] }; }
    }
    render();
  }

  // The receipt (and, pasted with it from "my card", its check number) → where it is in the file.
  async function lookUp(event) {
    event.preventDefault();
    const typed = el("receipt").value.toLowerCase();
    const receipt = (typed.match(/[0-9a-f]{64}/) || [""])[0];
    if (!receipt) {
      search = { key: "pp.search.empty", tone: "error" };
      return render();
    }
    if (!ballots) {
      search = { key: "pp.search.wait" };
      return render();
    }
    const vote = ballots.votes.find(function (v) { return v.receipt === receipt; });
    if (!vote) {
      search = { key: "pp.search.missing", tone: "error" };
      return render();
    }
    const option = optionByPosition(vote.choice);
    const choice = option ? pick(option, "label") : String(vote.choice);
    const card = vote.contract.slice(0, 6) + "…" + vote.contract.slice(-4) + " #" + vote.token_id;
    search = { key: "pp.search.found", vars: { n: vote.n, card: card, choice: choice }, tone: "success" };
    // A check number (32 hex digits) pasted beside the receipt: recompute the receipt from it.
    const nonce = (typed.replace(receipt, " ").match(/(?:^|[^0-9a-f])([0-9a-f]{32})(?![0-9a-f])/) || [])[1];
    if (nonce && window.crypto && crypto.subtle) {
      const canonical = "furusato-vote-1 poll=" + poll.id + " card=" + vote.contract + ":" + vote.token_id + " choice=" + vote.choice + " nonce=" + nonce;
      const bound = (await sha256Hex(canonical)) === receipt;
      search = bound
        ? { key: "pp.search.found", vars: { n: vote.n, card: card, choice: choice }, extra: "pp.search.bound", tone: "success" }
        : { key: "pp.search.unbound", tone: "error" };
    }
    render();
  }

  // ----- loading -----

  async function load() {
    const found = await F.util.api("GET", "/api/v1/polls/" + encodeURIComponent(pollId));
    if (!found.ok) {
      problem = found.status === 404 || found.status === 422 ? "missing" : "network";
      return render();
    }
    problem = null;
    const wasClosed = poll && poll.status === "closed";
    poll = found.body;
    if (!town) loadTown();
    if (poll.status === "closed" && !wasClosed) {
      const answer = await F.util.api("GET", "/api/v1/polls/" + encodeURIComponent(pollId) + "/results");
      if (answer.ok) {
        results = answer.body;
        render();
        loadBallots();
      }
    }
    render();
    clearTimeout(timer);
    if (poll.status !== "closed") timer = setTimeout(load, REFRESH_MS);
  }

  async function loadTown() {
    const found = await F.util.api("GET", "/api/v1/municipalities?limit=100");
    if (!found.ok || !found.body) return;
    town = (found.body.items || []).find(function (item) { return item.slug === poll.municipality; }) || null;
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    el("receipt-form").addEventListener("submit", lookUp);
    if (!/^\d+$/.test(pollId)) {
      problem = "missing";
      return render();
    }
    load();
  });
})();
