// Japanese first, English on request. Texts live in the HTML in Japanese (readable without
// JavaScript); this swaps elements marked data-i18n="key" to the chosen language and
// remembers the choice. Other scripts call Furusato.i18n.onChange(fn) to re-render,
// Furusato.i18n.define({en: {...}, ja: {...}}) to add their own texts (before DOMContentLoaded),
// and Furusato.i18n.t(key, {name: value}) for texts they build themselves.
"use strict";
(function () {
  const messages = {
    // Texts several pages build (the naming pages and the town page): the lot's status.
    ja: {
      "lotstatus.scheduled": "開始前",
      "lotstatus.open": "入札受付中",
      "lotstatus.ended": "入札締め切り",
      "lotstatus.awaiting_payment": "落札・支払い待ち",
      "lotstatus.awarded": "落札済み",
      "lotstatus.unsold": "落札なし",
    },
    en: {
      "lotstatus.scheduled": "Not started",
      "lotstatus.open": "Open for bids",
      "lotstatus.ended": "Bidding closed",
      "lotstatus.awaiting_payment": "Won, awaiting payment",
      "lotstatus.awarded": "Won",
      "lotstatus.unsold": "Not sold",
      "page.title": "Digital resident card | Furusato",
      "brand": "Furusato",
      "hero.eyebrow": "A digital resident card that builds relationships with a town",
      "hero.town": "Our town",
      "hero.card": " digital resident card",
      "hero.lead": "Belong to the town wherever you live. Card holders receive the town's benefits and help decide the town's future.",
      "features.heading": "What your digital resident card does",
      "features.buy.title": "Buy in yen, simply",
      "features.buy.body": "No wallet or crypto needed. Buy with just an email address and receive a card with your resident number.",
      "features.benefit.title": "Town benefits",
      "features.benefit.body": "Show your card's pass from My cards at shops and facilities to receive residents' benefits (a free bath once a month at the hot spring, say).",
      "features.vote.title": "Take part in the town",
      "features.vote.body": "Vote in the town's polls, one vote per card. Bid in the auction of a town park's naming right with just an email address; win it, and you propose the park's name for the term.",
      "footer.note": "Furusato — open-source software for towns to run digital resident cards and park naming rights themselves",
    },
  };
  const original = new Map();
  const listeners = [];
  const STORAGE_KEY = "furusato.lang";

  function current() {
    const fromUrl = new URLSearchParams(location.search).get("lang");
    if (fromUrl === "en" || fromUrl === "ja") return fromUrl;
    try {
      return localStorage.getItem(STORAGE_KEY) === "en" ? "en" : "ja";
    } catch (e) {
      return "ja";
    }
  }

  function apply(lang) {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach(function (el) {
      const key = el.dataset.i18n;
      if (!original.has(el)) original.set(el, el.textContent);
      const text = lang === "ja" ? original.get(el) : (messages[lang] || {})[key];
      if (text !== undefined) el.textContent = text;
    });
    const button = document.getElementById("lang-switch");
    if (button) {
      button.textContent = lang === "ja" ? "English" : "日本語";
      button.lang = lang === "ja" ? "en" : "ja";
    }
    listeners.forEach(function (fn) { fn(lang); });
  }

  function set(lang) {
    try { localStorage.setItem(STORAGE_KEY, lang); } catch (e) { /* private mode */ }
    apply(lang);
  }

  window.Furusato = window.Furusato || {};
  window.Furusato.i18n = {
    current: function () { return document.documentElement.lang === "en" ? "en" : "ja"; },
    onChange: function (fn) { listeners.push(fn); },
    // Remember an element's Japanese text after a script filled it in.
    setJapanese: function (el, text) { original.set(el, text); },
    define: function (more) {
      Object.keys(more).forEach(function (lang) {
        messages[lang] = Object.assign(messages[lang] || {}, more[lang]);
      });
    },
    // The text for `key` in the current language ({name} placeholders filled from `vars`).
    t: function (key, vars) {
      const lang = window.Furusato.i18n.current();
      const text = (messages[lang] || {})[key] ?? (messages.ja || {})[key] ?? key;
      return text.replace(/\{(\w+)\}/g, function (whole, name) {
        return vars && vars[name] !== undefined ? String(vars[name]) : whole;
      });
    },
  };

  document.addEventListener("DOMContentLoaded", function () {
    const button = document.getElementById("lang-switch");
    if (button) button.addEventListener("click", function () {
      set(window.Furusato.i18n.current() === "ja" ? "en" : "ja");
    });
    apply(current());
  });
})();
