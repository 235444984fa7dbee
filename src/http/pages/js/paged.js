// A list read a page at a time: the first page, then a "Show more" button that follows the
// answer's `Link: rel="next"` (DESIGN §4), for my orders and my tickets.

import { apiPage } from "./api.js";
import { el, alertRegion, actionButton } from "./dom.js";

/**
 * Reads `firstPath`, appends each item's row (`row(item)`, an <li>) to a list, and offers the
 * next page while there is one. Answers {list, node, reload}: `node` to place in the page,
 * `reload()` to read again the pages shown so far.
 */
export async function pagedList(firstPath, row, emptyText) {
  const list = el("ul", { class: "rows" });
  const empty = el("p", { class: "muted" }, emptyText);
  const alert = alertRegion();
  const more = el("div");
  let next = null;
  let shown = 0;

  async function load(path) {
    const page = await apiPage(path);
    for (const item of page.items) list.append(row(item));
    shown += page.items.length;
    next = page.items.length ? page.next : null;
    empty.hidden = shown > 0;
    more.replaceChildren(next ? actionButton("Show more", {}, async () => {
      const first = list.children.length;
      await load(next);
      const added = list.children[first];
      if (added) added.querySelector("a, button")?.focus();
    }, alert) : "");
  }

  async function reload() {
    const wanted = Math.max(shown, 1);
    list.replaceChildren();
    shown = 0;
    await load(firstPath);
    while (shown < wanted && next) await load(next);
  }

  await load(firstPath);
  return { list, node: el("div", {}, list, empty, alert, more), reload };
}
