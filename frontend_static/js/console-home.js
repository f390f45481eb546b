// The town's home: what to do next first (finish a draft, fix a failed publish, make a poster
// for a live sale, start a new sale), then today's sales in Japan time and the live drops.
// Tasks, not tables: each one says what and links to the page that does it.
"use strict";
(function () {
  const F = window.Furusato;
  const C = F.console;
  const t = function (key, vars) { return F.i18n.t(key, vars); };
  let home = null;
  let drops = [];
  let campaigns = [];

  function task(kind, title, body, href, action) {
    return C.make("li", { className: "task " + kind }, [
      C.make("h3", { text: title }),
      body ? C.make("p", { text: body }) : null,
      href ? C.make("a", { className: "button " + (kind === "start" ? "primary" : "secondary"), href: href, text: action }) : null,
    ]);
  }

  // Work the server counts: orders stuck or failed, refunds not confirmed (drafts and
  // publishing drops are listed one by one from the drops themselves).
  function pendingTasks() {
    const items = [];
    const pending = home ? home.pending : null;
    if (!pending) return items;
    [["failed", "task.failed_orders"], ["paid_not_minted", "task.stuck_orders"], ["refunds_unconfirmed", "task.refunds_pending"]].forEach(function (pair) {
      const work = pending[pair[0]];
      if (!work || !work.count) return;
      const href = work.count === 1 && work.order_ids && work.order_ids[0]
        ? C.page("order", { id: work.order_ids[0] })
        : C.page("orders", pair[0] === "failed" ? { status: "failed" } : pair[0] === "paid_not_minted" ? { status: "paid" } : {});
      items.push(task("todo", t(pair[1], { n: C.count(work.count) }), t(pair[1] + ".body"), href, t("task.open")));
    });
    return items;
  }

  function renderTasks() {
    const list = [];
    const editor = C.can(["owner", "editor"]);
    if (editor) {
      drops.filter(function (d) { return d.status === "draft" && d.publish_error; }).forEach(function (d) {
        list.push(task("todo", t("task.publish_failed", { title: C.dropTitle(d) }), t("task.publish_failed.body"), C.page("drop", { id: d.id, step: 3 }), t("task.check")));
      });
      drops.filter(function (d) { return d.status === "draft" && !d.publish_error; }).forEach(function (d) {
        list.push(task("todo", t("task.draft", { title: C.dropTitle(d) }), t("task.draft.body"), C.page("drop", { id: d.id }), t("task.finish")));
      });
      drops.filter(function (d) { return d.status === "publishing"; }).forEach(function (d) {
        list.push(task("todo", t("task.publishing", { title: C.dropTitle(d) }), t("task.publishing.body"), C.page("drop", { id: d.id }), t("task.open")));
      });
      drops.filter(function (d) {
        return d.status === "live" && !campaigns.some(function (c) { return c.drop_id === d.id; });
      }).forEach(function (d) {
        list.push(task("todo", t("task.poster", { title: C.dropTitle(d) }), t("task.poster.body"), C.page("campaigns", { drop_id: d.id }), t("task.make_poster")));
      });
    }
    list.push.apply(list, pendingTasks());
    if (editor) list.push(task("start", t("task.new"), t("task.new.body"), C.page("drop"), t("task.new.action")));
    if (C.can(["analyst"]) && !editor) list.push(task("start", t("task.export"), t("task.export.body"), C.page("orders"), t("task.export.action")));
    if (!list.length) list.push(C.make("li", { className: "empty", text: t("task.none") }));
    C.el("tasks").replaceChildren.apply(C.el("tasks"), list);
  }

  function renderToday() {
    const today = home ? home.today : null;
    C.el("today-heading").parentElement.hidden = !today;
    if (!today) return;
    C.el("fig-orders").textContent = C.count(today.orders);
    C.el("fig-paid").textContent = C.count(today.paid);
    C.el("fig-revenue").textContent = C.yen(today.revenue_jpy);
    C.el("fig-refunds").textContent = C.count(today.refunded);
  }

  function renderLive() {
    const live = home ? home.live_drops : drops.filter(function (d) { return d.status === "live" || d.status === "paused"; });
    const rows = live.map(function (d) {
      const title = C.dropTitle(d);
      return C.make("tr", {}, [
        C.make("td", { "data-label": t("col.title") }, [C.can(["owner", "editor"]) ? C.make("a", { href: C.page("drop", { id: d.id }), text: title }) : title]),
        C.make("td", { "data-label": t("col.status") }, [C.statusBadge("dstatus", d.status || "live")]),
        C.make("td", { "data-label": t("col.sold"), className: "num" }, [t("drops.sold_of", { sold: C.count(d.sold), supply: C.count(d.supply) })]),
        C.make("td", { "data-label": t("col.window") }, [C.time.format(d.starts_at) + " 〜 " + (d.ends_at ? C.time.format(d.ends_at) : t("drops.until_sold_out"))]),
        C.make("td", { "data-label": t("col.actions"), className: "wide" }, [
          C.can(["owner", "editor", "analyst"]) ? C.make("a", { className: "small", href: C.page("orders", { drop_id: d.id }), text: t("home.orders_of") }) : null,
        ]),
      ]);
    });
    C.el("live-rows").replaceChildren.apply(C.el("live-rows"), rows);
    C.el("live-table").hidden = live.length === 0;
    C.el("live-empty").hidden = live.length !== 0;
  }

  function render() {
    const town = C.state().town;
    const heading = C.el("home-heading");
    delete heading.dataset.i18n;
    heading.textContent = t("home.heading.town", { town: C.townName(town) });
    renderTasks();
    renderToday();
    renderLive();
  }

  document.addEventListener("DOMContentLoaded", function () {
    C.el("sign-out-everywhere").addEventListener("click", async function () {
      const yes = await C.confirm(t("home.signout_all.title"), t("home.signout_all.body"), t("settings.signout_all"));
      if (!yes) return;
      const done = await C.api("DELETE", "/api/v1/staff/sessions");
      if (done.ok || done.status === 401) location.replace("/console/");
      else C.say("page-error", C.errorText(done), "error");
    });
    C.ready("home", async function () {
      const [found, list, made] = await Promise.all([
        C.can(["owner", "editor", "analyst"]) ? C.townApi("GET", "home") : Promise.resolve(null),
        C.can(["owner", "editor"]) ? C.townApi("GET", "drops", { query: { limit: 100 } }) : Promise.resolve(null),
        C.can(["owner", "editor"]) ? C.townApi("GET", "campaigns", { query: { limit: 100 } }) : Promise.resolve(null),
      ]);
      home = found && found.ok ? found.body : null;
      drops = list && list.ok ? list.body.items : [];
      campaigns = made && made.ok ? made.body.items : [];
      F.i18n.onChange(render);
      render();
    }, ["owner", "editor", "moderator", "analyst"]);
  });
})();
