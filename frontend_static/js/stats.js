// A town's public statistics (/towns/{slug}/stats; the slug comes from the path, ?year= picks
// a year for the yearly figures): GET /api/v1/towns/{slug}/stats, drawn as a town report —
// headline figures, the tile map of where residents live (japan-tiles.js), the share outside
// the town's prefecture, the three metropolitan areas, this year's visits beside the national
// survey and the MLIT categories. Any count may be "x" (too few people to publish, or one that
// would let such a count be worked out); the page shows it as "x" and says why.
"use strict";
(function () {
  const F = window.Furusato;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const PATH = /^\/towns\/([a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)\/stats\/?$/;
  let stats = null;
  let failure = ""; // "", "missing", "error"

  F.i18n.define({
    ja: {
      "stats.pagetitle": "関係人口の統計 | ふるさと",
      "stats.title": "{town}のデジタル住民",
      "stats.doc.title": "{town}の関係人口の統計 | ふるさと",
      "stats.asof": "{time} 時点の数字です。",
      "stats.card.residents": "デジタル住民",
      "stats.card.residents.hint": "住民票を持っている人",
      "stats.card.cards": "住民票の枚数",
      "stats.card.outside": "県外に住む人の割合",
      "stats.card.outside.hint": "{prefecture}の外に住んでいる人",
      "stats.card.visitors": "{year}年に訪れた人",
      "stats.card.repeat": "{year}年に2日以上訪れた人",
      "stats.unit.people": "人",
      "stats.unit.cards": "枚",
      "stats.map.label": "都道府県別のデジタル住民の人数の地図",
      "stats.outside": "{prefecture}の外に住んでいる人の割合: {share}",
      "stats.outside.x": "{prefecture}の外に住んでいる人の割合: x（町のある県の人数が少ないため非表示）",
      "stats.outside.none": "まだデジタル住民がいません。",
      "stats.home": "（町のある県）",
      "stats.none": "まだいません",
      "stats.visits.lead": "{year}年に、町の施設でチェックインしたか、お店で特典を使った人の数です（デジタル住民票を持っていない人も含みます）。",
      "stats.categories.lead": "{year}年に町と関わった人（購入・訪問・投票・命名権への応募のいずれか）を、記録された活動から国土交通省の類型に分けた人数です。一人は一つの類型に数えます。",
      "stats.share.nonvisiting": "—",
      "stats.note.x": "{k}人未満の数は「x」で表示しています。",
      "stats.note.source": "全国の数字: {survey}（{year}年度）。全国の類型の割合は訪問する関係人口に占める割合（複数回答）、非訪問系は関係人口全体に占める割合です。",
      "stats.error": "統計を読み込めませんでした。しばらくしてから、もう一度お試しください。",
    },
    en: {
      "stats.pagetitle": "Relationship population statistics | Furusato",
      "stats.eyebrow": "Relationship population statistics",
      "stats.loading": "Loading…",
      "stats.townlink": "To the town's page",
      "stats.missing": "We could not find this town. Please check the address.",
      "stats.headline": "Key figures",
      "stats.title": "{town}: digital residents",
      "stats.doc.title": "{town}: relationship population statistics | Furusato",
      "stats.asof": "Figures as of {time} (Japan time).",
      "stats.card.residents": "Digital residents",
      "stats.card.residents.hint": "people holding a card",
      "stats.card.cards": "Cards held",
      "stats.card.outside": "Living outside the prefecture",
      "stats.card.outside.hint": "people living outside {prefecture}",
      "stats.card.visitors": "Visitors in {year}",
      "stats.card.repeat": "Came on 2+ days in {year}",
      "stats.unit.people": "",
      "stats.unit.cards": "",
      "stats.map.label": "Map of digital residents by prefecture",
      "stats.where.heading": "Where digital residents live",
      "stats.where.lead": "The prefecture of each current card holder (from the address of their latest purchase).",
      "stats.where.top": "Prefectures",
      "stats.where.metros": "The three metropolitan areas",
      "stats.outside": "Share living outside {prefecture}: {share}",
      "stats.outside.x": "Share living outside {prefecture}: x (withheld: few residents live in the town's own prefecture)",
      "stats.outside.none": "No digital residents yet.",
      "stats.home": " (the town's prefecture)",
      "stats.none": "None yet",
      "stats.col.prefecture": "Prefecture",
      "stats.col.residents": "People",
      "stats.col.area": "Area",
      "stats.col.days": "Visit days",
      "stats.col.people": "People",
      "stats.col.share_town": "This town",
      "stats.col.share_national": "Japan",
      "stats.col.category": "Type",
      "stats.visits.heading": "People who came to the town",
      "stats.visits.bins": "Visit days a year (beside the national survey)",
      "stats.visits.lead": "People who checked in at a town spot or used a benefit at a shop in {year} (card holders or not).",
      "stats.categories.heading": "How people relate to the town (MLIT types)",
      "stats.categories.lead": "People active with the town in {year} (a purchase, a visit, a vote or a naming-right entry), each counted once in the MLIT type their recorded activity gives.",
      "stats.note.heading": "Reading these figures",
      "stats.note.x": "Counts below {k} are shown as \"x\".",
      "stats.note.second": "Some other counts and totals are shown as \"x\" too, so that a hidden count cannot be worked out from the others.",
      "stats.note.people": "Nothing that identifies a person (names, email addresses, addresses) is published. Every figure is a count of people.",
      "stats.note.source": "National figures: {survey} ({year}). National type shares are of visiting relationship population (several answers allowed); non-visiting is of all relationship population.",
      "stats.error": "We could not load the statistics. Please try again in a while.",
    },
  });

  function lang() { return F.i18n.current(); }
  function en() { return lang() === "en"; }

  function count(value, unitKey) {
    if (value === "x") return "x";
    const unit = unitKey ? t(unitKey) : "";
    return Number(value || 0).toLocaleString("ja-JP") + unit;
  }

  function percent(value) {
    if (value === "x") return "x";
    if (value === null || value === undefined) return "—";
    return (value * 100).toFixed(1) + "%";
  }

  function node(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function card(label, value, hint, suppressed) {
    const box = node("div", "stat-card" + (suppressed ? " stat-x" : ""));
    box.appendChild(node("dt", "", label));
    box.appendChild(node("dd", "stat-value", value));
    if (hint) box.appendChild(node("dd", "stat-hint", hint));
    return box;
  }

  // A bar for a share (0…1) beside its number; "x" and "—" have no bar.
  function shareCell(value, kind) {
    const cell = node("td", "share-cell");
    const bar = node("span", "share-bar share-" + kind);
    bar.style.width = typeof value === "number" ? Math.max(0, Math.min(100, value * 100)) + "%" : "0";
    const track = node("span", "share-track");
    track.appendChild(bar);
    cell.appendChild(track);
    cell.appendChild(node("span", "share-number", percent(value)));
    return cell;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    cells.forEach(function (cell) { tr.appendChild(cell); });
    return tr;
  }

  function prefectureName(code) {
    return F.prefectures.name(code, lang());
  }

  function townName() {
    return en() ? stats.town.name_en : stats.town.name_ja;
  }

  function renderHeadline() {
    const year = stats.visits.year;
    const home = prefectureName(stats.home_prefecture);
    const list = document.getElementById("headline");
    list.replaceChildren(
      card(t("stats.card.residents"), count(stats.residents, "stats.unit.people"), t("stats.card.residents.hint"), stats.residents === "x"),
      card(t("stats.card.cards"), count(stats.cards, "stats.unit.cards"), "", stats.cards === "x"),
      card(t("stats.card.outside"), percent(stats.outside_share), t("stats.card.outside.hint", { prefecture: home }), stats.outside_share === "x"),
      card(t("stats.card.visitors", { year: year }), count(stats.visits.visitors, "stats.unit.people"), "", stats.visits.visitors === "x"),
    );
  }

  function renderWhere() {
    const values = {};
    stats.prefectures.forEach(function (entry) { values[entry.code] = entry.residents; });
    F.japanTiles.render(document.getElementById("map"), values, {
      lang: lang(),
      label: t("stats.map.label"),
      unit: t("stats.unit.people"),
      highlight: stats.home_prefecture,
      legend: true,
    });

    const home = prefectureName(stats.home_prefecture);
    const outside = document.getElementById("outside-share");
    if (stats.outside_share === null) outside.textContent = t("stats.outside.none");
    else if (stats.outside_share === "x") outside.textContent = t("stats.outside.x", { prefecture: home });
    else outside.textContent = t("stats.outside", { prefecture: home, share: percent(stats.outside_share) });

    // Largest first; the "x" ones after them (their order says nothing), then by code.
    const listed = stats.prefectures.filter(function (entry) { return entry.residents === "x" || entry.residents > 0; });
    listed.sort(function (a, b) {
      const ax = a.residents === "x" ? -1 : a.residents;
      const bx = b.residents === "x" ? -1 : b.residents;
      return bx - ax || a.code.localeCompare(b.code);
    });
    const body = document.querySelector("#table-prefectures tbody");
    body.replaceChildren();
    listed.forEach(function (entry) {
      const name = node("th", "", prefectureName(entry.code) + (entry.code === stats.home_prefecture ? t("stats.home") : ""));
      name.scope = "row";
      const tr = row([name, node("td", "num" + (entry.residents === "x" ? " is-x" : ""), count(entry.residents, "stats.unit.people"))]);
      tr.dataset.code = entry.code;
      body.appendChild(tr);
    });
    if (!listed.length) {
      const empty = node("td", "muted", t("stats.none"));
      empty.colSpan = 2;
      body.appendChild(row([empty]));
    }

    const metros = document.querySelector("#table-metros tbody");
    metros.replaceChildren();
    stats.metros.forEach(function (metro) {
      const name = node("th", "", en() ? metro.name_en : metro.name_ja);
      name.scope = "row";
      const tr = row([name, node("td", "num" + (metro.residents === "x" ? " is-x" : ""), count(metro.residents, "stats.unit.people"))]);
      tr.dataset.key = metro.key;
      metros.appendChild(tr);
    });
  }

  function renderVisits() {
    const visits = stats.visits;
    document.getElementById("visits-lead").textContent = t("stats.visits.lead", { year: visits.year });
    document.getElementById("visits-cards").replaceChildren(
      card(t("stats.card.visitors", { year: visits.year }), count(visits.visitors, "stats.unit.people"), "", visits.visitors === "x"),
      card(t("stats.card.repeat", { year: visits.year }), count(visits.repeat_visitors, "stats.unit.people"), "", visits.repeat_visitors === "x"),
    );
    const body = document.querySelector("#table-bins tbody");
    body.replaceChildren();
    visits.bins.forEach(function (bin) {
      const name = node("th", "", en() ? bin.label_en : bin.label_ja);
      name.scope = "row";
      const tr = row([
        name,
        node("td", "num" + (bin.visitors === "x" ? " is-x" : ""), count(bin.visitors, "stats.unit.people")),
        shareCell(bin.share, "town"),
        shareCell(bin.national_share, "national"),
      ]);
      tr.dataset.bin = bin.key;
      body.appendChild(tr);
    });
  }

  function renderCategories() {
    const categories = stats.categories;
    document.getElementById("categories-lead").textContent = t("stats.categories.lead", { year: categories.year });
    const body = document.querySelector("#table-categories tbody");
    body.replaceChildren();
    categories.items.forEach(function (item) {
      const name = node("th", "", en() ? item.name_en : item.name_ja);
      name.scope = "row";
      const tr = row([
        name,
        node("td", "num" + (item.people === "x" ? " is-x" : ""), count(item.people, "stats.unit.people")),
        shareCell(item.share, "town"),
        shareCell(item.national_share, "national"),
      ]);
      tr.dataset.category = item.code;
      body.appendChild(tr);
    });
  }

  function renderNote() {
    document.getElementById("note-x").textContent = t("stats.note.x", { k: stats.threshold });
    const survey = en() ? stats.visits.national_survey_en : stats.visits.national_survey_ja;
    document.getElementById("note-source").textContent = t("stats.note.source", { survey: survey, year: stats.visits.national_year });
  }

  function render() {
    document.getElementById("stats-missing").hidden = failure !== "missing";
    const error = document.getElementById("stats-error");
    error.hidden = failure !== "error";
    if (failure === "error") error.textContent = t("stats.error");
    if (!stats) return;
    const heading = document.getElementById("stats-town");
    heading.removeAttribute("data-i18n");
    heading.textContent = t("stats.title", { town: townName() });
    document.title = t("stats.doc.title", { town: townName() });
    const asOf = document.getElementById("stats-asof");
    asOf.textContent = t("stats.asof", { time: F.util.time.jst(stats.as_of) });
    asOf.hidden = false;
    document.getElementById("town-link").href = "/?town=" + encodeURIComponent(stats.town.slug);
    if (/^#[0-9a-fA-F]{6}$/.test(stats.town.brand_colour || "")) {
      document.documentElement.style.setProperty("--accent", stats.town.brand_colour);
    }
    renderHeadline();
    renderWhere();
    renderVisits();
    renderCategories();
    renderNote();
    document.getElementById("stats-body").hidden = false;
    document.body.dataset.ready = "true";
  }

  async function load() {
    const match = PATH.exec(location.pathname);
    if (!match) {
      failure = "missing";
      const heading = document.getElementById("stats-town");
      heading.removeAttribute("data-i18n");
      heading.textContent = "";
      render();
      return;
    }
    const year = new URLSearchParams(location.search).get("year");
    const query = /^\d{4}$/.test(year || "") ? "?year=" + year : "";
    const answer = await F.util.api("GET", "/api/v1/towns/" + match[1] + "/stats" + query);
    if (answer.ok) {
      stats = answer.body;
      failure = "";
    } else {
      failure = answer.status === 404 ? "missing" : "error";
      const heading = document.getElementById("stats-town");
      heading.removeAttribute("data-i18n");
      heading.textContent = "";
    }
    render();
    document.body.dataset.loaded = failure || "ok";
  }

  F.i18n.onChange(function () { if (stats || failure) render(); });
  document.addEventListener("DOMContentLoaded", load);
})();
