// The live ticket feed (GET /api/tickets/events): one EventSource for the whole page, shared
// by whichever views listen. Each view names the tickets it shows (and whether it wants new
// listings), and the feed is opened for the union, `?ids=…&listings=new`, so the shop sends
// this page only what it shows (docs/BENCHMARKS.md, "The live ticket feed"); a view that
// names nothing, or more than the server takes at once, gets every change. When the shown
// set changes the feed is opened anew with `&after=` the last id heard: EventSource sends
// Last-Event-ID only on its own reconnects, and the server replays what changed meanwhile
// (DESIGN §4). With no id heard yet there is nothing to resume from, so listeners are told to
// read afresh once the new feed is open. A browser gives up for good on an error answer (a
// 503 while a restarted shop replays its journal), so the feed is then opened anew a little
// later, resuming after the last id heard.

const listeners = new Map(); // listener -> {ids: Set, listings} or null for every change
let source = null;
let query = null; // what `source` was opened with
let lastId = null; // the last event id heard, by any feed this page opened
let wasOpen = false;
let openWaiters = [];
let reopening = false;
const RETRY_MS = 5000;
const MAX_IDS = 100; // the server's limit (src/http/ticket_events.rs)

function wanted() {
  const ids = new Set();
  let listings = false;
  for (const interest of listeners.values()) {
    if (!interest) return "";
    for (const id of interest.ids) ids.add(id);
    listings ||= interest.listings;
  }
  if (ids.size > MAX_IDS) return "";
  const parts = [`ids=${[...ids].sort().map(encodeURIComponent).join(",")}`];
  if (listings) parts.push("listings=new");
  return `?${parts.join("&")}`;
}

function start() {
  reopening = false;
  if (listeners.size === 0) return;
  const want = wanted();
  if (source && want === query) return;
  if (source) source.close();
  query = want;
  const after = lastId === null ? "" : `${want ? "&" : "?"}after=${encodeURIComponent(lastId)}`;
  const feed = new EventSource(`/api/tickets/events${want}${after}`);
  source = feed;
  feed.addEventListener("ticket", (event) => {
    if (source !== feed) return;
    let news;
    try {
      news = JSON.parse(event.data);
    } catch {
      return;
    }
    if (event.lastEventId) lastId = event.lastEventId;
    for (const listener of [...listeners.keys()]) listener(news);
  });
  feed.addEventListener("error", () => {
    if (feed.readyState !== EventSource.CLOSED || source !== feed) return;
    source = null;
    setTimeout(start, RETRY_MS);
  });
  feed.addEventListener("open", () => {
    if (source !== feed) return;
    // Opened with no id to resume from: what changed meanwhile is read afresh.
    if (wasOpen && lastId === null) for (const listener of [...listeners.keys()]) listener({ resync: true });
    wasOpen = true;
    const waiters = openWaiters;
    openWaiters = [];
    for (const resolve of waiters) resolve(true);
  });
}

// Views come and go together (one leaves, the next arrives): reopen once, after both.
function changed() {
  if (reopening) return;
  reopening = true;
  queueMicrotask(start);
}

/**
 * Calls `listener` with each ticket change `{id, title, price, version, available}` (or
 * `{resync: true}`) of the tickets `ids` names, and new listings if `listings`; with no
 * `ids`, every change. Answers the function that stops it, whose `watch(ids)` names the
 * tickets shown now.
 */
export function onTicket(listener, { ids = null, listings = false } = {}) {
  listeners.set(listener, ids === null && !listings ? null : { ids: new Set(ids || []), listings });
  changed();
  const stop = () => {
    listeners.delete(listener);
    if (listeners.size > 0) changed();
    else if (source) {
      source.close();
      source = null;
      query = null;
    }
  };
  stop.watch = (shown) => {
    const interest = listeners.get(listener);
    if (!interest) return;
    interest.ids = new Set(shown);
    changed();
  };
  return stop;
}

/**
 * Resolves once the feed is connected (true), or after `ms` without it (false): a view reads
 * its data after this, so no change falls between the read and the feed.
 */
export function feedOpen(ms = 3000) {
  if (!reopening) start();
  if (!reopening && source && source.readyState === EventSource.OPEN) return Promise.resolve(true);
  return new Promise((resolve) => {
    openWaiters.push(resolve);
    setTimeout(() => resolve(false), ms);
  });
}
