// A tile-grid map of Japan: one square per prefecture at its usual place on the grid, and one
// for 海外 (abroad, code "00"), coloured by value, with a legend. Drawn as inline SVG (no
// geometry, so no map licence to track; a square each keeps Tottori as visible as Tokyo).
// Used by the public statistics page (stats.js) and the console's analytics (console-analytics.js).
//
//   Furusato.japanTiles.render(container, values, options)  → the <svg> element
//   Furusato.japanTiles.render(container, {values, ...options})  (same, one argument)
//
//   values    {"13": 12, "11": "x", "00": 1, …}: code "00"…"47" → a count, or "x" for a
//             suppressed one (drawn hatched with "x"); a missing code is 0.
//   options   lang: "ja" | "en" (default: the page's <html lang>)
//             label: the map's accessible name (aria-label), e.g. "都道府県別のデジタル住民"
//             unit: appended to values in tooltips and the legend ("人"; "" by default)
//             legend: true (default) | false — the colour key under the map
//             highlight: a code to outline (the town's own prefecture)
//             format: function (number) → text, for values and the legend (default: 1,234)
//   The container's content is replaced. Each tile is <g class="jt-tile" data-code="13"
//   data-value="12"> with a <title> ("東京都: 12人"), so tests and screen readers can read it.
//
//   Furusato.japanTiles.LAYOUT   [{code, col, row}] — the grid (13 columns × 12 rows)
//   Furusato.japanTiles.short(code, lang) — the tile's short name ("東京", "Tky")
//   Furusato.japanTiles.classes(values) — the legend's classes [{from, to, colour}]
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const TILE = 40;
  const GAP = 3;
  const COLS = 13;
  const ROWS = 12;
  const STYLESHEET = "/css/japan-tiles.css";

  // [code, column, row]: Hokkaido top right, Okinawa bottom left, abroad in the empty corner.
  const GRID = [
    ["00", 0, 0],
    ["01", 12, 0],
    ["02", 12, 1],
    ["05", 11, 2], ["03", 12, 2],
    ["06", 11, 3], ["04", 12, 3],
    ["17", 8, 4], ["16", 9, 4], ["15", 10, 4], ["07", 11, 4],
    ["18", 7, 5], ["21", 8, 5], ["20", 9, 5], ["10", 10, 5], ["09", 11, 5], ["08", 12, 5],
    ["32", 3, 6], ["31", 4, 6], ["28", 5, 6], ["26", 6, 6], ["25", 7, 6], ["23", 8, 6], ["19", 9, 6],
    ["11", 10, 6], ["13", 11, 6], ["12", 12, 6],
    ["35", 2, 7], ["34", 3, 7], ["33", 4, 7], ["27", 5, 7], ["29", 6, 7], ["24", 7, 7], ["22", 9, 7],
    ["14", 11, 7],
    ["41", 0, 8], ["40", 1, 8], ["44", 2, 8], ["38", 3, 8], ["37", 4, 8], ["30", 6, 8],
    ["42", 0, 9], ["43", 1, 9], ["45", 2, 9], ["39", 3, 9], ["36", 4, 9],
    ["46", 1, 10],
    ["47", 0, 11],
  ];
  const SHORT_JA = ["海外", "北海道", "青森", "岩手", "宮城", "秋田", "山形", "福島", "茨城", "栃木", "群馬", "埼玉",
    "千葉", "東京", "神奈川", "新潟", "富山", "石川", "福井", "山梨", "長野", "岐阜", "静岡", "愛知", "三重", "滋賀",
    "京都", "大阪", "兵庫", "奈良", "和歌山", "鳥取", "島根", "岡山", "広島", "山口", "徳島", "香川", "愛媛", "高知",
    "福岡", "佐賀", "長崎", "熊本", "大分", "宮崎", "鹿児島", "沖縄"];
  const SHORT_EN = ["Abrd", "Hkd", "Aom", "Iwt", "Myg", "Akt", "Ygt", "Fks", "Ibr", "Tcg", "Gnm", "Stm", "Chb",
    "Tky", "Kng", "Ngt", "Tym", "Isk", "Fki", "Yns", "Ngn", "Gif", "Szo", "Aic", "Mie", "Shg", "Kyt", "Osk", "Hyg",
    "Nar", "Wky", "Ttr", "Smn", "Oky", "Hrs", "Ygc", "Tks", "Kgw", "Ehm", "Kch", "Fko", "Sag", "Ngs", "Kmm", "Oit",
    "Myz", "Kgs", "Okn"];
  const FULL_JA = ["海外", "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
    "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県",
    "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県",
    "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県"];
  const FULL_EN = ["Outside Japan", "Hokkaido", "Aomori", "Iwate", "Miyagi", "Akita", "Yamagata", "Fukushima",
    "Ibaraki", "Tochigi", "Gunma", "Saitama", "Chiba", "Tokyo", "Kanagawa", "Niigata", "Toyama", "Ishikawa", "Fukui",
    "Yamanashi", "Nagano", "Gifu", "Shizuoka", "Aichi", "Mie", "Shiga", "Kyoto", "Osaka", "Hyogo", "Nara", "Wakayama",
    "Tottori", "Shimane", "Okayama", "Hiroshima", "Yamaguchi", "Tokushima", "Kagawa", "Ehime", "Kochi", "Fukuoka",
    "Saga", "Nagasaki", "Kumamoto", "Oita", "Miyazaki", "Kagoshima", "Okinawa"];
  // Light to dark, after the site's green; the darkest classes take white text.
  const COLOURS = ["#dcefe6", "#a9d6c1", "#6fb597", "#3a8c6c", "#1d5e45"];
  const ZERO = "#f3f1ea";
  const SUPPRESSED = "#c9c6bd";
  const TEXT = {
    ja: { zero: "0", x: "x（少数のため非表示）", legend: "凡例" },
    en: { zero: "0", x: "x (too few to show)", legend: "Legend" },
  };

  function langOf(lang) {
    if (lang === "en" || lang === "ja") return lang;
    return document.documentElement.lang === "en" ? "en" : "ja";
  }

  function short(code, lang) {
    return (langOf(lang) === "en" ? SHORT_EN : SHORT_JA)[parseInt(code, 10)] || code;
  }

  function full(code, lang) {
    return (langOf(lang) === "en" ? FULL_EN : FULL_JA)[parseInt(code, 10)] || code;
  }

  function plain(number) {
    return Number(number).toLocaleString("ja-JP");
  }

  function numeric(value) {
    return typeof value === "number" && isFinite(value) ? value : 0;
  }

  // Up to five classes of equal width over the smallest to the largest value shown, with
  // whole-number bounds; fewer when the values are few (1…3 gives three classes, not five of
  // width 0.6). Starting at the smallest shown value keeps a public map, where nothing under
  // the threshold is shown, from a legend class that no tile can have.
  function classes(values) {
    let max = 0;
    let min = Infinity;
    Object.keys(values || {}).forEach(function (code) {
      const number = numeric(values[code]);
      if (number > 0) {
        max = Math.max(max, number);
        min = Math.min(min, number);
      }
    });
    if (max <= 0) return [];
    const whole = Object.keys(values).every(function (code) { return Number.isInteger(numeric(values[code])); });
    if (!whole) {
      // Shares or rates: five equal classes over min…max, bounds as they fall.
      const step = (max - min) / COLOURS.length || max;
      return COLOURS.map(function (colour, index) {
        return { from: min + step * index, to: index === COLOURS.length - 1 ? max : min + step * (index + 1), colour: colour };
      });
    }
    const low = Math.floor(min);
    const span = Math.ceil(max) - low + 1;
    const count = Math.min(COLOURS.length, span);
    const result = [];
    let from = low;
    for (let index = 0; index < count; index++) {
      const to = index === count - 1 ? max : low - 1 + Math.round(span * (index + 1) / count);
      if (to < from) continue;
      const shade = count === 1 ? 2 : Math.round(index * (COLOURS.length - 1) / (count - 1));
      result.push({ from: from, to: to, colour: COLOURS[shade] });
      from = to + 1;
    }
    return result;
  }

  function colourOf(value, bands) {
    if (value === "x") return SUPPRESSED;
    const number = numeric(value);
    if (number <= 0) return ZERO;
    for (let index = 0; index < bands.length; index++) {
      if (number <= bands[index].to) return bands[index].colour;
    }
    return COLOURS[COLOURS.length - 1];
  }

  function dark(colour) {
    return colour === COLOURS[3] || colour === COLOURS[4];
  }

  function el(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    Object.keys(attributes || {}).forEach(function (key) { node.setAttribute(key, String(attributes[key])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function ensureStylesheet() {
    if (document.querySelector('link[href="' + STYLESHEET + '"]')) return;
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = STYLESHEET;
    document.head.appendChild(link);
  }

  function hatch(svg, id) {
    const defs = el("defs");
    const pattern = el("pattern", { id: id, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
    pattern.appendChild(el("rect", { width: 6, height: 6, fill: SUPPRESSED }));
    pattern.appendChild(el("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#a7a399", "stroke-width": 2 }));
    defs.appendChild(pattern);
    svg.appendChild(defs);
  }

  let serial = 0;

  function render(container, values, options) {
    let opts = options;
    let data = values;
    if (opts === undefined && values && typeof values === "object" && Object.prototype.hasOwnProperty.call(values, "values")) {
      opts = values;
      data = values.values;
    }
    opts = opts || {};
    data = data || {};
    const lang = langOf(opts.lang);
    const words = TEXT[lang];
    const unit = opts.unit || "";
    const format = typeof opts.format === "function" ? opts.format : plain;
    const bands = classes(data);
    ensureStylesheet();

    serial += 1;
    const hatchId = "jt-hatch-" + serial;
    const width = COLS * TILE + (COLS - 1) * GAP;
    const height = ROWS * TILE + (ROWS - 1) * GAP;
    const svg = el("svg", {
      class: "jt-map",
      viewBox: "0 0 " + width + " " + height,
      role: "img",
      "aria-label": opts.label || (lang === "en" ? "Map of Japan by prefecture" : "都道府県別の地図"),
      preserveAspectRatio: "xMidYMid meet",
    });
    hatch(svg, hatchId);
    GRID.forEach(function (place) {
      const code = place[0];
      const value = Object.prototype.hasOwnProperty.call(data, code) ? data[code] : 0;
      const shown = value === "x" ? "x" : format(numeric(value));
      const colour = colourOf(value, bands);
      const x = place[1] * (TILE + GAP);
      const y = place[2] * (TILE + GAP);
      const group = el("g", {
        class: "jt-tile" + (value === "x" ? " jt-suppressed" : numeric(value) > 0 ? "" : " jt-zero")
          + (code === "00" ? " jt-abroad" : "") + (opts.highlight === code ? " jt-highlight" : ""),
        "data-code": code,
        "data-value": value === "x" ? "x" : String(numeric(value)),
      });
      group.appendChild(el("title", {}, full(code, lang) + ": " + (value === "x" ? words.x : shown + unit)));
      group.appendChild(el("rect", {
        x: x, y: y, width: TILE, height: TILE, rx: 4,
        fill: value === "x" ? "url(#" + hatchId + ")" : colour,
        stroke: opts.highlight === code ? "#1f2a24" : code === "00" ? "#8c887d" : "#ffffff",
        "stroke-width": opts.highlight === code ? 2.5 : 1,
        "stroke-dasharray": code === "00" ? "3 2" : "none",
      }));
      const ink = dark(colour) && value !== "x" ? "#ffffff" : "#1f2a24";
      const name = short(code, lang);
      group.appendChild(el("text", {
        class: "jt-name", x: x + TILE / 2, y: y + 15, "text-anchor": "middle",
        "font-size": name.length >= 3 ? 9 : 11, fill: ink,
      }, name));
      group.appendChild(el("text", {
        class: "jt-value", x: x + TILE / 2, y: y + 32, "text-anchor": "middle",
        "font-size": shown.length > 4 ? 9 : 12, "font-weight": 700, fill: ink,
      }, shown));
      svg.appendChild(group);
    });

    const parts = [svg];
    if (opts.legend !== false) parts.push(legend(bands, words, unit, format, lang));
    const wrapper = document.createElement("div");
    wrapper.className = "jt";
    parts.forEach(function (part) { wrapper.appendChild(part); });
    container.replaceChildren(wrapper);
    return svg;
  }

  function legend(bands, words, unit, format, lang) {
    const list = document.createElement("ul");
    list.className = "jt-legend";
    list.setAttribute("aria-label", words.legend);
    function item(colour, text, hatched) {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "jt-swatch" + (hatched ? " jt-swatch-x" : "");
      swatch.style.background = hatched
        ? "repeating-linear-gradient(45deg, " + SUPPRESSED + " 0 3px, #a7a399 3px 5px)"
        : colour;
      swatch.setAttribute("aria-hidden", "true");
      li.appendChild(swatch);
      li.appendChild(document.createTextNode(text));
      list.appendChild(li);
    }
    item(ZERO, words.zero + unit, false);
    bands.forEach(function (band) {
      const text = band.from === band.to ? format(band.from) : format(band.from) + "–" + format(band.to);
      item(band.colour, text + unit, false);
    });
    item(SUPPRESSED, words.x, true);
    list.dataset.lang = lang;
    return list;
  }

  window.Furusato = window.Furusato || {};
  window.Furusato.japanTiles = {
    render: render,
    classes: classes,
    short: short,
    name: full,
    LAYOUT: GRID.map(function (place) { return { code: place[0], col: place[1], row: place[2] }; }),
  };
})();
