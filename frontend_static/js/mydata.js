// "My data" (mydata.html): what a town holds about the signed-in holder's e-mail address
// (GET /holders/me/data?town=), downloads as JSON and CSV, and the deletion request
// (POST /holders/me/deletion-requests) with its status (GET /holders/me/deletion-requests).
// APPI: a person may see what is held about them and ask for it to be erased; the town answers
// within its own number of days. The card stays on the blockchain; figures keep only counts.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  let session = null;
  let towns = [];
  let town = "";
  let data = null;
  let requests = [];
  let message = null; // {key, vars, tone}
  let deletionMessage = null;

  F.i18n.define({
    ja: {
      "mydata.loading": "読み込み中…",
      "mydata.signedin": "{email} でログイン中",
      "mydata.generated": "{at}（日本時間）時点の記録です。表示とダウンロードは、町の記録に「開示」として残ります（メールアドレスは残りません）。",
      "mydata.empty": "この自治体は、あなたのメールアドレスの記録を持っていません。",
      "mydata.none": "記録のない項目: {names}",
      "mydata.days": "町は依頼から{days}日以内に対応します（期限を過ぎると町の画面で赤く表示されます）。",
      "mydata.confirm": "{town}に、あなたの情報の削除を依頼します。住民票はブロックチェーン上に残り、お預かり中のカードはこのメールアドレスで操作できなくなります。よろしいですか？",
      "mydata.requested": "削除を依頼しました。期限: {due}",
      "mydata.already": "すでに依頼を受け付けています。期限: {due}",
      "mydata.request.pending": "受付 {at} ・ 期限 {due}",
      "mydata.request.declined": "お断り（{at}）: {reason}",
      "mydata.status.pending": "対応待ち",
      "mydata.status.declined": "お断り",
      "mydata.err.no_data": "この自治体はあなたの記録を持っていないため、削除するものがありません。",
      "mydata.err.rate_limited": "依頼が多すぎます。しばらくしてからお試しください。",
      "mydata.err.unknown": "うまくいきませんでした（{code}）。",
      "mydata.notowns": "自治体が見つかりません。",
      "field.email": "メールアドレス",
      "field.town": "自治体",
      "field.addresses": "アドレス",
      "field.order_id": "注文ID",
      "field.drop": "シリーズ",
      "field.drop_id": "シリーズID",
      "field.quantity": "枚数",
      "field.prefecture": "都道府県",
      "field.wallet_address": "ウォレット",
      "field.recipient": "受取アドレス",
      "field.campaign_code": "キャンペーン",
      "field.payment_method": "支払方法",
      "field.status": "状態",
      "field.amount_jpy": "金額（円）",
      "field.created_at": "日時",
      "field.paid_at": "支払日時",
      "field.minted_at": "発行日時",
      "field.token_id": "番号",
      "field.owner_now": "現在の持ち主",
      "field.revoked_at": "無効化",
      "field.day": "日",
      "field.spot": "スポット",
      "field.activity": "種類",
      "field.method": "方法",
      "field.checked_in_at": "チェックイン日時",
      "field.redeemed_at": "利用日時",
      "field.shop": "店舗",
      "field.benefit": "特典",
      "field.question": "質問",
      "field.voted": "投票済み",
      "field.option": "選択肢",
      "field.voted_at": "投票日時",
      "field.park": "公園",
      "field.bids": "入札数",
      "field.highest_bid_jpy": "最高入札額（円）",
      "field.announcement": "お知らせ",
      "field.sent_at": "送信日時",
      "field.year": "年",
      "field.category": "区分",
      "field.decision": "判定",
      "field.kind": "種類",
      "field.requested_at": "受付日時",
      "field.due_at": "期限",
      "field.completed_at": "完了日時",
    },
    en: {
      "mydata.pagetitle": "My data | Furusato",
      "mydata.heading": "My data",
      "mydata.lead": "See what a town holds about you, download it, and ask the town to erase it (disclosure and erasure under Japan's Act on the Protection of Personal Information).",
      "mydata.signedout": "Sign in with the e-mail address you bought with: the town keeps its records by e-mail address.",
      "mydata.signin": "Sign in",
      "mydata.walletonly": "You are signed in with a wallet. The town keeps its records by e-mail address: sign in with the e-mail link.",
      "mydata.signin.email": "Sign in by e-mail",
      "mydata.town": "Town",
      "mydata.loading": "Loading…",
      "mydata.held": "What the town holds about you",
      "mydata.download.json": "Download JSON",
      "mydata.download.csv": "Download CSV",
      "mydata.delete.heading": "Ask for deletion",
      "mydata.delete.what": "The town erases your e-mail address, prefecture and wallet addresses from its records, and every link between you and your visits, benefits used, votes and bids.",
      "mydata.delete.chain": "Your resident card stays on the blockchain (it cannot be erased). A card we keep for you can no longer be managed once you cannot sign in with this address: to keep it, move it to your own wallet first (My cards).",
      "mydata.delete.counts": "The town's figures keep only counts, which no longer link to you.",
      "mydata.delete.accounts": "Sales records (amounts, dates) stay for the accounts, but no longer say whose they were.",
      "mydata.delete.button": "Ask for deletion",
      "mydata.signedin": "Signed in as {email}",
      "mydata.generated": "Records as of {at} (Japan time). Viewing and downloading is recorded by the town as a disclosure (without your e-mail address).",
      "mydata.empty": "This town holds nothing under your e-mail address.",
      "mydata.none": "Nothing held: {names}",
      "mydata.days": "The town answers within {days} days of your request (past that, it shows in red on the town's screen).",
      "mydata.confirm": "Ask {town} to erase what it holds about you? Your card stays on the blockchain, and a card kept for you can no longer be managed with this e-mail address.",
      "mydata.requested": "Deletion requested. Due by {due}.",
      "mydata.already": "Your request is already with the town. Due by {due}.",
      "mydata.request.pending": "Received {at} · due {due}",
      "mydata.request.declined": "Declined ({at}): {reason}",
      "mydata.status.pending": "Pending",
      "mydata.status.declined": "Declined",
      "mydata.err.no_data": "This town holds nothing of yours, so there is nothing to erase.",
      "mydata.err.rate_limited": "Too many requests; please try again later.",
      "mydata.err.unknown": "Something went wrong ({code}).",
      "mydata.notowns": "No towns found.",
      "field.email": "E-mail",
      "field.town": "Town",
      "field.addresses": "Addresses",
      "field.order_id": "Order",
      "field.drop": "Series",
      "field.drop_id": "Series id",
      "field.quantity": "Cards",
      "field.prefecture": "Prefecture",
      "field.wallet_address": "Wallet",
      "field.recipient": "Sent to",
      "field.campaign_code": "Campaign",
      "field.payment_method": "Payment",
      "field.status": "Status",
      "field.amount_jpy": "Amount (¥)",
      "field.created_at": "When",
      "field.paid_at": "Paid",
      "field.minted_at": "Issued",
      "field.token_id": "Number",
      "field.owner_now": "Owner now",
      "field.revoked_at": "Revoked",
      "field.day": "Day",
      "field.spot": "Spot",
      "field.activity": "Kind",
      "field.method": "Method",
      "field.checked_in_at": "Checked in",
      "field.redeemed_at": "Used",
      "field.shop": "Shop",
      "field.benefit": "Benefit",
      "field.question": "Question",
      "field.voted": "Voted",
      "field.option": "Choice",
      "field.voted_at": "Voted at",
      "field.park": "Park",
      "field.bids": "Bids",
      "field.highest_bid_jpy": "Highest bid (¥)",
      "field.announcement": "Announcement",
      "field.sent_at": "Sent",
      "field.year": "Year",
      "field.category": "Category",
      "field.decision": "Decision",
      "field.kind": "Kind",
      "field.requested_at": "Received",
      "field.due_at": "Due",
      "field.completed_at": "Completed",
    },
  });

  function el(id) { return document.getElementById(id); }

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function fieldName(key) {
    const label = t("field." + key);
    return label === "field." + key ? key : label;
  }

  function isTime(key) { return /_at$/.test(key); }

  function cell(key, value) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "boolean") return t(value ? "mydata.yes" : "mydata.no");
    if (isTime(key)) return F.util.time.jst(value);
    if (key === "prefecture") return F.prefectures.name(value, F.i18n.current()) || String(value);
    return String(value);
  }

  F.i18n.define({ ja: { "mydata.yes": "はい", "mydata.no": "いいえ" }, en: { "mydata.yes": "yes", "mydata.no": "no" } });

  function sectionTable(section, lang) {
    const box = node("section", "data-section");
    box.dataset.section = section.key;
    box.append(node("h3", "", lang === "en" ? section.title_en : section.title_ja));
    const keys = [];
    section.rows.forEach(function (row) {
      Object.keys(row).forEach(function (key) { if (keys.indexOf(key) < 0) keys.push(key); });
    });
    const table = node("table");
    const head = node("tr");
    keys.forEach(function (key) {
      const th = node("th", "", fieldName(key));
      th.scope = "col";
      head.append(th);
    });
    table.append(node("thead"), node("tbody"));
    table.tHead.append(head);
    section.rows.forEach(function (row) {
      const tr = node("tr");
      keys.forEach(function (key) { tr.append(node("td", "", cell(key, row[key]))); });
      table.tBodies[0].append(tr);
    });
    const wrap = node("div", "table-wrap");
    wrap.append(table);
    box.append(wrap);
    return box;
  }

  function townName(slug) {
    const found = towns.find(function (item) { return item.slug === slug; });
    if (!found) return slug;
    return F.i18n.current() === "en" ? found.name_en : found.name_ja;
  }

  function renderTowns() {
    const select = el("town");
    select.replaceChildren.apply(select, towns.map(function (item) {
      const option = node("option", "", F.i18n.current() === "en" ? item.name_en : item.name_ja);
      option.value = item.slug;
      option.selected = item.slug === town;
      return option;
    }));
  }

  function renderRequests() {
    const mine = requests.filter(function (item) { return item.town === town; });
    el("requests").replaceChildren.apply(el("requests"), mine.map(function (item) {
      const li = node("li");
      li.dataset.status = item.status;
      li.append(node("span", "badge badge-" + item.status, t("mydata.status." + item.status)), document.createTextNode(" "));
      const text = item.status === "declined"
        ? t("mydata.request.declined", { at: F.util.time.jst(item.completed_at), reason: item.reason })
        : t("mydata.request.pending", { at: F.util.time.jst(item.requested_at), due: F.util.time.jst(item.due_at) });
      li.append(node("span", "", text));
      return li;
    }));
    el("request-deletion").disabled = !data || data.empty || mine.some(function (item) { return item.status === "pending"; });
  }

  function render() {
    const lang = F.i18n.current();
    const wallet = !!session && session.kind === "wallet";
    el("signed-out").hidden = !!session;
    el("wallet-only").hidden = !wallet;
    el("signed-in").hidden = !session || wallet;
    if (!session || wallet) return;
    el("signed-in-as").textContent = t("mydata.signedin", { email: session.email || "" });
    renderTowns();
    const shown = el("data-message");
    if (message) {
      delete shown.dataset.i18n;
      shown.textContent = t(message.key, message.vars);
      shown.className = "notice" + (message.tone ? " notice-" + message.tone : "");
      shown.hidden = false;
    } else if (data) {
      shown.hidden = true;
    }
    el("held").hidden = !data;
    el("deletion").hidden = !data;
    if (!data) return;
    el("generated-at").textContent = t("mydata.generated", { at: F.util.time.jst(data.generated_at, true) });
    const filled = data.sections.filter(function (section) { return section.rows.length && section.key !== "person"; });
    const person = data.sections.filter(function (section) { return section.key === "person"; });
    const empty = data.sections.filter(function (section) { return !section.rows.length; });
    el("sections").replaceChildren.apply(el("sections"), person.concat(filled).map(function (section) {
      return sectionTable(section, lang);
    }));
    el("empty-sections").textContent = filled.length
      ? t("mydata.none", { names: empty.map(function (s) { return lang === "en" ? s.title_en : s.title_ja; }).join("、") })
      : t("mydata.empty");
    el("delete-days").textContent = t("mydata.days", { days: data.data_request_days });
    const dm = el("deletion-message");
    dm.hidden = !deletionMessage;
    if (deletionMessage) {
      dm.textContent = t(deletionMessage.key, deletionMessage.vars);
      dm.className = "notice" + (deletionMessage.tone ? " notice-" + deletionMessage.tone : "");
    }
    renderRequests();
  }

  function signOut() {
    F.util.session(null);
    session = null;
    render();
  }

  function failure(result) {
    if (result.network) return { key: "common.network", tone: "error" };
    const code = F.util.errorCode(result);
    if (code === "no_data" || code === "rate_limited") return { key: "mydata.err." + code, tone: "error" };
    return { key: "mydata.err.unknown", vars: { code: code || result.status }, tone: "error" };
  }

  async function loadTowns() {
    const listed = await F.util.api("GET", "/api/v1/municipalities?limit=100");
    towns = listed.ok ? listed.body.items : [];
    const wanted = new URLSearchParams(location.search).get("town");
    if (wanted && towns.some(function (item) { return item.slug === wanted; })) {
      town = wanted;
      return;
    }
    // The towns where the holder is a person come first (GET /holders/me/registration).
    const registered = await F.util.api("GET", "/api/v1/holders/me/registration", { bearer: session.session_token });
    const first = registered.ok && registered.body.towns && registered.body.towns[0];
    town = first ? first.slug : (towns[0] ? towns[0].slug : "");
  }

  async function loadData() {
    data = null;
    message = town ? { key: "mydata.loading" } : { key: "mydata.notowns" };
    render();
    if (!town) return;
    const query = "?town=" + encodeURIComponent(town);
    const [got, asked] = await Promise.all([
      F.util.api("GET", "/api/v1/holders/me/data" + query, { bearer: session.session_token }),
      F.util.api("GET", "/api/v1/holders/me/deletion-requests", { bearer: session.session_token }),
    ]);
    if (got.status === 401) return signOut();
    if (got.status === 403) {
      session = Object.assign({}, session, { kind: "wallet" });
      return render();
    }
    if (!got.ok) {
      message = failure(got);
      return render();
    }
    data = got.body;
    data.empty = !data.sections.some(function (section) { return section.key !== "person" && section.rows.length; });
    requests = asked.ok ? asked.body.items : [];
    message = null;
    render();
  }

  function save(blob, name) {
    const url = URL.createObjectURL(blob);
    const link = node("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  function day() { return F.util.time.date(new Date().toISOString()).replace(/\//g, ""); }

  function downloadJson() {
    if (!data) return;
    const copy = Object.assign({}, data);
    delete copy.empty;
    save(new Blob([JSON.stringify(copy, null, 2)], { type: "application/json" }), "my-data-" + town + "-" + day() + ".json");
  }

  async function downloadCsv() {
    const button = el("download-csv");
    button.disabled = true;
    let response = null;
    try {
      response = await fetch("/api/v1/holders/me/data.csv?town=" + encodeURIComponent(town), {
        headers: { Authorization: "Bearer " + session.session_token },
      });
    } catch (e) { response = null; }
    button.disabled = false;
    if (!response || !response.ok) {
      message = response ? { key: "mydata.err.unknown", vars: { code: response.status }, tone: "error" }
        : { key: "common.network", tone: "error" };
      return render();
    }
    save(await response.blob(), "my-data-" + town + "-" + day() + ".csv");
  }

  async function requestDeletion() {
    if (!window.confirm(t("mydata.confirm", { town: townName(town) }))) return;
    const button = el("request-deletion");
    button.disabled = true;
    const result = await F.util.api("POST", "/api/v1/holders/me/deletion-requests", {
      json: { town: town },
      bearer: session.session_token,
    });
    if (result.status === 401) return signOut();
    if (result.ok) {
      deletionMessage = {
        key: result.status === 201 ? "mydata.requested" : "mydata.already",
        vars: { due: F.util.time.jst(result.body.due_at) },
        tone: "success",
      };
      requests = [result.body].concat(requests.filter(function (item) { return item.request_id !== result.body.request_id; }));
    } else {
      deletionMessage = failure(result);
    }
    render();
  }

  document.addEventListener("DOMContentLoaded", async function () {
    F.i18n.onChange(render);
    el("town").addEventListener("change", function (event) {
      town = event.target.value;
      deletionMessage = null;
      loadData();
    });
    el("download-json").addEventListener("click", downloadJson);
    el("download-csv").addEventListener("click", downloadCsv);
    el("request-deletion").addEventListener("click", requestDeletion);
    session = F.util.session();
    render();
    if (!session || session.kind === "wallet") return;
    await loadTowns();
    await loadData();
  });
})();
