// The listing: tickets for sale, a page at a time, kept current by the live feed. A ticket
// held, sold or withdrawn leaves; one released comes back in its place by age (ids sort by
// creation); a new one appears at the end of the last page. Versions order the news, so
// an old event never undoes a newer read. The feed carries only the tickets this page has
// shown since it last read (so one that leaves can come back) and new listings; a ticket
// held before the read and released after it shows on the next read.

import { apiPage, money } from "./api.js";
import { el } from "./dom.js";
import { onTicket, feedOpen } from "./feed.js";

const PAGE = 50;

export async function listingPage(view, { cursor } = {}) {
  const rows = new Map(); // id -> {item, version}
  const list = el("ul", { class: "tickets" });
  const empty = el("p", { class: "muted" }, "Nothing for sale right now. New tickets appear here as they are listed.");
  const more = el("p");
  let page = null;
  const waiting = [];
  const shown = new Set(); // what the feed is asked for
  let feed = null;

  const inRange = (id) => (!cursor || id > cursor) && (!page.last || id <= page.last);

  function draw(ticket) {
    const item = el("li", { "data-ticket-id": ticket.id },
      el("a", { href: `#/tickets/${ticket.id}` }, ticket.title), " ",
      el("span", { class: "price" }, money(ticket.price)));
    const old = rows.get(ticket.id);
    if (old) {
      old.item.replaceWith(item);
    } else {
      const after = [...rows.keys()].filter((id) => id > ticket.id).sort()[0];
      list.insertBefore(item, after ? rows.get(after).item : null);
    }
    rows.set(ticket.id, { item, version: ticket.version });
    if (!shown.has(ticket.id)) {
      shown.add(ticket.id);
      if (page) feed.watch(shown);
    }
  }

  function apply(news) {
    if (news.resync) {
      reload();
      return;
    }
    const known = rows.get(news.id);
    if (known && news.version < known.version) return;
    if (news.available && (known || inRange(news.id))) draw(news);
    if (!news.available && known) {
      known.item.remove();
      rows.delete(news.id);
    }
    empty.hidden = rows.size > 0;
  }

  async function reload() {
    const { items, next } = await apiPage(`/api/tickets?limit=${PAGE}${cursor ? `&cursor=${cursor}` : ""}`);
    if (!view.live) return;
    // The last id this page covers; with no next page, every later ticket belongs here.
    page = { last: next && items.length ? items[items.length - 1].id : null };
    for (const { item } of rows.values()) item.remove();
    rows.clear();
    shown.clear();
    for (const ticket of items) draw(ticket);
    feed.watch(shown);
    empty.hidden = rows.size > 0;
    more.replaceChildren(next && items.length ? el("a", { href: `#/tickets/page/${items[items.length - 1].id}` }, "More tickets") : "");
    for (const news of waiting.splice(0)) apply(news);
  }

  // Listen first and read second, so nothing that changes in between is missed; news that
  // arrives before the read is applied after it.
  feed = onTicket((news) => (page ? apply(news) : waiting.push(news)), { ids: [], listings: true });
  view.cleanup(feed);
  const live = await feedOpen();
  await reload();
  view.show(cursor ? "More tickets for sale" : "Tickets for sale",
    el("p", { class: "muted", "data-live": live ? "on" : "off" }, live ? "This list updates by itself as tickets are bought and listed." : "Live updates are unavailable; reload to see changes."),
    list, empty, more);
}
