// Fills the town page from GET /api/v1/municipalities (?town=slug picks one town).
"use strict";
(function () {
  const PREFECTURES_JA = ["海外", "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
    "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県",
    "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県",
    "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県"];
  const PREFECTURES_EN = ["Outside Japan", "Hokkaido", "Aomori", "Iwate", "Miyagi", "Akita", "Yamagata", "Fukushima",
    "Ibaraki", "Tochigi", "Gunma", "Saitama", "Chiba", "Tokyo", "Kanagawa", "Niigata", "Toyama", "Ishikawa", "Fukui",
    "Yamanashi", "Nagano", "Gifu", "Shizuoka", "Aichi", "Mie", "Shiga", "Kyoto", "Osaka", "Hyogo", "Nara", "Wakayama",
    "Tottori", "Shimane", "Okayama", "Hiroshima", "Yamaguchi", "Tokushima", "Kagawa", "Ehime", "Kochi", "Fukuoka",
    "Saga", "Nagasaki", "Kumamoto", "Oita", "Miyazaki", "Kagoshima", "Okinawa"];
  let town = null;

  function render(lang) {
    if (!town) return;
    const en = lang === "en";
    const code = parseInt(town.prefecture, 10);
    document.getElementById("town-name").textContent = en ? town.name_en : town.name_ja;
    document.getElementById("town-prefecture").textContent = en ? PREFECTURES_EN[code] : PREFECTURES_JA[code];
    document.getElementById("town-description").textContent = en ? town.description_en : town.description_ja;
    document.title = en ? town.name_en + " digital resident card | Furusato" : town.name_ja + "のデジタル住民票 | ふるさと";
  }

  async function load() {
    const wanted = new URLSearchParams(location.search).get("town");
    const response = await fetch("/api/v1/municipalities?limit=100");
    if (!response.ok) return;
    const page = await response.json();
    town = page.items.find(function (t) { return t.slug === wanted; }) || page.items[0] || null;
    if (!town) return;
    const i18n = window.Furusato.i18n;
    i18n.setJapanese(document.getElementById("town-name"), town.name_ja);
    i18n.setJapanese(document.getElementById("town-description"), town.description_ja);
    render(i18n.current());
    document.body.dataset.town = town.slug;
  }

  document.addEventListener("DOMContentLoaded", function () {
    window.Furusato.i18n.onChange(render);
    load();
  });
})();
