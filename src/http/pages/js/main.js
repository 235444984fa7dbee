// The page's entry point: the header's navigation, the hash routes and the view each route
// renders into <main>. Hash routes (#/tickets/ID) need nothing from the server but "/", so
// every deep link loads (src/http/pages.rs serves the same page for "/" only). A view
// gets a fresh `View`; leaving it runs its clean-ups (timers, feed listeners), and a view
// whose data arrives after the user moved on draws nothing.

import { api, loadConfig } from "./api.js";
import { el, alertRegion, showError } from "./dom.js";
import { listingPage } from "./listing.js";
import { ticketPage } from "./ticket.js";
import { orderPage } from "./order.js";
import { ordersPage } from "./orders.js";
import { myTicketsPage } from "./my_tickets.js";
import { accountPage } from "./account.js";
import { signInPage, signUpPage, sellPage } from "./forms.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");

/** The signed-in user ({id, email}) or null, as GET /api/users/currentuser last said. */
let me = null;
let current = null;

// [pattern, view, needs a session]
const routes = [
  [/^\/?$/, listingPage, false],
  [/^\/tickets\/page\/([0-9a-f]{24})$/, (view, m) => listingPage(view, { cursor: m[1] }), false],
  [/^\/tickets\/([^/]+)$/, (view, m) => ticketPage(view, { id: m[1] }), false],
  [/^\/sell$/, sellPage, true],
  [/^\/orders$/, ordersPage, true],
  [/^\/orders\/([^/]+)$/, (view, m) => orderPage(view, { id: m[1] }), true],
  [/^\/my-tickets$/, myTicketsPage, true],
  [/^\/account$/, accountPage, true],
  [/^\/signin$/, signInPage, false],
  [/^\/signup$/, signUpPage, false],
];

/** What a view may do: draw itself, register clean-ups, learn who is signed in. */
class View {
  constructor() {
    this.cleanups = [];
    this.live = true;
  }

  get me() {
    return me;
  }

  /** Replaces <main> with an <h1> and `nodes`, names the tab, moves focus to the heading. */
  show(title, ...nodes) {
    if (!this.live) return null;
    const heading = el("h1", { tabindex: "-1" }, title);
    main.replaceChildren(heading, ...nodes.flat().filter(Boolean));
    document.title = `${title} · ticketing`;
    heading.focus();
    return heading;
  }

  /** Runs `fn` when the user leaves this view. */
  cleanup(fn) {
    if (this.live) this.cleanups.push(fn);
    else fn();
  }

  /** Asks who is signed in again and redraws the header. */
  async refreshUser() {
    await refreshUser();
  }

  leave() {
    this.live = false;
    for (const fn of this.cleanups) fn();
    this.cleanups = [];
  }
}

function link(href, label, path) {
  const here = `#${path}` === href || (href === "#/" && path === "/");
  return el("a", { href, "aria-current": here ? "page" : undefined }, label);
}

function drawNav() {
  const path = location.hash.replace(/^#/, "") || "/";
  const links = me
    ? [["#/", "Tickets"], ["#/sell", "Sell"], ["#/my-tickets", "My tickets"], ["#/orders", "My orders"], ["#/account", "Account"]]
    : [["#/", "Tickets"], ["#/signin", "Sign in"], ["#/signup", "Sign up"]];
  nav.replaceChildren(el("ul", {}, links.map(([href, label]) => el("li", {}, link(href, label, path)))));
}

async function refreshUser() {
  try {
    me = (await api("GET", "/api/users/currentuser")).currentUser;
  } catch {
    me = null;
  }
  drawNav();
}

async function route() {
  if (current) current.leave();
  const view = new View();
  current = view;
  drawNav();
  const path = location.hash.replace(/^#/, "") || "/";
  const found = routes.map(([pattern, page, signedIn]) => [path.match(pattern), page, signedIn]).find(([m]) => m);
  try {
    if (!found) {
      view.show("Page not found", el("p", {}, el("a", { href: "#/" }, "Back to the tickets for sale")));
    } else if (found[2] && !me) {
      view.show("Sign in first", el("p", {}, "This page is about your own account. ", el("a", { href: "#/signin" }, "Sign in"), " or ", el("a", { href: "#/signup" }, "sign up"), "."));
    } else {
      await found[1](view, found[0]);
    }
  } catch (error) {
    if (!view.live) return;
    if (error && error.status === 401) {
      // The session ended elsewhere (signed out, password changed): say so, and offer signin.
      await refreshUser();
      view.show("Sign in again", el("p", {}, "Your session has ended. ", el("a", { href: "#/signin" }, "Sign in"), " to go on."));
      return;
    }
    const alert = alertRegion();
    const title = error && error.status === 404 ? "Not found" : "Something went wrong";
    view.show(title, alert, el("p", {}, el("a", { href: "#/" }, "Back to the tickets for sale")));
    showError(alert, error);
  }
}

window.addEventListener("hashchange", route);
Promise.all([loadConfig().catch(() => null), refreshUser()]).then(route);
