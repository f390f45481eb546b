// One park in the console (park.html?id=N[&lot=M]): its facts and sign, its lots (one per
// term) with their state, and for the lot opened: the bidders (pseudonym and prefecture),
// the bids, the award log (offers) and the chain record; an unsold lot can be relisted with a
// new auction window. Editors also change the park's texts and photo here.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const EDIT_FIELDS = ["name_ja", "name_en", "description_ja", "description_en", "location_ja", "photo_data_url"];
  const RELIST_FIELDS = ["relist_start", "relist_end", "relist_reserve"];
  const params = new URLSearchParams(location.search);
  let park = null;
  let lot = null;
  let photo = "";
  let errors = {};
  let poll = null;

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function day(iso) { return C.time.format(iso).slice(0, 10); }

  function duration(seconds) {
    return seconds % 60 === 0 ? t("cpark.minutes", { n: seconds / 60 }) : t("cpark.seconds", { n: seconds });
  }

  function kv(list, pairs) {
    list.replaceChildren();
    pairs.forEach(function (pair) {
      if (pair[1] === null || pair[1] === undefined || pair[1] === "") return;
      const value = pair[1] instanceof Node ? pair[1] : C.make("span", { className: pair[2] || "", text: String(pair[1]) });
      list.append(C.make("dt", { text: t(pair[0]) }), C.make("dd", {}, [value]));
    });
  }

  function table(headers, rows, empty) {
    if (!rows.length) return C.make("p", { className: "empty", text: t(empty) });
    return C.make("table", { className: "list" }, [
      C.make("thead", {}, [C.make("tr", {}, headers.map(function (h) {
        return C.make("th", { scope: "col", className: h[1] || "", text: t(h[0]) });
      }))]),
      C.make("tbody", {}, rows.map(function (row) {
        return C.make("tr", {}, row.map(function (value, i) {
          return cell(t(headers[i][0]), [value === null || value === undefined ? "—" : value], headers[i][1] || "");
        }));
      })),
    ]);
  }

  // ----- the park -----

  function renderPark() {
    const en = F.i18n.current() === "en";
    C.el("park-heading").textContent = en ? park.name_en || park.name_ja : park.name_ja;
    delete C.el("park-heading").dataset.i18n;
    document.title = (en ? park.name_en || park.name_ja : park.name_ja) + t("cpark.title_suffix");
    const img = C.el("park-photo");
    img.hidden = !park.photo_data_url;
    if (park.photo_data_url) {
      img.src = park.photo_data_url;
      img.alt = t("f.photo.alt");
    }
    kv(C.el("park-facts"), [
      ["f.park_name_ja", park.name_ja],
      ["f.park_name_en", park.name_en],
      ["f.location_ja", park.location_ja],
      ["f.description_ja", park.description_ja],
    ]);
    const pub = C.el("park-public");
    pub.href = "/parks/" + park.id;
    pub.hidden = false;
    const actions = C.el("park-actions");
    actions.replaceChildren(
      C.make("a", { className: "button secondary small", href: C.townPath("parks/" + park.id + "/sign.pdf?size=A3"), download: "sign-park-" + park.id + "-A3.pdf", text: t("parks.sign_a3") }),
      C.make("a", { className: "button secondary small", href: C.townPath("parks/" + park.id + "/sign.pdf?size=A2"), download: "sign-park-" + park.id + "-A2.pdf", text: t("parks.sign_a2") }),
    );
    if (C.can(["owner", "editor"])) {
      actions.append(C.make("a", { className: "button primary small", href: C.page("parks", { park: park.id }) + "#lot-form", text: t("parks.open_lot") }));
    }
    renderLots();
  }

  function renderLots() {
    const lots = park.lots || [];
    C.el("lots-table").hidden = !lots.length;
    C.el("lots-empty").hidden = !!lots.length;
    C.el("lots-rows").replaceChildren.apply(C.el("lots-rows"), lots.map(function (item) {
      const open = C.make("button", { type: "button", className: "secondary small", text: t("cpark.lot.open") });
      open.addEventListener("click", function () { openLot(item.id, true); });
      const row = C.make("tr", { id: "lot-" + item.id }, [
        cell(t("col.term"), [day(item.term_start) + " 〜 " + day(item.term_end)]),
        cell(t("col.status"), [C.statusBadge("lstatus", item.status)]),
        cell(t("col.auction"), [C.time.format(item.auction_start) + " 〜 " + C.time.format(item.ends_at)]),
        cell(t("col.bids"), [item.bid_count ? t("parks.bids", { n: C.count(item.bid_count), amount: C.yen(item.highest_bid_jpy) }) : "0"], "num"),
        cell(t("col.actions"), [open], "wide"),
      ]);
      if (lot && lot.id === item.id) row.setAttribute("aria-current", "true");
      return row;
    }));
  }

  // ----- one lot -----

  function renderLot() {
    const box = C.el("lot-detail");
    box.hidden = !lot;
    if (!lot) return;
    C.el("lot-detail-heading").textContent = t("cpark.lot.heading", { start: day(lot.term_start), end: day(lot.term_end) });
    const chain = lot.chain || {};
    const chainText = t("cchain." + chain.state) + (chain.error ? "（" + chain.error + "）" : "");
    kv(C.el("lot-facts"), [
      ["col.status", C.statusBadge("lstatus", lot.status)],
      ["f.term", day(lot.term_start) + " 〜 " + day(lot.term_end)],
      ["f.auction", C.time.format(lot.auction_start) + " 〜 " + C.time.format(lot.ends_at)],
      ["cpark.extended", lot.ends_at !== lot.auction_end ? t("cpark.extended.value", { at: C.time.format(lot.auction_end) }) : ""],
      ["f.reserve_jpy", C.yen(lot.reserve_jpy)],
      ["f.min_increment_jpy", lot.min_increment_jpy ? C.yen(lot.min_increment_jpy) : t("cpark.default_step")],
      ["cpark.soft_close", t("cpark.soft_close.value", { soft: duration(lot.soft_close_seconds), ext: duration(lot.extension_seconds) })],
      ["cpark.highest", lot.highest_bid_jpy ? C.yen(lot.highest_bid_jpy) : t("cpark.no_bids")],
      ["cpark.minimum", lot.status === "open" || lot.status === "scheduled" ? C.yen(lot.minimum_bid_jpy) : ""],
      ["cpark.relisted", lot.relist_count ? t("cpark.relisted.value", { n: lot.relist_count }) : ""],
      ["cpark.chain", chainText],
      ["cpark.contract", chain.contract, "mono"],
      ["cpark.chain_lot", chain.lot_id],
      ["cpark.awarded_to", lot.awarded_to, "mono"],
      ["cpark.award_tx", chain.award_tx_hash, "mono"],
    ]);
    const auction = C.make("a", { href: "/lots/" + lot.id, target: "_blank", rel: "noopener", text: t("parks.auction_page") });
    C.el("lot-facts").append(C.make("dt", { text: t("cpark.page") }), C.make("dd", {}, [auction]));

    C.el("relist-form").hidden = !(lot.status === "unsold" && C.can(["owner", "editor"]));
    C.el("lot-bidders").replaceChildren(table(
      [["col.bidder"], ["col.prefecture"], ["col.payment"], ["col.highest", "num"], ["col.registered"]],
      (lot.bidders || []).map(function (b) {
        return [b.bidder, F.prefectures.name(b.prefecture, F.i18n.current()),
          t("cpay." + b.payment_method) + (b.payment_state === "pending" ? t("cpark.card_pending") : ""),
          C.yen(b.highest_bid_jpy), C.time.format(b.registered_at)];
      }),
      "cpark.bidders.empty",
    ));
    C.el("lot-offers").replaceChildren(table(
      [["col.round", "num"], ["col.bidder"], ["col.amount", "num"], ["col.status"], ["col.deadline"], ["col.at"]],
      (lot.offers || []).map(function (o) {
        const state = C.make("div", {}, [C.statusBadge("coffer", o.state)]);
        if (o.charge_error) state.append(C.make("div", { className: "hint", text: t("cpark.charge_error", { code: o.charge_error }) }));
        return [String(o.round), o.bidder, C.yen(o.amount_jpy), state, o.pay_deadline ? C.time.format(o.pay_deadline) : "—", C.time.format(o.at)];
      }),
      "cpark.offers.empty",
    ));
    C.el("lot-bids").replaceChildren(table(
      [["col.seq", "num"], ["col.bidder"], ["col.amount", "num"], ["col.at"], ["col.ends_after"]],
      (lot.bids || []).map(function (b) {
        return [String(b.seq), b.bidder, C.yen(b.amount_jpy), C.time.format(b.at), C.time.format(b.ends_at)];
      }),
      "cpark.no_bids",
    ));
    renderErrors();
  }

  async function openLot(id, focus) {
    const found = await C.townApi("GET", "lots/" + encodeURIComponent(id));
    if (!found.ok) return C.say("park-message", C.errorText(found), "error");
    lot = found.body;
    renderLots();
    renderLot();
    if (focus) C.el("lot-detail").focus();
    const url = new URL(location.href);
    url.searchParams.set("lot", String(id));
    history.replaceState(null, "", url.pathname + url.search);
    clearTimeout(poll);
    // While the chain or the settle job is still working on it, look again.
    if (lot.chain && lot.chain.state === "creating" || ["open", "ended", "awaiting_payment"].indexOf(lot.status) >= 0) {
      poll = setTimeout(function () { openLot(id, false); }, 5000);
    }
  }

  // ----- relist -----

  function renderErrors() {
    EDIT_FIELDS.concat(RELIST_FIELDS).forEach(function (name) { C.fieldMessage(name, errors[name] ? t(errors[name]) : ""); });
  }

  async function relist(event) {
    event.preventDefault();
    const body = {
      auction_start: C.time.fromInput(C.el("relist_start").value),
      auction_end: C.time.fromInput(C.el("relist_end").value),
    };
    const reserve = C.el("relist_reserve").value.replace(/[,，\s円¥￥]/g, "");
    errors = {};
    if (!body.auction_start) errors.relist_start = "v.required";
    if (!body.auction_end) errors.relist_end = "v.required";
    else if (body.auction_start && Date.parse(body.auction_end) <= Date.parse(body.auction_start)) errors.relist_end = "v.auction_after_start";
    else if (Date.parse(body.auction_end) <= Date.now()) errors.relist_end = "v.auction_future";
    if (reserve) {
      if (/^\d{1,9}$/.test(reserve) && Number(reserve) >= 1) body.reserve_jpy = Number(reserve);
      else errors.relist_reserve = "v.reserve";
    }
    renderErrors();
    const first = RELIST_FIELDS.find(function (name) { return errors[name]; });
    if (first) return C.el(first).focus();
    C.el("relist-submit").disabled = true;
    const done = await C.townApi("POST", "lots/" + encodeURIComponent(lot.id) + "/relist", { json: body });
    C.el("relist-submit").disabled = false;
    if (!done.ok) {
      const named = C.fieldErrors(done);
      if (named.auction_start) errors.relist_start = "v.lot.auction_start";
      if (named.auction_end) errors.relist_end = "v.lot.auction_end";
      if (named.reserve_jpy) errors.relist_reserve = "v.reserve";
      renderErrors();
      if (Object.keys(errors).length) return C.el(Object.keys(errors)[0]).focus();
      return C.say("relist-error", C.errorText(done), "error");
    }
    C.say("relist-error", "");
    C.say("park-message", t("cpark.relisted.done"), "success");
    await loadPark();
    await openLot(lot.id, false);
    C.el("park-message").focus();
  }

  // ----- edit -----

  function fillEdit() {
    ["name_ja", "name_en", "description_ja", "description_en", "location_ja"].forEach(function (name) { C.el(name).value = park[name] || ""; });
    photo = park.photo_data_url || "";
    C.el("photo-remove").hidden = !photo;
  }

  async function pickPhoto() {
    const file = C.el("photo").files[0];
    delete errors.photo_data_url;
    renderErrors();
    if (!file) return;
    const read = await C.readPhoto(file);
    if (read.error) {
      errors.photo_data_url = read.error;
      C.el("photo").value = "";
      return renderErrors();
    }
    photo = read.dataUrl;
    C.el("photo-remove").hidden = false;
  }

  async function save(event) {
    event.preventDefault();
    const patch = {};
    ["name_ja", "name_en", "description_ja", "description_en", "location_ja"].forEach(function (name) {
      const value = C.el(name).value.trim();
      if (value !== (park[name] || "")) patch[name] = value;
    });
    if (photo !== (park.photo_data_url || "")) patch.photo_data_url = photo;
    errors = {};
    if (patch.name_ja !== undefined && !patch.name_ja) errors.name_ja = "v.required";
    else if (patch.name_ja && new TextEncoder().encode(patch.name_ja).length > 64) errors.name_ja = "v.park_name_ja";
    if (patch.name_en !== undefined && !patch.name_en) errors.name_en = "v.required";
    renderErrors();
    const first = EDIT_FIELDS.find(function (name) { return errors[name]; });
    if (first) return C.el(first).focus();
    if (!Object.keys(patch).length) return C.say("park-message", t("settings.nothing"), "");
    C.el("edit-submit").disabled = true;
    const done = await C.townApi("PATCH", "parks/" + encodeURIComponent(park.id), { json: patch });
    C.el("edit-submit").disabled = false;
    if (!done.ok) {
      const named = C.fieldErrors(done);
      Object.keys(named).forEach(function (name) { if (EDIT_FIELDS.indexOf(name) >= 0) errors[name] = "v.park." + name; });
      renderErrors();
      const bad = EDIT_FIELDS.find(function (name) { return errors[name]; });
      if (bad) return C.el(bad === "photo_data_url" ? "photo" : bad).focus();
      return C.say("edit-error", C.errorText(done), "error");
    }
    C.say("edit-error", "");
    await loadPark();
    C.say("park-message", t("cpark.saved"), "success");
    C.el("park-message").focus();
  }

  async function loadPark() {
    const found = await C.townApi("GET", "parks/" + encodeURIComponent(params.get("id") || ""));
    if (!found.ok) {
      C.fail(found);
      return false;
    }
    park = found.body;
    renderPark();
    fillEdit();
    return true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("parks", async function () {
      C.el("back-to-parks").href = C.page("parks");
      if (!/^\d+$/.test(params.get("id") || "")) return C.fail({ status: 404, body: null });
      C.el("edit-form").hidden = !C.can(["owner", "editor"]);
      C.el("edit-form").addEventListener("submit", save);
      C.el("relist-form").addEventListener("submit", relist);
      C.el("photo").addEventListener("change", pickPhoto);
      C.el("photo-remove").addEventListener("click", function () { photo = ""; C.el("photo").value = ""; C.el("photo-remove").hidden = true; });
      [C.el("edit-form"), C.el("relist-form")].forEach(function (form) {
        form.addEventListener("input", function (event) {
          const name = event.target.id;
          if (errors[name]) { delete errors[name]; renderErrors(); }
        });
      });
      const start = Math.ceil(Date.now() / 60000) * 60000 + 5 * 60000;
      C.el("relist_start").value = C.time.toInput(new Date(start).toISOString());
      C.el("relist_end").value = C.time.toInput(new Date(start + 10 * 24 * 3600 * 1000).toISOString());
      F.i18n.onChange(function () { if (park) renderPark(); renderLot(); });
      if (!(await loadPark())) return;
      const wanted = params.get("lot") || ((park.lots || [])[0] || {}).id;
      if (wanted) openLot(wanted, false);
    }, ["owner", "editor", "moderator", "analyst"]);
  });
})();
