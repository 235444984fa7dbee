// The live ticket feed (GET /api/tickets/events): one EventSource for the whole page, shared
// by whichever views listen. EventSource reconnects by itself and sends Last-Event-ID, so
// the server replays what changed meanwhile (DESIGN §4). Before the first event there is no
// id to resume from, so listeners are told to read afresh after a reconnection. A browser
// gives up for good on an error answer (a 503 while a restarted shop replays its journal),
// so the feed is then opened anew a little later, and listeners read afresh.

const listeners = new Set();
let source = null;
let heardAny = false;
let wasOpen = false;
let openWaiters = [];
const RETRY_MS = 5000;

function start() {
  if (source) return;
  const feed = new EventSource("/api/tickets/events");
  source = feed;
  feed.addEventListener("ticket", (event) => {
    let news;
    try {
      news = JSON.parse(event.data);
    } catch {
      return;
    }
    heardAny = true;
    for (const listener of listeners) listener(news);
  });
  feed.addEventListener("error", () => {
    if (feed.readyState !== EventSource.CLOSED || source !== feed) return;
    source = null;
    // A new EventSource starts with no Last-Event-ID: what it missed is read afresh.
    heardAny = false;
    setTimeout(start, RETRY_MS);
  });
  feed.addEventListener("open", () => {
    if (wasOpen && !heardAny) for (const listener of listeners) listener({ resync: true });
    wasOpen = true;
    const waiters = openWaiters;
    openWaiters = [];
    for (const resolve of waiters) resolve(true);
  });
}

/**
 * Calls `listener` with each ticket change `{id, title, price, version, available}` (or
 * `{resync: true}`); answers the function that stops it.
 */
export function onTicket(listener) {
  start();
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Resolves once the feed is connected (true), or after `ms` without it (false): a view reads
 * its data after this, so no change falls between the read and the feed.
 */
export function feedOpen(ms = 3000) {
  start();
  if (source.readyState === EventSource.OPEN) return Promise.resolve(true);
  return new Promise((resolve) => {
    openWaiters.push(resolve);
    setTimeout(() => resolve(false), ms);
  });
}
