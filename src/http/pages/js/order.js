// One order: what it holds, a countdown to the hold's end, and the payment form (its card
// input and 3-D Secure step are authenticate.js's).
// The server decides: the page reads the order again when the feed says its ticket changed,
// every few seconds while it is open, and as soon as its own countdown runs out, and shows
// what the server says: paid, expired, cancelled. The countdown is a role="timer" (which
// screen readers do not read out by itself); a separate live region announces 5 minutes and
// 1 minute left, never every second.

import { api, ApiError, money, loadConfig, serverNow } from "./api.js";
import { el, alertRegion, showError, actionButton } from "./dom.js";
import { onTicket } from "./feed.js";
import { cardInput } from "./authenticate.js";

const POLL_MS = 5000;
const CHECK_MS = 1000;
const WARNINGS = [[300, "5 minutes left to pay."], [60, "1 minute left to pay."]];

export async function orderPage(view, { id }) {
  const config = await loadConfig();
  const { holdSeconds } = config;
  let order = await api("GET", `/api/orders/${encodeURIComponent(id)}`);
  // What this page did, to tell the buyer why an order ended.
  let cancelledHere = false;
  let declined = false;
  let lastLeft = null;

  const summary = el("p", { class: "price big" }, money(order.ticket.price));
  const status = el("p", { role: "status", class: "order-status" });
  const timer = el("p", { role: "timer", "aria-atomic": "true", class: "countdown" });
  const announcer = el("p", { class: "visually-hidden", "aria-live": "polite" });
  const alert = alertRegion();
  // Pay shows once the card input is there (at once for the test cards; Stripe.js first
  // loads with a key). One that cannot load leaves the form without Pay and says why in the
  // alert region; cancelling still works.
  let card = null;
  const payButton = el("button", { type: "submit", class: "primary", hidden: true }, "Pay");
  const payForm = el("form", { class: "pay", onsubmit: pay }, payButton);
  cardInput(config, order.ticket.price).then((input) => {
    card = input;
    payForm.prepend(input.wrapper);
    input.attach();
    payButton.hidden = false;
    draw();
  }, (error) => showError(alert, error));
  // Where the bank's check (the offline gateway's simulated one) appears.
  const step = el("div", { class: "authentication-step" });
  // A reload during the bank's check loses the step. Paying the order again with the same
  // card gives the same requires_action answer (an order is charged once), so this tab keeps
  // the card's token and offers to continue.
  const resumeKey = `ticketing:payment:${order.id}`;
  let paying = false;
  const resume = el("div", { class: "buttons", hidden: true },
    actionButton("Continue payment", { class: "primary" }, async () => {
      try {
        await payWith(sessionStorage.getItem(resumeKey));
      } finally {
        await refresh();
      }
    }, alert));
  const cancelButton = actionButton("Cancel order", {}, async () => {
    await api("DELETE", `/api/orders/${order.id}`);
    cancelledHere = true;
    await refresh();
  }, alert);
  const controls = el("div", { class: "order-controls" }, payForm, el("div", { class: "buttons" }, cancelButton));

  view.show(`Order: ${order.ticket.title}`, summary, status, timer, announcer, alert, step, resume, controls,
    el("p", {}, el("a", { href: "#/orders" }, "All my orders")));

  async function pay(event) {
    event.preventDefault();
    alert.replaceChildren();
    payButton.disabled = true;
    try {
      const token = await card.token();
      sessionStorage.setItem(resumeKey, token);
      await payWith(token);
    } catch (error) {
      showError(alert, error);
    } finally {
      payButton.disabled = false;
    }
    await refresh();
  }

  /** Pays with `token`, through the bank's check when the shop asks for one. */
  async function payWith(token) {
    paying = true;
    try {
      const answer = await api("POST", "/api/payments", { orderId: order.id, token });
      if (answer && answer.status === "requires_action") {
        // The order is awaiting payment now, so the form hides; the step shows meanwhile.
        await refresh();
        await card.authenticate(answer, (section) => step.replaceChildren(section));
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 402) declined = true;
      throw error;
    } finally {
      paying = false;
    }
  }

  /** Seconds left by the shop's clock, never more than a hold lasts. */
  function secondsLeft() {
    const left = Math.ceil((Date.parse(order.expiresAt) - serverNow()) / 1000);
    return Math.max(0, Math.min(left, holdSeconds));
  }

  function ended() {
    return order.status === "complete" || order.status === "cancelled";
  }

  function draw() {
    if (!view.live) return;
    let text;
    let state;
    if (order.status === "complete") {
      [state, text] = ["paid", "Paid. The ticket is yours."];
    } else if (order.status === "awaiting:payment") {
      [state, text] = ["processing", "Your payment is being processed. This page updates when it is done."];
    } else if (order.status === "cancelled") {
      // The API says "cancelled" for an expired hold too: what this page did tells a decline
      // or a cancellation here; otherwise an order that ended at its deadline expired.
      if (declined) [state, text] = ["declined", "Your card was declined, so the order is cancelled and the ticket is for sale again."];
      else if (cancelledHere) [state, text] = ["cancelled", "You cancelled this order; the ticket is for sale again."];
      else if (serverNow() >= Date.parse(order.expiresAt) - 2000) [state, text] = ["expired", "Expired: the hold ran out before payment, and the ticket is for sale again."];
      else [state, text] = ["cancelled", "This order was cancelled."];
    } else if (secondsLeft() === 0) {
      [state, text] = ["ending", "Time is up. Checking with the shop…"];
    } else {
      [state, text] = ["held", "The ticket is held for you. Pay before the time runs out."];
    }
    if (status.dataset.state !== state) {
      status.dataset.state = state;
      status.textContent = text;
    }
    controls.hidden = order.status !== "created" || state === "ending";
    resume.hidden = !(order.status === "awaiting:payment" && card && !paying
      && sessionStorage.getItem(resumeKey));
    timer.hidden = ended();
    if (ended()) stop();
  }

  function tick() {
    const left = secondsLeft();
    timer.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} left to pay`;
    for (const [at, words] of WARNINGS) {
      if (lastLeft !== null && lastLeft > at && left <= at && left > 0) announcer.textContent = words;
    }
    lastLeft = left;
    if (left === 0 && order.status === "created") refresh();
    draw();
  }

  let checking = false;
  async function refresh() {
    if (checking || !view.live) return;
    checking = true;
    try {
      order = await api("GET", `/api/orders/${order.id}`);
    } catch (error) {
      showError(alert, error);
    } finally {
      checking = false;
    }
    draw();
  }

  const timers = [];
  function stop() {
    for (const handle of timers.splice(0)) clearInterval(handle);
  }
  view.cleanup(stop);
  view.cleanup(onTicket((news) => {
    if (news.resync || news.id === order.ticket.id) refresh();
  }, { ids: [order.ticket.id] }));
  if (!ended()) {
    timers.push(setInterval(tick, CHECK_MS), setInterval(refresh, POLL_MS));
  }
  tick();
}
