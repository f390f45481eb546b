// The lottery's verification page (lottery.html?drop=ID, optional #entry=ENTRY_ID): fetches the
// public record and the fixed list, recomputes the draw in this browser with
// Furusato.lotteryVerify (WebCrypto; the same text as scripts/verify_lottery.py) and says in
// plain words what was checked: ✓, or the first difference. An applicant's entry id is looked
// up in the recomputed ranking here, never sent anywhere.
"use strict";
(function () {
  const F = window.Furusato;
  const L = F.lotteryVerify;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const dropId = new URLSearchParams(location.search).get("drop") || "";
  const REFRESH_MS = 30000; // while the draw is still to come
  // The checks in the order they are made; `codes`: the verifier's names for what differs there.
  const STEPS = [
    { id: "commitment", codes: ["seed_commitment", "server_seed", "supply"] },
    { id: "list", codes: ["entries", "entries_count", "list_hash"] },
    { id: "anchor", codes: ["anchor", "anchor.first", "anchor.chain_id", "anchor.from", "anchor.tx_hash", "anchor.block_number", "anchor.block_hash", "rpc"] },
    { id: "seed", codes: ["final_seed", "block_hash"] },
    { id: "ranking", codes: ["winners", "waitlist"] },
    { id: "promotions", codes: [] },
  ];
  let drop = null;
  let record = null;
  let listing = null;
  let result = null;
  let anchorPending = false; // closed, the anchor not deep enough yet: not a difference
  let phase = "loading"; // loading | running | done | error
  let problem = null; // "missing" | "network" | "webcrypto" when phase is "error"
  let progress = null;
  let lookup = null; // {key, vars, tone}
  const options = {};

  F.i18n.define({
    ja: {
      "lv.state.announced": "受付前",
      "lv.state.open": "受付中",
      "lv.state.closed": "締切・抽選前",
      "lv.state.drawn": "抽選済み（お支払いの受付中）",
      "lv.state.settled": "確定",
      "lv.ok": "✓ 検証できました",
      "lv.ok.body": "公開された材料から計算し直した結果は、発表された当選者・補欠・繰り上げとすべて同じです。",
      "lv.ok.nochain": "ブロックチェーン上の記録そのものは、下の「詳しく」でノードを指定すると確かめられます。",
      "lv.ok.chain": "ブロックチェーン上の取引とブロックも確かめました。",
      "lv.bad": "✗ 検証できませんでした",
      "lv.bad.body": "最初に食い違ったところ: {step}。公開された記録と、このブラウザーで計算し直した結果が一致しません。",
      "lv.bad.general": "記録の内容",
      "lv.running": "抽選を計算し直しています…",
      "lv.running.progress": "{done} / {total} 件",
      "lv.before": "まだ抽選前です",
      "lv.before.body": "いま確かめられるのは、町が抽選の前に「封印」を公開したことです。締切（{close}・日本時間）のあとに申込一覧が、抽選（{draw}・日本時間）のあとに結果と秘密の数が公開され、このページで確かめられるようになります。",
      "lv.closed": "締切のあと・抽選前です",
      "lv.closed.body": "申込一覧（{count}件）は確定し、その指紋を確かめました。抽選（{draw}・日本時間）のあとに結果を確かめられます。",
      "lv.missing": "この抽選は見つかりませんでした。アドレスをお確かめください。",
      "lv.network": "記録を読み込めませんでした。接続を確かめて、ページを読み込み直してください。",
      "lv.webcrypto": "このブラウザーでは計算できません。https のページとして開き直してください。",
      "lv.drop": "「{title}」の抽選",
      "lv.step.commitment": "封印と秘密の数",
      "lv.step.commitment.body": "町は受付の前に、抽選に使う秘密の数を「封印」して（その数から計算した指紋だけを）公開しました。抽選のあとで明かされた秘密の数が、この封印と一致するかを確かめます。一致すれば、町は締切のあとに秘密の数を取り替えていません。",
      "lv.step.commitment.wait": "封印は公開されています。秘密の数は抽選のあとに公開されます。",
      "lv.step.list": "申込一覧",
      "lv.step.list.body": "締切の時点の申込一覧（受付番号と枚数だけで、お名前やメールアドレスは載りません）から指紋を計算し、締切のときに公開された指紋と一致するかを確かめます。",
      "lv.step.list.done": "{count}件のお申し込みの一覧を確かめました。",
      "lv.step.list.wait": "申込一覧は締切のあとに公開されます。",
      "lv.step.anchor": "ブロックチェーンへの記録",
      "lv.step.anchor.body": "一覧の指紋は、締切のあとにブロックチェーンに書き込まれました。書き込まれたブロックの値は、締切の前にはだれにも（町にも）分かりませんでした。",
      "lv.step.anchor.nochain": "このページは、記録に書かれたブロックの値を使っています。チェーン上にあることそのものは「詳しく」から確かめられます。",
      "lv.step.anchor.chain": "チェーン上の取引とブロックも確かめました。",
      "lv.step.anchor.wait": "締切のあと、ブロックチェーンへの書き込みが確かになるのを待っています。",
      "lv.step.anchor.later": "締切のあとに書き込まれます。",
      "lv.step.seed": "抽選の種",
      "lv.step.seed.body": "秘密の数・ブロックの値・一覧の指紋の3つから「抽選の種」を計算し、公開された値と一致するかを確かめます。3つのうち1つでも違えば、種はまったく違う値になります。",
      "lv.step.ranking": "順位と当選者",
      "lv.step.ranking.body": "種から一人ひとりの順位を計算し直し、順位の順に、残りの枚数に収まるお申し込みを当選とした結果が、発表された当選者（{winners}件）と補欠（{waitlist}件）と同じかを確かめます。お申し込みの早い遅いは順位に関係しません。",
      "lv.step.promotions": "繰り上げ",
      "lv.step.promotions.body": "お支払い期限までにお支払いのなかった当選の枠が、補欠の順位の順に正しく繰り上がったかを、回ごとに確かめます（これまで{rounds}回）。",
      "lv.step.after_draw": "抽選のあとに確かめられます。",
      "lv.step.skip": "前の項目で食い違いが見つかったため、確かめていません。",
      "lv.mark.ok": "確認済み",
      "lv.mark.bad": "食い違い",
      "lv.mark.wait": "まだ",
      "lv.mark.skip": "未確認",
      "lv.r.algorithm": "抽選の方式",
      "lv.r.state": "状態",
      "lv.r.close": "締切",
      "lv.r.draw": "抽選日時",
      "lv.r.supply": "発行枚数",
      "lv.r.entries": "お申し込み",
      "lv.r.commitment": "封印（秘密の数の指紋）",
      "lv.r.list_hash": "申込一覧の指紋",
      "lv.r.anchor": "ブロックチェーンへの記録",
      "lv.r.anchor.value": "チェーン {chain}・ブロック {block}",
      "lv.r.block_hash": "ブロックの値",
      "lv.r.tx_hash": "記録した取引",
      "lv.r.from": "記録した口座",
      "lv.r.server_seed": "秘密の数",
      "lv.r.final_seed": "抽選の種",
      "lv.r.winners": "当選",
      "lv.r.winners.value": "{count}件（{cards}枚）",
      "lv.r.waitlist": "補欠",
      "lv.r.promotions": "繰り上げ",
      "lv.r.count": "{count}件",
      "lv.r.rounds": "{count}回",
      "lv.r.later.close": "締切のあとに公開されます",
      "lv.r.later.anchor": "締切のあと、記録が確かになりしだい公開されます",
      "lv.r.later.draw": "抽選のあとに公開されます",
      "lv.r.round": "{at}（日本時間）: 期限切れ {lapsed}件、繰り上げ {promoted}件",
      "lv.jst": "{time}（日本時間）",
      "lv.lookup.invalid": "受付番号は、0〜9 と a〜f からなる32文字です。受付のメールをお確かめください。",
      "lv.lookup.not_fixed": "締切前のため、申込一覧はまだ公開されていません。締切のあとに確かめられます。",
      "lv.lookup.absent": "この受付番号は申込一覧にありません。番号をお確かめください。",
      "lv.lookup.listed": "この受付番号は申込一覧にあります（{quantity}枚）。抽選のあとに順位が分かります。",
      "lv.lookup.unverified": "この受付番号は申込一覧にあります。ただし検証で食い違いが見つかったため、順位は計算していません。",
      "lv.lookup.rank": "{rank}位（{of}件中）・{quantity}枚・{outcome}",
      "lv.outcome.won": "当選",
      "lv.outcome.promoted": "繰り上げ当選",
      "lv.outcome.waitlisted": "補欠",
      "lv.outcome.lost": "落選",
      "lv.outcome.lapsed": "（お支払い期限切れ）",
      "lv.terms.heading": "用語",
      "lv.terms.hash": "指紋（ハッシュ・SHA-256）: どんなデータからも、決まった64文字（16進数）を計算する方法です。データが1文字でも違えば、まったく違う値になり、値からもとのデータを逆算することもできません。",
      "lv.terms.commitment": "封印（コミットメント）: 秘密の数（server_seed）の SHA-256。先に封印だけを公開しておくと、あとから秘密の数を取り替えられなくなります。",
      "lv.terms.anchor": "ブロックチェーンへの記録（アンカー）: 町の発行用の口座から自分自身への、金額0の取引です。データ欄に一覧の指紋32バイトだけが入っています。その取引を含むブロックの値（block_hash）は、ブロックができるまでだれにも分かりません。",
      "lv.terms.hmac": "順位: 受付番号ごとに HMAC-SHA256（鍵は抽選の種）を計算し、その値の小さい順に並べたものです。",
      "lv.formulas": "計算式（furusato-lottery-1）",
      "lv.script": "同じ確認は、ソースコードに入っている Python の標準ライブラリだけで動くプログラムでもできます:",
    },
    en: {
      "lv.pagetitle": "Verify the lottery | Furusato",
      "lv.back": "← Back to the sale",
      "lv.heading": "Verify the lottery",
      "lv.intro": "This lottery is drawn in a way nobody, the town's staff included, can steer. This page takes only what has been published, draws the lottery again inside your browser and checks that it comes out exactly as announced. You do not have to trust the town's server.",
      "lv.loading": "Loading the record…",
      "lv.checks.heading": "What is checked",
      "lv.lookup.heading": "Find your rank",
      "lv.lookup.label": "Entry number (entry id: the 32 characters in your receipt email)",
      "lv.lookup.button": "Look up",
      "lv.lookup.hint": "Your entry number is matched inside this browser only. It is not sent to the server.",
      "lv.record.heading": "The published record",
      "lv.record.json": "The record (JSON)",
      "lv.record.entries": "The list of entries (JSON)",
      "lv.details": "More detail (technical)",
      "lv.chain.intro": "Give the URL of a node of the chain (JSON-RPC) and this page also checks that the anchor transaction and its block really are on the chain. If you noted the seal when the lottery was announced, it is compared too.",
      "lv.chain.rpc": "Node URL (optional)",
      "lv.chain.commitment": "The seal you noted (optional, 64 characters)",
      "lv.chain.button": "Check again",
      "lv.log": "Log of the computation",
      "lv.state.announced": "Not open yet",
      "lv.state.open": "Taking applications",
      "lv.state.closed": "Closed, not drawn yet",
      "lv.state.drawn": "Drawn (winners paying)",
      "lv.state.settled": "Settled",
      "lv.ok": "✓ Verified",
      "lv.ok.body": "Drawn again from what was published, the result is exactly the announced winners, waitlist and promotions.",
      "lv.ok.nochain": "The record on the chain itself can be checked under “More detail” with a node's URL.",
      "lv.ok.chain": "The transaction and block on the chain were checked too.",
      "lv.bad": "✗ Could not verify",
      "lv.bad.body": "First difference: {step}. The published record and the result recomputed in this browser do not agree.",
      "lv.bad.general": "the record itself",
      "lv.running": "Drawing the lottery again…",
      "lv.running.progress": "{done} of {total}",
      "lv.before": "Not drawn yet",
      "lv.before.body": "What can be checked now is that the town published its seal before the draw. The list of entries is published after the close ({close}, Japan time), the result and the secret number after the draw ({draw}, Japan time); this page checks them then.",
      "lv.closed": "Closed, not drawn yet",
      "lv.closed.body": "The list of entries ({count}) is fixed and its fingerprint checks out. The result can be checked after the draw ({draw}, Japan time).",
      "lv.missing": "We could not find this lottery. Please check the address.",
      "lv.network": "We could not load the record. Check your connection and reload the page.",
      "lv.webcrypto": "This browser cannot compute it here. Please open the page over https.",
      "lv.drop": "The lottery for “{title}”",
      "lv.step.commitment": "Seal and secret number",
      "lv.step.commitment.body": "Before taking applications, the town sealed the secret number the draw uses (published only its fingerprint). After the draw the number is revealed, and it must match the seal: so the town did not swap it after the close.",
      "lv.step.commitment.wait": "The seal is published. The secret number is published after the draw.",
      "lv.step.list": "List of entries",
      "lv.step.list.body": "The fingerprint of the list at the close (entry numbers and quantities only, never names or emails) is computed and compared with the one published at the close.",
      "lv.step.list.done": "The list of {count} entries checks out.",
      "lv.step.list.wait": "The list of entries is published after the close.",
      "lv.step.anchor": "Record on the blockchain",
      "lv.step.anchor.body": "After the close, the list's fingerprint was written to the blockchain. The value of the block that holds it could not be known by anyone, the town included, before the close.",
      "lv.step.anchor.nochain": "This page uses the block value written in the record. That it really is on the chain can be checked under “More detail”.",
      "lv.step.anchor.chain": "The transaction and its block on the chain were checked too.",
      "lv.step.anchor.wait": "After the close: waiting for the record on the blockchain to be final.",
      "lv.step.anchor.later": "Written after the close.",
      "lv.step.seed": "Seed of the draw",
      "lv.step.seed.body": "The seed is computed from three things (the secret number, the block value, the list's fingerprint) and compared with the published one. Change any one of them and the seed is completely different.",
      "lv.step.ranking": "Ranks and winners",
      "lv.step.ranking.body": "Everyone's rank is recomputed from the seed; going down the ranks, each entry that fits the cards left wins. The result must equal the announced winners ({winners}) and waitlist ({waitlist}). When you applied has no effect on your rank.",
      "lv.step.promotions": "Promotions",
      "lv.step.promotions.body": "Places not paid by their deadline must go down the waitlist in rank order; each round is checked ({rounds} so far).",
      "lv.step.after_draw": "Checked after the draw.",
      "lv.step.skip": "Not checked: a difference was found before.",
      "lv.mark.ok": "checked",
      "lv.mark.bad": "differs",
      "lv.mark.wait": "not yet",
      "lv.mark.skip": "not checked",
      "lv.r.algorithm": "Algorithm",
      "lv.r.state": "State",
      "lv.r.close": "Closes",
      "lv.r.draw": "Draw",
      "lv.r.supply": "Cards",
      "lv.r.entries": "Entries",
      "lv.r.commitment": "Seal (fingerprint of the secret number)",
      "lv.r.list_hash": "Fingerprint of the list",
      "lv.r.anchor": "Record on the blockchain",
      "lv.r.anchor.value": "chain {chain}, block {block}",
      "lv.r.block_hash": "Block value",
      "lv.r.tx_hash": "Transaction",
      "lv.r.from": "Account that wrote it",
      "lv.r.server_seed": "Secret number",
      "lv.r.final_seed": "Seed of the draw",
      "lv.r.winners": "Winners",
      "lv.r.winners.value": "{count} ({cards} cards)",
      "lv.r.waitlist": "Waitlist",
      "lv.r.promotions": "Promotions",
      "lv.r.count": "{count}",
      "lv.r.rounds": "{count} rounds",
      "lv.r.later.close": "published after the close",
      "lv.r.later.anchor": "published once the record is final, after the close",
      "lv.r.later.draw": "published after the draw",
      "lv.r.round": "{at} (Japan time): {lapsed} lapsed, {promoted} promoted",
      "lv.jst": "{time} (Japan time)",
      "lv.lookup.invalid": "An entry number is 32 characters of 0–9 and a–f. Please check your receipt email.",
      "lv.lookup.not_fixed": "Applications have not closed, so the list is not published yet. Check again after the close.",
      "lv.lookup.absent": "This entry number is not in the list. Please check it.",
      "lv.lookup.listed": "This entry number is in the list ({quantity} cards). Its rank is known after the draw.",
      "lv.lookup.unverified": "This entry number is in the list, but the check found a difference, so no rank was computed.",
      "lv.lookup.rank": "Rank {rank} of {of} · {quantity} cards · {outcome}",
      "lv.outcome.won": "won",
      "lv.outcome.promoted": "won from the waitlist",
      "lv.outcome.waitlisted": "waitlisted",
      "lv.outcome.lost": "not drawn",
      "lv.outcome.lapsed": " (not paid in time)",
      "lv.terms.heading": "Terms",
      "lv.terms.hash": "Fingerprint (hash, SHA-256): a fixed 64-character (hexadecimal) value computed from any data. Change one character of the data and the value is completely different; the data cannot be worked out from it.",
      "lv.terms.commitment": "Seal (commitment): the SHA-256 of the secret number (server_seed). Publishing the seal first means the number cannot be swapped later.",
      "lv.terms.anchor": "Record on the blockchain (anchor): a 0-value transaction from the town's minting account to itself whose data is just the 32 bytes of the list's fingerprint. The value of the block that includes it (block_hash) is unknown to anyone until that block exists.",
      "lv.terms.hmac": "Rank: each entry number's HMAC-SHA256 keyed with the seed of the draw, sorted from the smallest.",
      "lv.formulas": "Formulas (furusato-lottery-1)",
      "lv.script": "The same check runs in a program in the source code that needs nothing but Python's standard library:",
    },
  });

  const FORMULAS = [
    "seed_commitment = SHA-256(server_seed)",
    "list_hash       = SHA-256(\"entry_id:quantity\\n\" × entries, sorted by entry_id)",
    "final_seed      = SHA-256(server_seed ‖ block_hash ‖ list_hash)",
    "key(entry)      = HMAC-SHA256(key = final_seed, entry_id)   → rank: keys ascending",
    "winners         = walk the ranks: quantity ≤ cards left → wins; else → waitlist",
  ].join("\n");

  function el(id) { return document.getElementById(id); }
  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function when(iso) { return F.util.time.jst(iso); }
  function count(n) { return Number(n).toLocaleString("ja-JP"); }
  function drawn() { return !!record && (record.state === "drawn" || record.state === "settled" || "server_seed" in record); }

  function stepOfCode(code) {
    if (!code) return null;
    if (code.indexOf("promotions") === 0) return "promotions";
    const found = STEPS.find(function (step) { return step.codes.indexOf(code) >= 0; });
    return found ? found.id : "general";
  }

  function passed(codes) {
    return codes.every(function (code) { return result.checks.some(function (c) { return c.code === code; }); });
  }

  // ok | bad | wait (not published yet) | skip (an earlier difference stopped the check)
  function stepState(step) {
    if (!result) return "wait";
    const failed = result.failure ? stepOfCode(result.failure.code) : null;
    if (failed === step.id) return "bad";
    const ok = {
      commitment: function () { return passed(["server_seed"]); },
      list: function () { return passed(["list_hash"]); },
      anchor: function () {
        if (!record.anchor || !passed(["list_hash"])) return false;
        const order = STEPS.map(function (s) { return s.id; });
        return failed === null || (failed !== "general" && order.indexOf(failed) > order.indexOf("anchor"));
      },
      seed: function () { return passed(["final_seed"]); },
      ranking: function () { return passed(["winners", "waitlist"]); },
      promotions: function () { return result.ok; },
    }[step.id]();
    if (ok) return "ok";
    return result.failure ? "skip" : "wait";
  }

  function stepBody(step, state) {
    const vars = {
      count: record && "entries_count" in record ? count(record.entries_count) : "—",
      winners: record && record.winners ? count(record.winners.length) : "—",
      waitlist: record && record.waitlist ? count(record.waitlist.length) : "—",
      rounds: record && record.promotions ? count(record.promotions.length) : "0",
    };
    const texts = [{ text: t("lv.step." + step.id + ".body", vars), cls: "" }];
    if (state === "skip") texts.push({ text: t("lv.step.skip"), cls: "hint" });
    if (state === "wait") {
      const waitKey = {
        commitment: "lv.step.commitment.wait",
        list: "lv.step.list.wait",
        anchor: record && record.list_hash ? "lv.step.anchor.wait" : "lv.step.anchor.later",
      }[step.id] || "lv.step.after_draw";
      texts.push({ text: t(waitKey), cls: "hint" });
    }
    if (state === "ok" && step.id === "list") texts.push({ text: t("lv.step.list.done", vars), cls: "hint" });
    if (state === "ok" && step.id === "anchor") {
      texts.push({ text: t(result.chainChecked ? "lv.step.anchor.chain" : "lv.step.anchor.nochain"), cls: "hint" });
    }
    if (state === "bad" && result.failure) texts.push({ text: result.failure.detail, cls: "mono" });
    return texts;
  }

  function renderChecks() {
    const list = el("checks");
    const items = STEPS.map(function (step) {
      const state = phase === "done" ? stepState(step) : "wait";
      const li = make("li", state);
      li.dataset.step = step.id;
      const mark = make("span", "mark", { ok: "✓", bad: "✗", wait: "…", skip: "–" }[state]);
      mark.setAttribute("aria-label", t("lv.mark." + state));
      mark.title = t("lv.mark." + state);
      const body = make("div");
      body.append(make("strong", "", t("lv.step." + step.id)));
      stepBody(step, state).forEach(function (line) { body.append(make("p", line.cls, line.text)); });
      li.append(mark, body);
      return li;
    });
    list.replaceChildren.apply(list, items);
  }

  function renderVerdict() {
    const box = el("verdict");
    const title = el("verdict-title");
    const body = el("verdict-body");
    delete title.dataset.i18n;
    let tone = "wait";
    let heading = t("lv.loading");
    let text = "";
    if (phase === "error") {
      tone = "bad";
      heading = t("lv." + problem);
    } else if (phase === "running") {
      heading = t("lv.running");
      text = progress ? t("lv.running.progress", { done: count(progress.done), total: count(progress.total) }) : "";
    } else if (phase === "done") {
      if (result.failure) {
        tone = "bad";
        heading = t("lv.bad");
        const step = stepOfCode(result.failure.code);
        text = t("lv.bad.body", { step: step === "general" ? t("lv.bad.general") : t("lv.step." + step) });
      } else if (result.notDrawn) {
        heading = t(record.list_hash ? "lv.closed" : "lv.before");
        text = t(record.list_hash ? "lv.closed.body" : "lv.before.body", {
          close: when(record.applications_close_at), draw: when(record.draw_at), count: count(record.entries_count),
        });
      } else if (result.ok) {
        tone = "ok";
        heading = t("lv.ok");
        text = t("lv.ok.body") + " " + t(result.chainChecked ? "lv.ok.chain" : "lv.ok.nochain");
      }
    }
    box.className = "verdict verdict-" + tone;
    title.textContent = heading;
    body.hidden = !text;
    body.textContent = text;
  }

  function recordRows() {
    if (!record) return [];
    const r = record;
    const rows = [
      ["lv.r.algorithm", r.algorithm, true],
      ["lv.r.state", t("lv.state." + r.state)],
      ["lv.r.close", t("lv.jst", { time: when(r.applications_close_at) })],
      ["lv.r.draw", t("lv.jst", { time: when(r.draw_at) })],
      ["lv.r.supply", count(r.supply)],
      ["lv.r.entries", t("lv.r.count", { count: count(r.entries_count) })],
      ["lv.r.commitment", r.seed_commitment, true],
      ["lv.r.list_hash", r.list_hash || t("lv.r.later.close"), !!r.list_hash],
    ];
    if (r.anchor) {
      rows.push(
        ["lv.r.anchor", t("lv.r.anchor.value", { chain: r.anchor.chain_id, block: count(r.anchor.block_number) })],
        ["lv.r.block_hash", r.anchor.block_hash, true],
        ["lv.r.tx_hash", r.anchor.tx_hash, true],
        ["lv.r.from", r.anchor.from, true],
      );
    } else {
      rows.push(["lv.r.anchor", t(r.list_hash ? "lv.r.later.anchor" : "lv.r.later.close")]);
    }
    rows.push(
      ["lv.r.server_seed", r.server_seed || t("lv.r.later.draw"), !!r.server_seed],
      ["lv.r.final_seed", r.final_seed || t("lv.r.later.draw"), !!r.final_seed],
    );
    if (r.winners) {
      const cards = r.winners.reduce(function (n, w) { return n + w.quantity; }, 0);
      rows.push(
        ["lv.r.winners", t("lv.r.winners.value", { count: count(r.winners.length), cards: count(cards) })],
        ["lv.r.waitlist", t("lv.r.count", { count: count((r.waitlist || []).length) })],
        ["lv.r.promotions", t("lv.r.rounds", { count: count((r.promotions || []).length) })],
      );
    } else {
      rows.push(["lv.r.winners", t("lv.r.later.draw")]);
    }
    return rows;
  }

  function renderRecord() {
    const dl = el("record");
    const nodes = recordRows().map(function (row) {
      const div = make("div");
      div.append(make("dt", "", t(row[0])), make("dd", row[2] ? "mono" : "", row[1]));
      return div;
    });
    dl.replaceChildren.apply(dl, nodes);
    const rounds = el("rounds");
    const list = record && record.promotions ? record.promotions : [];
    rounds.hidden = list.length === 0;
    rounds.replaceChildren.apply(rounds, list.map(function (round) {
      return make("li", "", t("lv.r.round", { at: when(round.at), lapsed: count(round.lapsed.length), promoted: count(round.promoted.length) }));
    }));
    const base = "/api/v1/drops/" + encodeURIComponent(dropId) + "/lottery";
    el("record-json").href = base;
    el("entries-json").href = base + "/entries";
    el("entries-json").hidden = !(record && record.list_hash);
  }

  function renderDetails() {
    const box = el("details-body");
    const terms = make("ul");
    ["hash", "commitment", "anchor", "hmac"].forEach(function (key) { terms.append(make("li", "", t("lv.terms." + key))); });
    const origin = location.origin;
    box.replaceChildren(
      make("h3", "", t("lv.terms.heading")), terms,
      make("h3", "", t("lv.formulas")), make("pre", "", FORMULAS),
      make("p", "", t("lv.script")),
      make("pre", "", "python3 scripts/verify_lottery.py " + origin + " " + dropId + " --rpc <URL>"),
    );
    const lines = [];
    if (result) {
      result.checks.forEach(function (c) { lines.push("✓ " + c.code + ": " + c.detail); });
      (result.warnings || []).forEach(function (w) { lines.push("! " + w.code + ": " + w.detail); });
      if (result.failure) lines.push("✗ " + result.failure.code + ": " + result.failure.detail);
      if (anchorPending) lines.push("… anchor: not final yet");
    }
    el("log").textContent = lines.join("\n");
  }

  function renderDrop() {
    if (!drop) return;
    const en = F.i18n.current() === "en";
    el("lv-drop").textContent = t("lv.drop", { title: en ? drop.title_en : drop.title_ja });
    el("back-link").href = "/drop.html?id=" + encodeURIComponent(dropId);
  }

  // ----- looking up an entry -----
  function findEntry(raw) {
    const id = String(raw || "").trim().toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(id)) return { key: "lv.lookup.invalid", tone: "error" };
    if (!listing) return { key: "lv.lookup.not_fixed" };
    const entry = (listing.entries || []).find(function (e) { return e.entry_id === id; });
    if (!entry) return { key: "lv.lookup.absent", tone: "error" };
    if (!drawn()) return { key: "lv.lookup.listed", vars: { quantity: entry.quantity } };
    const ranked = result && result.rankOf ? result.rankOf(id) : null;
    if (!ranked || !result.ok) return { key: "lv.lookup.unverified", tone: "error" };
    const outcome = ranked.outcome === "waitlisted" && record.state === "settled" ? "lost" : ranked.outcome;
    return {
      key: "lv.lookup.rank",
      vars: { rank: count(ranked.rank), of: count(ranked.of), quantity: ranked.quantity, outcome: outcome, lapsed: ranked.lapsed },
      tone: outcome === "won" || outcome === "promoted" ? "success" : "",
    };
  }

  function renderLookup() {
    const box = el("lookup-result");
    if (!lookup) {
      box.textContent = "";
      box.className = "lookup-result";
      return;
    }
    const vars = Object.assign({}, lookup.vars || {});
    if (vars.outcome) vars.outcome = t("lv.outcome." + vars.outcome) + (vars.lapsed ? t("lv.outcome.lapsed") : "");
    box.textContent = t(lookup.key, vars);
    box.className = "lookup-result notice" + (lookup.tone ? " notice-" + lookup.tone : "");
  }

  function doLookup() {
    if (phase !== "done") return;
    const value = el("entry").value;
    lookup = value.trim() ? findEntry(value) : null;
    renderLookup();
  }

  function render() {
    renderDrop();
    renderVerdict();
    renderChecks();
    renderRecord();
    renderDetails();
    renderLookup();
  }

  // ----- fetching and verifying -----
  async function run() {
    phase = "loading";
    render();
    let loaded;
    try {
      loaded = await L.load("", dropId);
    } catch (error) {
      phase = "error";
      problem = error && /answered 404/.test(String(error.detail || error.message)) ? "missing" : "network";
      return render();
    }
    record = loaded.record;
    listing = loaded.listing;
    phase = "running";
    progress = null;
    render();
    try {
      result = await L.verify(record, listing, {
        rpcUrl: options.rpcUrl || undefined,
        commitment: options.commitment || undefined,
        onProgress: function (done, total) {
          progress = { done: done, total: total };
          renderVerdict();
        },
      });
    } catch (error) {
      phase = "error";
      problem = "network";
      return render();
    }
    // A closed lottery whose anchor is not deep enough yet has no anchor in its record: the
    // draw is still to come, nothing differs.
    anchorPending = false;
    if (record.state === "closed" && !record.anchor && result.failure && result.failure.code === "anchor") {
      anchorPending = true;
      result.failure = null;
      result.notDrawn = true;
    }
    if (result.failure && result.failure.code === "webcrypto") {
      phase = "error";
      problem = "webcrypto";
      return render();
    }
    phase = "done";
    render();
    doLookup();
    if (result.notDrawn) setTimeout(watch, REFRESH_MS);
  }

  // Before the draw: look at the record now and then, and verify again when it moved on.
  async function watch() {
    const found = await F.util.api("GET", "/api/v1/drops/" + encodeURIComponent(dropId) + "/lottery");
    if (found.ok && found.body && (found.body.state !== record.state || !!found.body.anchor !== !!record.anchor ||
        !!found.body.list_hash !== !!record.list_hash)) {
      return run();
    }
    if (found.ok && found.body) {
      record.entries_count = found.body.entries_count;
      renderRecord();
    }
    setTimeout(watch, REFRESH_MS);
  }

  async function loadDrop() {
    const found = await F.util.api("GET", "/api/v1/drops/" + encodeURIComponent(dropId));
    if (found.ok) {
      drop = found.body;
      renderDrop();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    el("lookup-form").addEventListener("submit", function (event) {
      event.preventDefault();
      doLookup();
      if (phase !== "done") {
        lookup = null;
        renderLookup();
      }
    });
    el("chain-form").addEventListener("submit", function (event) {
      event.preventDefault();
      options.rpcUrl = el("rpc").value.trim();
      options.commitment = el("commitment").value.trim().toLowerCase();
      run();
    });
    const fromLink = new URLSearchParams(location.hash.replace(/^#/, "")).get("entry");
    if (fromLink) el("entry").value = fromLink;
    if (!/^\d+$/.test(dropId)) {
      phase = "error";
      problem = "missing";
      return render();
    }
    loadDrop();
    run();
  });
})();
