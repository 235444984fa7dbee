// The JSON API as the page uses it: one fetch wrapper that turns the error envelope
// (DESIGN §4) into an ApiError, paged reads that follow `Link: rel="next"`, and the shop's
// settings from GET /api/config, which money is formatted with (never a hard-coded `$`).
// The session is the HttpOnly cookie, sent by the browser itself; this file never sees it.

export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => e.message).join(" "));
    this.status = status;
    // [{message, field?}], as the envelope has them.
    this.errors = errors;
  }
}

async function request(method, path, body) {
  const options = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, [{ message: "The shop cannot be reached. Check your connection and try again." }]);
  }
  noteServerTime(response);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const errors = data && Array.isArray(data.errors) ? data.errors : [{ message: `The shop answered ${response.status}.` }];
    throw new ApiError(response.status, errors);
  }
  return { data, response };
}

/** One call: the parsed body, or an ApiError. */
export async function api(method, path, body) {
  return (await request(method, path, body)).data;
}

/** One page of a paged read: its items and the path of the next page, if any. */
export async function apiPage(path) {
  const { data, response } = await request("GET", path);
  const link = response.headers.get("link") || "";
  const next = link.match(/<([^>]+)>\s*;\s*rel="next"/);
  return { items: Array.isArray(data) ? data : [], next: next ? next[1] : null };
}

// How far the shop's clock is ahead of this browser's, from the `Date` header of its last
// answer. A countdown on a wrong browser clock would end early or late; the header has
// whole seconds only, so a difference within 2 s counts as none.
let offsetMs = 0;

function noteServerTime(response) {
  const date = Date.parse(response.headers.get("date") || "");
  if (Number.isNaN(date)) return;
  const offset = date - Date.now();
  offsetMs = Math.abs(offset) > 2000 ? offset : 0;
}

/** The shop's time now, in milliseconds, as well as this browser can tell. */
export function serverNow() {
  return Date.now() + offsetMs;
}

let settings = null;
let formatter = null;

/** The shop's settings, asked once per page load: {currency, holdSeconds, stripePublishableKey?}. */
export async function loadConfig() {
  if (!settings) {
    settings = await api("GET", "/api/config");
    formatter = new Intl.NumberFormat(undefined, { style: "currency", currency: settings.currency });
  }
  return settings;
}

/** A price (a JSON number) in the shop's currency; loadConfig must have answered first. */
export function money(price) {
  return formatter ? formatter.format(Number(price)) : Number(price).toFixed(2);
}
