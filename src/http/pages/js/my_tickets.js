// My tickets: every ticket the user listed, in every state (for sale, held, sold,
// withdrawn), from GET /api/users/me/tickets. The feed says when one of them changed; the
// list is then read again, since only this route knows held from sold. The feed carries only
// the tickets listed here.

import { money } from "./api.js";
import { el } from "./dom.js";
import { onTicket } from "./feed.js";
import { pagedList } from "./paged.js";

const STATUS = { "for sale": "For sale", held: "Held by a buyer", sold: "Sold", withdrawn: "Withdrawn" };

export async function myTicketsPage(view) {
  const mine = new Set();
  let feed = null;
  const { node, reload } = await pagedList("/api/users/me/tickets?limit=20", (ticket) => {
    if (!mine.has(ticket.id)) {
      mine.add(ticket.id);
      if (feed) feed.watch(mine);
    }
    const title = ticket.status === "withdrawn" ? el("span", {}, ticket.title) : el("a", { href: `#/tickets/${ticket.id}` }, ticket.title);
    return el("li", { "data-ticket-id": ticket.id, "data-status": ticket.status },
      title, " ", el("span", { class: "price" }, money(ticket.price)), " ",
      el("span", { class: `badge ${ticket.status.replace(" ", "-")}` }, STATUS[ticket.status] || ticket.status));
  }, "You have not listed a ticket yet.");
  let reading = false;
  feed = onTicket(async (news) => {
    if (reading || !(news.resync || mine.has(news.id))) return;
    reading = true;
    try {
      await reload();
    } catch {
      // The next change reads again; the list shown stays as it was.
    } finally {
      reading = false;
    }
  }, { ids: mine });
  view.cleanup(feed);
  view.show("My tickets", el("p", {}, el("a", { href: "#/sell" }, "Sell another ticket")), node);
}
