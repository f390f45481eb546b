// The town's drops: state, price, sales so far and window, with the next step for each
// (finish a draft, pause or resume a live sale, make a poster). A drop being published is
// re-read every two seconds until its series is confirmed or the publish failed.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  const LIMIT = 20;
  let page = { items: [], total: 0, offset: 0 };
  let poll = null;

  function window_(drop) {
    return C.time.format(drop.starts_at) + " 〜 " + (drop.ends_at ? C.time.format(drop.ends_at) : t("drops.until_sold_out"));
  }

  function cell(label, children, className) {
    return C.make("td", { "data-label": label, className: className }, children);
  }

  function actions(drop) {
    const box = C.make("div", { className: "row-actions" });
    const edit = C.make("a", {
      className: "button secondary small", href: C.page("drop", { id: drop.id }),
      text: drop.status === "draft" ? t("drops.finish") : t("drops.edit"),
    });
    box.append(edit);
    if (drop.status === "live") {
      box.append(stateButton(drop, "pause"));
      box.append(C.make("a", { className: "button secondary small", href: C.page("campaigns", { drop_id: drop.id }), text: t("drops.poster") }));
      box.append(C.make("a", { href: "/drop.html?id=" + drop.id, target: "_blank", rel: "noopener", text: t("drops.public_page") }));
    }
    if (drop.status === "paused") {
      box.append(stateButton(drop, "resume"));
      box.append(C.make("a", { href: "/drop.html?id=" + drop.id, target: "_blank", rel: "noopener", text: t("drops.public_page") }));
    }
    if (C.can(["owner", "analyst"])) {
      box.append(C.make("a", { href: C.page("audit", { target_type: "drop", target_id: drop.id }), text: t("common.history") }));
    }
    return box;
  }

  function stateButton(drop, action) {
    const button = C.make("button", { type: "button", className: "secondary small", text: t("drops." + action) });
    button.addEventListener("click", async function () {
      const yes = await C.confirm(t("drops." + action + ".title", { title: C.dropTitle(drop) }), t("drops." + action + ".body"), t("drops." + action));
      if (!yes) return;
      button.disabled = true;
      const done = await C.townApi("POST", "drops/" + drop.id + "/" + action);
      button.disabled = false;
      if (!done.ok) return C.say("drops-message", C.errorText(done), "error");
      C.say("drops-message", t("drops." + action + ".done", { title: C.dropTitle(drop) }), "success");
      load(page.offset);
    });
    return button;
  }

  function render() {
    const rows = page.items.map(function (drop) {
      const status = C.make("div", {}, [C.statusBadge("dstatus", drop.status)]);
      if (drop.publish_error) status.append(C.make("p", { className: "field-error", text: t("drops.publish_failed") }));
      return C.make("tr", {}, [
        cell(t("col.title"), [C.make("a", { href: C.page("drop", { id: drop.id }), text: C.dropTitle(drop) })]),
        cell(t("col.status"), [status]),
        cell(t("col.price"), [C.yen(drop.price_jpy)], "num"),
        cell(t("col.sold"), [t("drops.sold_of", { sold: C.count(drop.sold), supply: C.count(drop.supply) })], "num"),
        cell(t("col.window"), [window_(drop)]),
        cell(t("col.actions"), [actions(drop)], "wide"),
      ]);
    });
    C.el("drops-rows").replaceChildren.apply(C.el("drops-rows"), rows);
    C.el("drops-table").hidden = page.items.length === 0;
    C.el("drops-empty").hidden = page.items.length !== 0;
    pager();
  }

  function pager() {
    const nav = C.el("drops-pager");
    nav.hidden = page.total <= LIMIT;
    const prev = C.make("button", { type: "button", className: "secondary small", text: t("common.prev"), disabled: page.offset === 0 });
    const next = C.make("button", { type: "button", className: "secondary small", text: t("common.next"), disabled: page.offset + LIMIT >= page.total });
    prev.addEventListener("click", function () { load(Math.max(0, page.offset - LIMIT)); });
    next.addEventListener("click", function () { load(page.offset + LIMIT); });
    nav.replaceChildren(prev, C.make("span", { text: t("common.range", { from: page.offset + 1, to: Math.min(page.total, page.offset + LIMIT), total: page.total }) }), next);
  }

  async function load(offset) {
    const found = await C.townApi("GET", "drops", { query: { limit: LIMIT, offset: offset } });
    if (!found.ok) return C.fail(found);
    page = { items: found.body.items, total: found.body.total, offset: offset };
    render();
    clearTimeout(poll);
    if (page.items.some(function (drop) { return drop.status === "publishing"; })) {
      poll = setTimeout(function () { load(page.offset); }, 2000);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.ready("drops", function () {
      C.el("new-drop").href = C.page("drop");
      F.i18n.onChange(render);
      load(0);
    }, ["owner", "editor"]);
  });
})();
