// My orders: the buyer's orders, oldest first, paged by the server's Link header.

import { money } from "./api.js";
import { el } from "./dom.js";
import { pagedList } from "./paged.js";

const STATUS = {
  created: "Held for you: pay before the hold ends",
  "awaiting:payment": "Payment processing",
  complete: "Paid",
  cancelled: "Cancelled or expired",
};

export async function ordersPage(view) {
  const { node } = await pagedList("/api/orders?limit=20", (order) =>
    el("li", { "data-order-id": order.id },
      el("a", { href: `#/orders/${order.id}` }, order.ticket.title), " ",
      el("span", { class: "price" }, money(order.ticket.price)), " ",
      el("span", { class: `badge ${order.status.replace(":", "-")}` }, STATUS[order.status] || order.status)),
  "No orders yet. Buy a ticket from the listing and it shows here.");
  view.show("My orders", node);
}
