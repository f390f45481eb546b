// The relationship-population dashboard (関係人口): who the digital residents are, where they
// live, how a poster becomes a paid card, whether they come, take part and keep their card,
// and which of MLIT's categories their recorded activity puts them in, beside the national
// survey. Written for a tourism officer: every chart has the same numbers in a table beneath
// it, plain words (発行, never "mint"), an empty state that says what to do, and the CSV twin
// of the figure with the same query (UTF-8 with BOM, or Shift_JIS for older Excel).
//
// The figures come from GET {town}/analytics/{figure} (backend/analytics/staff_router.py),
// which reads the rollup; this page computes no figure itself beyond shares for a chart.
// Charts: Chart.js (vendored at set-up, /vendor/chart.umd.js). The prefecture map:
// japan-tiles.js (one square per prefecture and one for abroad, with its legend).
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const READERS = ["owner", "editor", "analyst"];
  const FIGURES = ["summary", "prefectures", "residents", "funnel", "visits", "participation", "staying", "categories"];
  const SECTIONS = ["residents", "prefectures", "funnel", "visits", "participation", "staying", "categories"];
  const PALETTE = ["#2f6b4f", "#e0a800", "#4a7fb5", "#b5543a", "#7a5ea8", "#7f8c84", "#3a9c9c", "#c06c9a"];
  const NATIONAL_COLOR = "#b9b5aa";
  const CATEGORY_ORDER = ["direct", "work", "telework", "participation", "hobby", "non_visiting"];
  const STATES = ["first_holder", "own_wallet", "transferred", "revoked"];
  const FUNNEL_STEPS = ["scans", "orders", "paid", "minted", "refunded"];

  const filters = { from: "", to: "", drop_id: "", year: "", interval: "month", quick: "all" };
  const data = {}; // figure → body of the answer, or {failed: result}
  const charts = {}; // canvas id → Chart
  let drops = [];
  let generation = 0; // the newest load; older answers are dropped

  function en() { return F.i18n.current() === "en"; }
  function n(value) { return C.count(value === undefined ? null : value); }
  function num(value) { return typeof value === "number" && isFinite(value) ? value : 0; }
  function yen(value) { return typeof value === "number" ? C.yen(value) : "—"; }
  // A share as the API gives it (0–1, or already a percentage when `percent` is true) → "12.3%".
  function pct(value, percent) {
    if (typeof value !== "number" || !isFinite(value)) return "—";
    const p = percent ? value : value * 100;
    return (Math.round(p * 10) / 10).toLocaleString("ja-JP", { minimumFractionDigits: 1, maximumFractionDigits: 1 }) + "%";
  }
  function named(item, base) {
    if (!item) return "";
    const ja = item[(base || "name") + "_ja"];
    const english = item[(base || "name") + "_en"];
    return en() ? (english || ja || "") : (ja || english || "");
  }
  function prefecture(code) {
    return F.prefectures.name(code, F.i18n.current()) || t("ana.pref.unknown");
  }
  function dropName(id) {
    const drop = drops.find(function (d) { return String(d.id) === String(id); });
    return drop ? C.dropTitle(drop) : t("ana.drop.numbered", { id: id });
  }
  function campaignName(row) {
    const code = row.campaign_code !== undefined ? row.campaign_code : (row.code !== undefined ? row.code : row.campaign);
    if (!code) return t("ana.campaign.none");
    return row.name || code;
  }

  // ----- query and links -----
  function params(figure) {
    const p = { from: filters.from, to: filters.to, drop_id: filters.drop_id, year: filters.year };
    if (figure === "residents") p.interval = filters.interval;
    return p;
  }

  function csvLinks(figure) {
    const base = C.townPath("analytics/" + figure + ".csv");
    const stamp = figure + (filters.from || filters.to ? "-" + (filters.from || "start") + "_" + (filters.to || C.time.today()) : "");
    const utf8 = C.make("a", {
      className: "button secondary small", id: "csv-" + figure + "-utf8", download: "analytics-" + stamp + ".csv",
      href: base + C.query(Object.assign(params(figure), { encoding: "utf-8" })), text: t("ana.csv.utf8"),
    });
    const sjis = C.make("a", {
      className: "button secondary small", id: "csv-" + figure + "-sjis", download: "analytics-" + stamp + "-sjis.csv",
      href: base + C.query(Object.assign(params(figure), { encoding: "shift_jis" })), text: t("ana.csv.sjis"),
    });
    return C.make("p", { className: "an-csv" }, [utf8, sjis]);
  }

  // ----- building blocks -----
  // columns: [{label, num, value(row) → text}]; rows: objects; foot: a row object or null.
  function table(id, caption, columns, rows, foot) {
    const head = C.make("tr", {}, columns.map(function (col) {
      return C.make("th", { scope: "col", className: col.num ? "num" : null, text: col.label });
    }));
    // The footer row (the totals) names itself in its first cell; a column marked
    // `noTotal` leaves its footer cell empty (a total of shares means nothing).
    function line(row, isFoot) {
      return C.make("tr", {}, columns.map(function (col, i) {
        if (isFoot && i === 0) return C.make("th", { scope: "row", text: t("ana.col.total") });
        const text = isFoot && col.noTotal ? "" : col.value(row);
        return C.make("td", { className: col.num ? "num" : null, text: text });
      }));
    }
    const body = C.make("tbody", {}, rows.map(function (row) { return line(row, false); }));
    const parts = [C.make("caption", { text: caption }), C.make("thead", {}, [head]), body];
    if (foot) parts.push(C.make("tfoot", {}, [line(foot, true)]));
    return C.make("div", { className: "an-table-wrap" }, [C.make("table", { className: "list", id: id }, parts)]);
  }

  function empty(key) { return C.make("p", { className: "empty", text: t(key || "ana.empty") }); }

  // A canvas in a box of fixed height; the chart is drawn once the box is in the page.
  function chartBox(id, label, config, tall) {
    const canvas = C.make("canvas", { id: id, role: "img", "aria-label": t("ana.chart.label", { name: label }) });
    const box = C.make("div", { className: "an-chart" + (tall ? " tall" : "") }, [canvas]);
    box.dataset.pending = "1";
    pendingCharts.push({ id: id, canvas: canvas, config: config });
    return box;
  }
  let pendingCharts = [];

  function drawPending() {
    const list = pendingCharts;
    pendingCharts = [];
    if (typeof window.Chart !== "function") {
      list.forEach(function (item) {
        item.canvas.parentElement.replaceWith(C.make("p", { className: "notice notice-error", text: t("ana.chart.missing") }));
      });
      return;
    }
    list.forEach(function (item) {
      if (charts[item.id]) charts[item.id].destroy();
      charts[item.id] = new window.Chart(item.canvas, item.config);
      item.canvas.parentElement.removeAttribute("data-pending");
    });
  }

  function destroyIn(node) {
    node.querySelectorAll("canvas").forEach(function (canvas) {
      if (charts[canvas.id]) { charts[canvas.id].destroy(); delete charts[canvas.id]; }
    });
  }

  function baseOptions(extra) {
    const options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      locale: "ja-JP",
      plugins: { legend: { position: "bottom", labels: { boxWidth: 14 } }, tooltip: { enabled: true } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    };
    return Object.assign(options, extra || {});
  }

  function barChart(labels, datasets, extra) {
    return {
      type: "bar",
      data: {
        labels: labels,
        datasets: datasets.map(function (set, i) {
          return Object.assign({ backgroundColor: set.color || PALETTE[i % PALETTE.length], borderWidth: 0 }, set);
        }),
      },
      options: baseOptions(extra),
    };
  }

  function percentAxis(horizontal) {
    const axis = { beginAtZero: true, ticks: { callback: function (v) { return v + "%"; } } };
    return horizontal ? { x: axis } : { y: axis };
  }

  // A titled part of a panel. A table in it whose caption says the same as the title keeps
  // the caption for screen readers only (the title already shows it).
  function block(title, children) {
    const node = C.make("div", { className: "an-block" }, [title ? C.make("h3", { text: title }) : null].concat(children));
    node.querySelectorAll("caption").forEach(function (caption) {
      if (caption.textContent === title) caption.className = "visually-hidden";
    });
    return node;
  }

  function section(name, children) {
    const body = C.el("body-" + name);
    destroyIn(body);
    body.replaceChildren.apply(body, children);
  }

  function failedBody(name) {
    const answer = data[name];
    if (!answer) return [C.make("p", { className: "an-note", text: t("ana.loading") })];
    if (answer.failed) return [C.make("p", { className: "notice notice-error", text: C.errorText(answer.failed) })];
    return null;
  }

  // ----- summary -----
  function renderSummary() {
    const box = C.el("summary-figures");
    const s = data.summary;
    const links = C.el("csv-summary");
    if (!s || s.failed) {
      box.replaceChildren();
      links.replaceChildren();
      if (s && s.failed) box.append(C.make("p", { className: "notice notice-error", text: C.errorText(s.failed) }));
      return;
    }
    const year = (s.scope && s.scope.year) || filters.year;
    box.replaceChildren(
      fact("ana.s.residents", n(s.residents), t("ana.s.residents.sub", { cards: n(s.cards) }), "fig-residents"),
      fact("ana.s.new_residents", n(s.new_residents), t("ana.s.in_period"), "fig-new-residents"),
      fact("ana.s.outside", pct(s.residents ? s.outside_share : null), t("ana.s.outside.sub", { home: prefecture(s.home_prefecture) }), "fig-outside"),
      fact("ana.s.visitors", n(s.visitors), t("ana.s.visitors.sub", { year: year, repeat: n(s.repeat_visitors) }), "fig-visitors"),
      fact("ana.s.residents_visited", pct(s.residents ? s.residents_visited_share : null), t("ana.s.residents_visited.sub", { n: n(s.residents_visited) }), "fig-residents-visited"),
      fact("ana.s.revenue", yen(s.revenue_jpy), t("ana.s.revenue.sub", { paid: n(s.paid) }), "fig-revenue"),
      fact("ana.s.votes", n(s.votes), t("ana.s.votes.sub", { voters: n(s.voters) }), "fig-votes"),
      fact("ana.s.bidders", n(s.bidders), t("ana.s.bidders.sub"), "fig-bidders")
    );
    links.replaceChildren.apply(links, Array.from(csvLinks("summary").children));
  }

  function fact(key, value, sub, id) {
    return C.make("div", { id: id }, [C.make("dt", { text: t(key) }), C.make("dd", {}, [value, sub ? C.make("small", { text: sub }) : null])]);
  }

  // ----- 1. residents -----
  // New residents per period, stacked by the campaign that brought them (the largest few; the
  // rest together), with the same numbers in the table; then residents and cards by series.
  const MAX_STACKS = 6;
  function renderResidents() {
    const stop = failedBody("residents");
    if (stop) return section("residents", stop);
    const r = data.residents;
    const interval = r.interval || filters.interval;
    const series = r.series || [];
    const parts = [C.make("dl", { className: "figures an-figures" }, [
      fact("ana.r.residents", n(r.residents), t("ana.r.residents.sub"), "res-residents"),
      fact("ana.r.cards", n(r.cards), t("ana.r.cards.sub"), "res-cards"),
      fact("ana.r.new", n(r.new_residents), t("ana.s.in_period"), "res-new"),
    ])];
    if (!series.length) {
      parts.push(empty(r.residents ? "ana.residents.none_in_period" : "ana.residents.empty"));
    } else {
      const labels = series.map(function (row) { return periodLabel(row.period, interval); });
      const campaigns = (r.campaigns || []).slice(0, MAX_STACKS);
      const rest = (r.campaigns || []).slice(MAX_STACKS);
      const sets = campaigns.map(function (c) {
        return { label: campaignName(c), data: c.series.map(function (p) { return num(p.residents); }), stack: "new" };
      });
      if (rest.length) {
        sets.push({
          label: t("ana.campaign.others", { n: rest.length }),
          data: series.map(function (p, i) { return rest.reduce(function (sum, c) { return sum + num((c.series[i] || {}).residents); }, 0); }),
          stack: "new",
        });
      }
      if (!sets.length) sets.push({ label: t("ana.col.new_people"), data: series.map(function (p) { return num(p.residents); }) });
      parts.push(chartBox("chart-residents", t("ana.residents.chart"), barChart(labels, sets, {
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      })));
      parts.push(table("table-residents", t("ana.residents.table"), [
        { label: t("ana.col.period"), value: function (row) { return periodLabel(row.period, interval); } },
        { label: t("ana.col.new_people"), num: true, value: function (row) { return n(row.residents); } },
      ], series, { residents: r.new_residents }));
    }
    const byCampaign = r.campaigns || [];
    if (byCampaign.length) {
      parts.push(block(t("ana.residents.by_campaign"), [table("table-residents-campaigns", t("ana.residents.by_campaign"), [
        { label: t("ana.col.campaign"), value: campaignName },
        { label: t("ana.col.new_people"), num: true, value: function (row) { return n(row.new_residents); } },
      ], byCampaign, { new_residents: r.new_residents })]));
    }
    const byDrop = r.drops || [];
    if (byDrop.length) {
      parts.push(block(t("ana.residents.by_drop"), [table("table-residents-drops", t("ana.residents.by_drop"), [
        { label: t("ana.col.drop"), value: function (row) { return named(row, "title") || dropName(row.drop_id); } },
        { label: t("ana.col.residents_now"), num: true, value: function (row) { return n(row.residents); } },
        { label: t("ana.col.cards_now"), num: true, value: function (row) { return n(row.cards); } },
        { label: t("ana.col.new_people"), num: true, value: function (row) { return n(row.new_residents); } },
      ], byDrop), C.make("p", { className: "an-note", text: t("ana.residents.by_drop.note") })]));
    }
    parts.push(csvLinks("residents"));
    section("residents", parts);
  }

  function periodLabel(value, interval) {
    const text = String(value || "");
    if (text.length === 7) return t("ana.month", { year: text.slice(0, 4), month: Number(text.slice(5, 7)) });
    if (interval === "week" && text.length >= 10) return t("ana.week_of", { date: shortDate(text) });
    if (text.length >= 10) return shortDate(text);
    return text;
  }
  function shortDate(text) { return t("ana.date", { year: text.slice(0, 4), month: Number(text.slice(5, 7)), day: Number(text.slice(8, 10)) }); }

  // ----- 2. prefectures -----
  function renderPrefectures() {
    const stop = failedBody("prefectures");
    if (stop) return section("prefectures", stop);
    const p = data.prefectures;
    const rows = p.prefectures || [];
    const total = num(p.residents);
    const parts = [];
    if (!total) {
      parts.push(empty("ana.prefectures.empty"));
      parts.push(csvLinks("prefectures"));
      return section("prefectures", parts);
    }
    const home = prefecture(p.home_prefecture);
    parts.push(C.make("dl", { className: "figures an-figures" }, [
      fact("ana.pref.outside", pct(p.outside_share), t("ana.pref.outside.sub", { home: home }), "pref-outside"),
      fact("ana.pref.home", n((p.home || {}).residents), t("ana.pref.home.sub", { home: home }), "pref-home"),
      fact("ana.pref.abroad", n((p.abroad || {}).residents), t("ana.pref.abroad.sub"), "pref-abroad"),
      fact("ana.pref.residents", n(p.residents), t("ana.s.residents.sub", { cards: n(p.cards) }), "pref-residents"),
    ]));
    const map = C.make("div", { className: "an-map", id: "pref-map" });
    parts.push(map);
    const top = p.top || [];
    const listed = rows.filter(function (row) { return num(row.residents) > 0; })
      .sort(function (a, b) { return num(b.residents) - num(a.residents) || String(a.code).localeCompare(String(b.code)); });
    parts.push(block(t("ana.pref.top"), [
      chartBox("chart-prefectures", t("ana.pref.top"), barChart(top.map(function (row) { return placeName(row); }), [
        { label: t("ana.col.residents_now"), data: top.map(function (row) { return num(row.residents); }) },
      ], { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }), true),
      table("table-prefectures", t("ana.pref.table"), [
        { label: t("ana.col.prefecture"), value: placeName },
        { label: t("ana.col.residents_now"), num: true, value: function (row) { return n(row.residents); } },
        { label: t("ana.col.share"), num: true, value: function (row) { return pct(num(row.residents) / total); } },
        { label: t("ana.col.cards_now"), num: true, value: function (row) { return n(row.cards); } },
      ], listed, { residents: p.residents, cards: p.cards }),
    ]));
    const metros = p.metros || [];
    if (metros.length) {
      parts.push(block(t("ana.pref.metros"), [
        table("table-metros", t("ana.pref.metros"), [
          { label: t("ana.col.area"), value: function (row) { return named(row); } },
          { label: t("ana.col.residents_now"), num: true, value: function (row) { return n(row.residents); } },
          { label: t("ana.col.share"), num: true, value: function (row) { return pct(row.share); } },
          { label: t("ana.col.cards_now"), num: true, value: function (row) { return n(row.cards); } },
        ], metros),
        C.make("p", { className: "an-note", text: t("ana.pref.metros.hint") }),
      ]));
    }
    parts.push(csvLinks("prefectures"));
    section("prefectures", parts);
    drawMap(map, rows, p.home_prefecture);
  }

  function placeName(row) { return named(row) || prefecture(row.code); }

  function drawMap(box, rows, home) {
    const tiles = F.japanTiles;
    if (!tiles || typeof tiles.render !== "function") {
      box.replaceChildren(C.make("p", { className: "notice notice-error", text: t("ana.map.missing") }));
      return;
    }
    const values = {};
    rows.forEach(function (row) { values[row.code] = num(row.residents); });
    tiles.render(box, values, {
      lang: F.i18n.current(),
      label: t("ana.map.label"),
      unit: t("ana.map.unit"),
      highlight: home,
      format: function (value) { return Number(value).toLocaleString("ja-JP"); },
    });
    // Staff see exact counts: nothing on this map is ever "x", so its key has no "x" entry.
    box.querySelectorAll(".jt-legend .jt-swatch-x").forEach(function (swatch) { swatch.parentElement.remove(); });
  }

  // ----- 3. funnel -----
  // The QR step counts people a day (unique_scans), not every request: a phone scanning twice
  // is one, a crawler none.
  const FUNNEL_VALUE = { scans: "unique_scans" };
  function step(row, name) { return num(row[FUNNEL_VALUE[name] || name]); }
  function renderFunnel() {
    const stop = failedBody("funnel");
    if (stop) return section("funnel", stop);
    const f = data.funnel;
    const total = f.total || {};
    const rows = (f.campaigns || []).slice();
    const without = f.without_campaign || {};
    if (FUNNEL_STEPS.some(function (name) { return step(without, name) > 0; }) || num(without.revenue_jpy)) {
      rows.push(Object.assign({ code: "", without: true }, without));
    }
    const parts = [];
    const any = FUNNEL_STEPS.some(function (name) { return step(total, name) > 0; });
    if (!any) {
      parts.push(empty("ana.funnel.empty"));
    } else {
      parts.push(chartBox("chart-funnel", t("ana.funnel.chart"), barChart(FUNNEL_STEPS.map(function (name) { return t("ana.step." + name); }), [
        {
          label: t("ana.funnel.all"), data: FUNNEL_STEPS.map(function (name) { return step(total, name); }),
          backgroundColor: FUNNEL_STEPS.map(function (name) { return name === "refunded" ? PALETTE[3] : PALETTE[0]; }),
        },
      ], { plugins: { legend: { display: false } } })));
      const columns = [{ label: t("ana.col.campaign"), value: function (row) { return row.without ? t("ana.campaign.without") : campaignName(row); } }]
        .concat(FUNNEL_STEPS.map(function (name) { return { label: t("ana.step." + name), num: true, value: function (row) { return n(step(row, name)); } }; }))
        .concat([{ label: t("ana.col.revenue"), num: true, value: function (row) { return yen(row.revenue_jpy); } }]);
      parts.push(table("table-funnel", t("ana.funnel.table"), columns, rows, total));
      parts.push(C.make("p", { className: "an-note", text: t("ana.funnel.note") }));
    }
    parts.push(csvLinks("funnel"));
    section("funnel", parts);
  }

  // ----- 4. visits -----
  function renderVisits() {
    const stop = failedBody("visits");
    if (stop) return section("visits", stop);
    const v = data.visits;
    const months = v.months || [];
    const year = (v.scope && v.scope.year) || filters.year;
    const parts = [C.make("dl", { className: "figures an-figures" }, [
      fact("ana.v.visitors", n(v.visitors), t("ana.s.in_year", { year: year }), "v-visitors"),
      fact("ana.v.repeat", n(v.repeat_visitors), t("ana.s.in_year", { year: year }), "v-repeat"),
      fact("ana.v.ever", n(v.visitors_ever), t("ana.v.ever.sub", { repeat: n(v.repeat_visitors_ever) }), "v-ever"),
      fact("ana.v.residents_visited", pct(v.residents ? v.residents_visited_share : null), t("ana.v.residents_visited.sub", { n: n(v.residents_visited), of: n(v.residents) }), "v-residents-visited"),
    ])];
    if (!months.length) {
      parts.push(empty("ana.visits.empty"));
    } else {
      parts.push(block(t("ana.v.by_month"), [
        chartBox("chart-visits", t("ana.v.by_month"), barChart(months.map(function (row) { return periodLabel(row.month, "month"); }), [
          { label: t("ana.col.check_ins"), data: months.map(function (row) { return num(row.check_ins); }) },
          { label: t("ana.col.redemptions"), data: months.map(function (row) { return num(row.redemptions); }) },
        ])),
        table("table-visits-months", t("ana.v.by_month"), [
          { label: t("ana.col.month"), value: function (row) { return periodLabel(row.month, "month"); } },
          { label: t("ana.col.check_ins"), num: true, value: function (row) { return n(row.check_ins); } },
          { label: t("ana.col.redemptions"), num: true, value: function (row) { return n(row.redemptions); } },
        ], months, { check_ins: v.check_ins, redemptions: v.redemptions }),
      ]));
    }
    const spots = v.spots || [];
    const shops = v.shops || [];
    if (spots.length || shops.length) {
      parts.push(block(t("ana.v.places"), [
        C.make("p", { className: "an-note", text: t("ana.v.places.note") }),
        spots.length ? placeTable("table-visits-spots", t("ana.v.spots"), t("ana.col.spot"), t("ana.col.check_ins"), spots, "check_ins") : empty("ana.v.spots.empty"),
        shops.length ? placeTable("table-visits-shops", t("ana.v.shops"), t("ana.col.shop"), t("ana.col.redemptions"), shops, "redemptions") : empty("ana.v.shops.empty"),
        benefitsTable(shops),
      ]));
    }
    // Visit days a year in the survey's bins, beside the national shares.
    const bins = v.bins || [];
    const binned = bins.reduce(function (sum, row) { return sum + num(row.people); }, 0);
    const binParts = [C.make("p", { className: "an-note", text: t("ana.v.bins.hint", { year: year }) })];
    if (!binned) {
      binParts.push(empty("ana.v.bins.empty"));
    } else {
      binParts.push(chartBox("chart-visit-days", t("ana.v.bins"), barChart(bins.map(function (row) { return t("ana.bin." + row.bin); }), [
        { label: t("ana.ours"), data: bins.map(function (row) { return Math.round(1000 * num(row.share)) / 10; }) },
        { label: t("ana.national"), data: bins.map(function (row) { return num(row.national_percent); }), backgroundColor: NATIONAL_COLOR },
      ], { scales: percentAxis(false) })));
    }
    binParts.push(table("table-visit-days", t("ana.v.bins"), [
      { label: t("ana.col.visit_days"), value: function (row) { return t("ana.bin." + row.bin); } },
      { label: t("ana.col.people"), num: true, value: function (row) { return n(row.people); } },
      { label: t("ana.col.share"), num: true, noTotal: true, value: function (row) { return binned ? pct(row.share) : "—"; } },
      { label: t("ana.col.national"), num: true, noTotal: true, value: function (row) { return pct(row.national_percent, true); } },
    ], bins, { people: binned }));
    parts.push(block(t("ana.v.bins"), binParts));
    parts.push(csvLinks("visits"));
    section("visits", parts);
  }

  // One row per place and month (the people who came there that month beside the count); a
  // person who came in two months is in both, so the people are not added up over months.
  function placeTable(id, caption, placeLabel, countLabel, places, key) {
    const rows = [];
    places.forEach(function (place) {
      (place.months || []).forEach(function (month) { rows.push({ place: place, month: month }); });
    });
    return table(id, caption, [
      { label: placeLabel, value: function (row) { return named(row.place); } },
      { label: t("ana.col.month"), noTotal: true, value: function (row) { return periodLabel(row.month.month, "month"); } },
      { label: countLabel, num: true, value: function (row) { return n(row.month.count); } },
      { label: t("ana.col.people_month"), num: true, noTotal: true, value: function (row) { return n(row.month.visitors); } },
    ], rows, { place: {}, month: { count: places.reduce(function (sum, place) { return sum + num(place[key]); }, 0) } });
  }

  function benefitsTable(shops) {
    const rows = [];
    shops.forEach(function (shop) {
      (shop.benefits || []).forEach(function (benefit) { rows.push({ shop: shop, benefit: benefit }); });
    });
    if (!rows.length) return null;
    return table("table-visits-benefits", t("ana.v.benefits"), [
      { label: t("ana.col.benefit"), value: function (row) { return named(row.benefit, "title"); } },
      { label: t("ana.col.shop"), value: function (row) { return named(row.shop); } },
      { label: t("ana.col.redemptions"), num: true, value: function (row) { return n(row.benefit.redemptions); } },
    ], rows);
  }

  // ----- 5. participation -----
  function renderParticipation() {
    const stop = failedBody("participation");
    if (stop) return section("participation", stop);
    const p = data.participation;
    const polls = p.polls || [];
    const lots = p.lots || [];
    const parts = [];
    if (!polls.length) {
      parts.push(block(t("ana.p.polls"), [empty("ana.p.polls.empty")]));
    } else {
      const counted = polls.filter(function (row) { return typeof row.turnout === "number"; });
      parts.push(block(t("ana.p.polls"), [
        counted.length ? chartBox("chart-turnout", t("ana.p.turnout"), barChart(counted.map(function (row) { return shorten(named(row, "question")); }), [
          { label: t("ana.col.turnout"), data: counted.map(function (row) { return Math.round(1000 * row.turnout) / 10; }) },
        ], { indexAxis: "y", scales: percentAxis(true), plugins: { legend: { display: false } } })) : null,
        table("table-polls", t("ana.p.polls"), [
          { label: t("ana.col.poll"), value: function (row) { return named(row, "question"); } },
          { label: t("ana.col.poll_status"), noTotal: true, value: function (row) { return t("polstate." + row.status); } },
          { label: t("ana.col.votes"), num: true, value: function (row) { return n(row.votes); } },
          { label: t("ana.col.voters"), num: true, value: function (row) { return n(row.voters); } },
          { label: t("ana.col.electorate"), num: true, value: function (row) { return n(row.electorate); } },
          { label: t("ana.col.turnout"), num: true, value: function (row) { return pct(row.turnout); } },
        ], polls, { votes: p.votes, voters: p.voters, electorate: p.electorate, turnout: p.turnout }),
        C.make("p", { className: "an-note", text: t("ana.p.polls.note") }),
      ]));
    }
    parts.push(block(t("ana.p.lots"), [lots.length ? table("table-lots", t("ana.p.lots"), [
      { label: t("ana.col.lot"), value: function (row) { return named(row, "park_name"); } },
      { label: t("ana.col.auction_start"), noTotal: true, value: function (row) { return C.time.format(row.auction_start); } },
      { label: t("ana.col.bidders"), num: true, value: function (row) { return n(row.bidders); } },
    ], lots, { bidders: p.bidders }) : empty("ana.p.lots.empty")]));
    parts.push(csvLinks("participation"));
    section("participation", parts);
  }

  function shorten(text) { return text.length > 24 ? text.slice(0, 23) + "…" : text; }

  // ----- 6. staying -----
  function renderStaying() {
    const stop = failedBody("staying");
    if (stop) return section("staying", stop);
    const s = data.staying;
    const total = s.total || {};
    const parts = [];
    if (!num(total.total)) {
      parts.push(empty("ana.staying.empty"));
    } else {
      parts.push(chartBox("chart-staying", t("ana.staying.chart"), {
        type: "doughnut",
        data: {
          labels: STATES.map(function (state) { return t("ana.state." + state); }),
          datasets: [{ data: STATES.map(function (state) { return num(total[state]); }), backgroundColor: [PALETTE[0], PALETTE[2], PALETTE[1], PALETTE[3]] }],
        },
        options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
      }));
      const columns = [{ label: t("ana.col.drop"), value: function (row) { return named(row, "title") || dropName(row.drop_id); } }]
        .concat(STATES.map(function (state) { return { label: t("ana.state." + state), num: true, value: function (row) { return n(row[state]); } }; }))
        .concat([
          { label: t("ana.col.cards_all"), num: true, value: function (row) { return n(row.total); } },
          { label: t("ana.col.kept"), num: true, value: keptShare },
        ]);
      parts.push(table("table-staying", t("ana.staying.table"), columns, s.drops || [], total));
      parts.push(C.make("ul", { className: "an-key" }, STATES.map(function (state) {
        return C.make("li", {}, [C.make("strong", { text: t("ana.state." + state) }), t("ana.state." + state + ".about")]);
      })));
    }
    parts.push(csvLinks("staying"));
    section("staying", parts);
  }

  // Cards still with someone who bought them (as bought, or in their own wallet), of those
  // not made void.
  function keptShare(row) {
    const live = num(row.total) - num(row.revoked);
    return live > 0 ? pct((num(row.first_holder) + num(row.own_wallet)) / live) : "—";
  }

  // ----- 7. categories -----
  // MLIT's 2023 figures are multi-answer shares of visiting 関係人口, so the chart sets beside
  // them each category's flags among this town's visiting people (one person may fit several).
  function renderCategories() {
    const stop = failedBody("categories");
    if (stop) return section("categories", stop);
    const c = data.categories;
    const year = (c.scope && c.scope.year) || filters.year;
    const rows = CATEGORY_ORDER.map(function (code) {
      return (c.categories || []).find(function (row) { return row.code === code; }) || { code: code, people: 0, flags: 0 };
    });
    const visiting = rows.filter(function (row) { return row.code !== "non_visiting"; });
    const parts = [C.make("p", { className: "an-note", text: t("ana.cat.year", { year: year }) })];
    if (!num(c.people)) {
      parts.push(empty("ana.categories.empty"));
    } else {
      parts.push(C.make("dl", { className: "figures an-figures" }, [
        fact("ana.cat.people", n(c.people), t("ana.s.in_year", { year: year }), "cat-people"),
        fact("ana.cat.visiting", n(c.visiting), t("ana.cat.visiting.sub"), "cat-visiting"),
        fact("ana.cat.non_visiting_people", n(c.non_visiting), t("ana.cat.non_visiting.sub", {
          share: pct(c.people ? num(c.non_visiting) / c.people : null),
          national: pct(c.national && c.national.non_visiting_share_2023, true),
        }), "cat-non-visiting"),
      ]));
      if (num(c.visiting)) {
        parts.push(chartBox("chart-categories", t("ana.cat.chart"), barChart(visiting.map(catName), [
          { label: t("ana.ours"), data: visiting.map(function (row) { return Math.round(1000 * num(row.flag_share_of_visiting)) / 10; }) },
          { label: t("ana.national_2023"), data: visiting.map(function (row) { return num(row.national_2023_percent); }), backgroundColor: NATIONAL_COLOR },
        ], { scales: percentAxis(false) }), true));
      }
    }
    parts.push(table("table-categories", t("ana.cat.table"), [
      { label: t("ana.col.category"), value: catName },
      { label: t("ana.col.people_primary"), num: true, value: function (row) { return n(row.people); } },
      { label: t("ana.col.share"), num: true, noTotal: true, value: function (row) { return c.people ? pct(row.share) : "—"; } },
      { label: t("ana.col.flags"), num: true, noTotal: true, value: function (row) { return n(row.flags); } },
      { label: t("ana.col.flag_share"), num: true, noTotal: true, value: function (row) { return pct(row.flag_share_of_visiting); } },
      { label: t("ana.col.national_2023"), num: true, noTotal: true, value: function (row) { return pct(row.national_2023_percent, true); } },
    ], rows, { people: c.people }));
    parts.push(C.make("p", { className: "an-note", text: t("ana.cat.note") }));
    const rules = c.rules || [];
    parts.push(C.make("h3", { text: t("ana.cat.rules") }));
    parts.push(C.make("ol", { className: "an-key", id: "category-rules" }, rules.map(function (rule) {
      const row = rows.find(function (r) { return r.code === rule.category; }) || { code: rule.category };
      return C.make("li", {}, [
        C.make("span", { className: "an-rule-number", text: String(rule.number) + "." }),
        C.make("strong", { text: catName(row) }),
        en() ? rule.condition_en : rule.condition_ja,
      ]);
    })));
    parts.push(csvLinks("categories"));
    section("categories", parts);
  }

  function catName(row) { return named(row) || t("ana.cat." + row.code); }

  // ----- loading -----
  function render() {
    renderSummary();
    renderResidents();
    renderPrefectures();
    renderFunnel();
    renderVisits();
    renderParticipation();
    renderStaying();
    renderCategories();
    drawPending();
    renderReport();
    renderStatus();
  }

  const RENDER = {
    summary: renderSummary, prefectures: renderPrefectures, residents: renderResidents, funnel: renderFunnel,
    visits: renderVisits, participation: renderParticipation, staying: renderStaying, categories: renderCategories,
  };

  async function load(figures) {
    const mine = ++generation;
    const list = figures || FIGURES;
    status = null;
    renderStatus();
    const answers = await Promise.all(list.map(function (figure) {
      return C.townApi("GET", "analytics/" + figure, { query: params(figure) });
    }));
    if (mine !== generation) return;
    let failed = 0;
    list.forEach(function (figure, i) {
      data[figure] = answers[i].ok ? (answers[i].body || {}) : { failed: answers[i] };
      if (!answers[i].ok) failed++;
      RENDER[figure]();
    });
    drawPending();
    status = { failed: failed };
    renderStatus();
    C.el("main").dataset.loaded = String(mine);
  }

  let status = null; // {failed} of the last load, null while loading
  function renderStatus() {
    const box = C.el("an-status");
    if (!status) { box.textContent = t("ana.loading"); return; }
    const asOf = data.summary && !data.summary.failed ? data.summary.as_of : null;
    if (status.failed) box.textContent = t("ana.status.failed", { n: status.failed });
    else box.textContent = asOf ? t("ana.status.as_of", { time: C.time.format(asOf) }) : t("ana.status.done");
  }

  // ----- controls -----
  function today() { return C.time.today(); }

  function quickRange(kind) {
    const now = today();
    const y = Number(now.slice(0, 4));
    const m = Number(now.slice(5, 7));
    if (kind === "month") return { from: now.slice(0, 8) + "01", to: now };
    if (kind === "year") return { from: now.slice(0, 4) + "-01-01", to: now };
    if (kind === "12m") {
      const start = new Date(Date.UTC(y, m - 1 - 11, 1));
      return { from: start.toISOString().slice(0, 10), to: now };
    }
    return { from: "", to: "" };
  }

  function pressQuick() {
    document.querySelectorAll("[data-quick]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.quick === filters.quick));
    });
  }

  function pressInterval() {
    document.querySelectorAll("[data-interval]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.interval === filters.interval));
    });
  }

  function periodValid() {
    const error = C.el("an-period-error");
    const bad = filters.from && filters.to && filters.from > filters.to;
    error.hidden = !bad;
    error.textContent = bad ? t("ana.period.order") : "";
    C.el("an-from").setAttribute("aria-invalid", bad ? "true" : "false");
    C.el("an-to").setAttribute("aria-invalid", bad ? "true" : "false");
    return !bad;
  }

  function syncInputs() {
    C.el("an-from").value = filters.from;
    C.el("an-to").value = filters.to;
    C.el("an-drop").value = filters.drop_id;
    C.el("an-year").value = filters.year;
    pressQuick();
    pressInterval();
  }

  // The address keeps the choice, so a link or a reload shows the same figures.
  function remember() {
    const search = new URLSearchParams(location.search);
    ["from", "to", "drop_id", "year", "interval"].forEach(function (key) {
      if (filters[key] && !(key === "interval" && filters[key] === "month")) search.set(key, filters[key]);
      else search.delete(key);
    });
    history.replaceState(null, "", location.pathname + "?" + search.toString());
  }

  function changed(figures) {
    if (!periodValid()) return;
    remember();
    load(figures);
  }

  function yearOptions() {
    const select = C.el("an-year");
    const current = Number(today().slice(0, 4));
    let first = current - 2;
    drops.forEach(function (drop) {
      const made = Number(String(drop.starts_at || drop.created_at || "").slice(0, 4));
      if (made && made < first) first = made;
    });
    const options = [];
    for (let y = current; y >= first; y--) options.push(C.make("option", { value: String(y), text: t("ana.year.value", { year: y }) }));
    select.replaceChildren.apply(select, options);
    if (filters.year && Number(filters.year) < first) select.append(C.make("option", { value: filters.year, text: t("ana.year.value", { year: filters.year }) }));
    select.value = filters.year;
  }

  function renderReport() {
    const month = C.el("an-month").value || today().slice(0, 7);
    const link = C.el("an-report");
    link.href = C.townPath("analytics/report.pdf") + C.query({ month: month });
    link.setAttribute("download", "report-" + month + ".pdf");
  }

  function dropSelect() {
    const select = C.el("an-drop");
    const options = [C.make("option", { value: "", text: t("ana.drop.all") })];
    drops.forEach(function (drop) { options.push(C.make("option", { value: String(drop.id), text: C.dropTitle(drop) })); });
    select.replaceChildren.apply(select, options);
    select.value = filters.drop_id;
  }

  function wire() {
    document.querySelectorAll("[data-quick]").forEach(function (button) {
      button.addEventListener("click", function () {
        filters.quick = button.dataset.quick;
        Object.assign(filters, quickRange(filters.quick));
        syncInputs();
        changed();
      });
    });
    ["an-from", "an-to"].forEach(function (id) {
      C.el(id).addEventListener("change", function () {
        filters.from = C.el("an-from").value;
        filters.to = C.el("an-to").value;
        filters.quick = "";
        ["month", "year", "12m", "all"].forEach(function (kind) {
          const range = quickRange(kind);
          if (range.from === filters.from && range.to === filters.to) filters.quick = kind;
        });
        pressQuick();
        changed();
      });
    });
    C.el("an-drop").addEventListener("change", function () { filters.drop_id = C.el("an-drop").value; changed(); });
    C.el("an-year").addEventListener("change", function () { filters.year = C.el("an-year").value; changed(); });
    document.querySelectorAll("[data-interval]").forEach(function (button) {
      button.addEventListener("click", function () {
        filters.interval = button.dataset.interval;
        pressInterval();
        changed(["residents"]);
      });
    });
    C.el("an-month").addEventListener("change", renderReport);
    C.el("an-controls").addEventListener("submit", function (event) { event.preventDefault(); });
  }

  function fromAddress() {
    const search = new URLSearchParams(location.search);
    const date = /^\d{4}-\d{2}-\d{2}$/;
    if (date.test(search.get("from") || "")) filters.from = search.get("from");
    if (date.test(search.get("to") || "")) filters.to = search.get("to");
    if (/^\d+$/.test(search.get("drop_id") || "")) filters.drop_id = search.get("drop_id");
    if (/^\d{4}$/.test(search.get("year") || "")) filters.year = search.get("year");
    if (["day", "week", "month"].indexOf(search.get("interval")) >= 0) filters.interval = search.get("interval");
    filters.quick = "";
    ["month", "year", "12m", "all"].forEach(function (kind) {
      const range = quickRange(kind);
      if (range.from === filters.from && range.to === filters.to) filters.quick = kind;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("analytics", async function () {
      filters.year = today().slice(0, 4);
      fromAddress();
      C.el("an-month").value = today().slice(0, 7);
      renderReport();
      wire();
      const found = await C.townApi("GET", "drops", { query: { limit: 100 } });
      drops = found.ok && found.body ? found.body.items || [] : [];
      dropSelect();
      yearOptions();
      syncInputs();
      F.i18n.onChange(function () {
        dropSelect();
        yearOptions();
        render();
      });
      SECTIONS.forEach(function (name) { section(name, failedBody(name) || []); });
      load();
    }, READERS);
  });
})();
