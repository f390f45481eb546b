// Fills the town page from GET /api/v1/municipalities (?town=slug picks one town) and lists
// the town's drops from GET /api/v1/drops?municipality=slug and its parks (their naming
// rights) from GET /api/v1/parks?municipality=slug. A campaign code (?c=) is carried through
// to the drop pages.
"use strict";
(function () {
  const F = window.Furusato;
  let town = null;
  let drops = [];
  let parks = [];

  F.i18n.define({
    ja: {
      "drops.remaining": "残り {remaining} / {supply} 枚",
      "drops.lottery": "{supply} 枚を抽選",
      "parks.auction": "命名権のオークションあり",
      "parks.named": "命名権: {holder}",
      "parks.default": "本来の名前: {name}",
    },
    en: {
      "drops.heading": "Digital resident cards on sale",
      "drops.empty": "No cards are on sale right now.",
      "drops.remaining": "{remaining} of {supply} left",
      "drops.lottery": "{supply} cards by lottery",
      "parks.heading": "Park naming rights",
      "parks.lead": "The right to name a town park for a term. The winner of the auction proposes a name, and the town checks it.",
      "parks.auction": "Naming rights auction",
      "parks.named": "Right held by {holder}",
      "parks.default": "Default name: {name}",
      "stats.heading": "Relationship population in figures",
      "stats.lead": "Where the digital residents live and how often they come to the town: the figures the town publishes (small counts withheld).",
      "stats.open": "See the figures",
    },
  });

  function dropHref(drop) {
    const params = new URLSearchParams({ id: String(drop.id) });
    const campaign = new URLSearchParams(location.search).get("c");
    if (campaign) params.set("c", campaign);
    return "/drop.html?" + params.toString();
  }

  function renderDrops(lang) {
    const list = document.getElementById("drop-list");
    const en = lang === "en";
    list.replaceChildren();
    drops.forEach(function (drop) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.className = "drop-card";
      link.href = dropHref(drop);
      const title = document.createElement("span");
      title.className = "drop-title";
      title.textContent = en ? drop.title_en : drop.title_ja;
      const badge = document.createElement("span");
      const shown = F.util.shownStatus(drop);
      badge.className = "badge badge-" + shown;
      badge.textContent = F.i18n.t("status." + shown);
      const price = document.createElement("span");
      price.className = "drop-price";
      price.textContent = F.util.yen(drop.price_jpy);
      const stock = document.createElement("span");
      stock.className = "drop-stock";
      // A lottery's stock says nothing before the draw: it shows how many cards are drawn.
      stock.textContent = F.i18n.t(drop.sale_mode === "lottery" ? "drops.lottery" : "drops.remaining", {
        remaining: drop.remaining.toLocaleString("ja-JP"),
        supply: drop.supply.toLocaleString("ja-JP"),
      });
      link.append(badge, title, price, stock);
      item.append(link);
      list.append(item);
    });
    document.getElementById("drops-empty").hidden = drops.length > 0;
  }

  function renderParks(lang) {
    const list = document.getElementById("park-list");
    const en = lang === "en";
    list.replaceChildren();
    parks.forEach(function (park) {
      const link = document.createElement("a");
      link.className = "park-card";
      link.href = "/parks/" + encodeURIComponent(park.id);
      const name = document.createElement("span");
      name.className = "park-card-name";
      const renamed = park.current_name && park.current_name !== park.default_name;
      name.textContent = en && !renamed ? park.name_en || park.default_name : park.current_name || park.default_name;
      link.append(name);
      if (renamed) {
        const original = document.createElement("span");
        original.className = "muted";
        original.textContent = F.i18n.t("parks.default", { name: park.default_name });
        link.append(original);
      }
      if (park.auction_lot_id) {
        const badge = document.createElement("span");
        badge.className = "badge badge-lot-open";
        badge.textContent = F.i18n.t("parks.auction");
        link.prepend(badge);
      }
      if (park.holder) {
        const holder = document.createElement("span");
        holder.className = "muted";
        holder.textContent = F.i18n.t("parks.named", { holder: en ? park.holder.replace(/^保有者\s*/, "Holder ") : park.holder });
        link.append(holder);
      }
      const item = document.createElement("li");
      item.append(link);
      list.append(item);
    });
    document.getElementById("parks-section").hidden = parks.length === 0;
  }

  function render(lang) {
    if (!town) return;
    const en = lang === "en";
    document.getElementById("town-name").textContent = en ? town.name_en : town.name_ja;
    document.getElementById("town-prefecture").textContent = F.prefectures.name(town.prefecture, lang);
    document.getElementById("town-description").textContent = en ? town.description_en : town.description_ja;
    document.title = en ? town.name_en + " digital resident card | Furusato" : town.name_ja + "のデジタル住民票 | ふるさと";
    renderDrops(lang);
    renderParks(lang);
  }

  // The town's look, set in the console's settings: its colour becomes the page's accent,
  // its logo (a data: URL, never a remote address) stands above its name.
  function applyLook() {
    if (/^#[0-9a-fA-F]{6}$/.test(town.brand_colour || "")) {
      document.documentElement.style.setProperty("--accent", town.brand_colour);
    }
    const logo = document.getElementById("town-logo");
    if (/^data:image\/(png|svg\+xml);base64,/.test(town.logo_data_url || "")) {
      logo.src = town.logo_data_url;
      logo.alt = town.name_ja;
      logo.hidden = false;
    }
  }

  async function load() {
    const wanted = new URLSearchParams(location.search).get("town");
    const towns = await F.util.api("GET", "/api/v1/municipalities?limit=100");
    if (!towns.ok) return;
    town = towns.body.items.find(function (t) { return t.slug === wanted; }) || towns.body.items[0] || null;
    if (!town) return;
    applyLook();
    document.getElementById("stats-link").href = "/towns/" + encodeURIComponent(town.slug) + "/stats";
    F.i18n.setJapanese(document.getElementById("town-name"), town.name_ja);
    F.i18n.setJapanese(document.getElementById("town-description"), town.description_ja);
    const found = await F.util.api("GET", "/api/v1/drops?limit=100&municipality=" + encodeURIComponent(town.slug));
    drops = found.ok ? found.body.items : [];
    const named = await F.util.api("GET", "/api/v1/parks?limit=100&municipality=" + encodeURIComponent(town.slug));
    parks = named.ok && named.body && Array.isArray(named.body.items) ? named.body.items : [];
    render(F.i18n.current());
    document.body.dataset.town = town.slug;
  }

  document.addEventListener("DOMContentLoaded", function () {
    F.i18n.onChange(render);
    load();
  });
})();
