// The card's side of a payment (DESIGN §5): how the order page reads a card and what it does
// when the shop answers 202 requires_action. With no Stripe publishable key the shop pays
// through its offline test gateway: the card is a test token from a select, and the bank's
// 3-D Secure check is a step of this page's own that tells the shop "succeed" or "fail".
// With a key, Stripe.js is loaded (then only: the CSP allows Stripe's origins only when a key
// is configured), its Payment Element reads the card into a PaymentMethod (created in the
// browser, confirmed by the shop: Stripe's "finalize payments on the server" flow), and
// Stripe.js runs the bank's check; the order page then follows the order until the server
// says how it ended.

import { api } from "./api.js";
import { el, field } from "./dom.js";

const STRIPE_JS = "https://js.stripe.com/v3/";

/** The offline gateway's test cards, by the token the shop takes. */
const TEST_CARDS = [
  ["tok_visa", "Visa ending 4242 (succeeds)"],
  ["tok_chargeDeclined", "Visa ending 0002 (declined)"],
  ["pm_card_authenticationRequired", "Visa ending 3184 (needs authentication)"],
];

/**
 * The card input for the shop's gateway: `{wrapper, attach(), token(), authenticate(answer,
 * place)}`. `attach()` is called once the wrapper is in the page; `token()` gives what
 * POST /api/payments takes; `authenticate` completes a 202 requires_action answer and
 * resolves when the shop has been told (or Stripe.js is done). `price` is the order's, in
 * the shop's `currency`: the Payment Element shows it and checks the card against it.
 */
export async function cardInput({ stripePublishableKey, currency }, price) {
  return stripePublishableKey
    ? stripeCard(stripePublishableKey, currency, price)
    : testCard();
}

function testCard() {
  const card = field("Test card", { tag: "select", name: "token" });
  card.input.append(...TEST_CARDS.map(([value, label]) => el("option", { value }, label)));
  return {
    wrapper: card.wrapper,
    attach: () => {},
    token: async () => card.input.value,
    authenticate: (answer, place) => simulatedCheck(answer.id, place),
  };
}

/**
 * The offline gateway's stand-in for the bank's check: a section whose heading takes focus,
 * saying what it is, with one button per outcome. Resolves with the shop's answer to
 * POST /api/payments/:id/authenticate, or rejects with its ApiError (402 when failed); the
 * section is gone either way.
 */
function simulatedCheck(paymentId, place) {
  return new Promise((resolve, reject) => {
    const heading = el("h2", { id: "authentication-heading", tabindex: "-1" }, "Authenticate your payment");
    const buttons = [];
    const answer = (outcome) => async () => {
      for (const button of buttons) button.disabled = true;
      try {
        resolve(await api("POST", `/api/payments/${encodeURIComponent(paymentId)}/authenticate`, { outcome }));
      } catch (error) {
        reject(error);
      } finally {
        section.remove();
      }
    };
    buttons.push(
      el("button", { type: "button", class: "primary", onclick: answer("succeed") }, "Complete authentication"),
      el("button", { type: "button", class: "danger", onclick: answer("fail") }, "Fail authentication"),
    );
    const section = el("section", { class: "authentication", "aria-labelledby": "authentication-heading" },
      heading,
      el("p", {}, "Your bank asks you to confirm this payment. This shop runs on a test gateway, so this step simulates the bank's check: choose how it ends."),
      el("div", { class: "buttons" }, ...buttons));
    place(section);
    heading.focus();
  });
}

let stripeLoading = null;

/** Stripe.js, added to the page once, on the first payment form that needs it. */
function loadStripe() {
  if (!stripeLoading) {
    stripeLoading = new Promise((resolve, reject) => {
      const script = el("script", { src: STRIPE_JS });
      script.addEventListener("load", () => resolve(window.Stripe));
      script.addEventListener("error", () => {
        // The next order page tries again (the failed element stays: it is inert).
        stripeLoading = null;
        reject(new Error("The card form (Stripe) could not be loaded. Check your connection and reload the page."));
      });
      document.head.append(script);
    });
  }
  return stripeLoading;
}

async function stripeCard(publishableKey, currency, price) {
  const mount = el("div", { class: "stripe-card" });
  const label = el("p", { class: "field-label" }, "Payment details");
  const wrapper = el("div", { class: "field" }, label, mount);
  const Stripe = await loadStripe();
  const stripe = Stripe(publishableKey);
  // No PaymentIntent exists yet (the shop creates and confirms it), so the Element is told
  // the amount itself; cards only, as the shop charges.
  const elements = stripe.elements({
    mode: "payment",
    amount: Math.round(price * 100),
    currency: currency.toLowerCase(),
    paymentMethodCreation: "manual",
    paymentMethodTypes: ["card"],
  });
  const payment = elements.create("payment");
  return {
    wrapper,
    // Stripe mounts its field's frame into an element already in the page.
    attach: () => payment.mount(mount),
    token: async () => {
      const { error: invalid } = await elements.submit();
      if (invalid) throw new Error(invalid.message);
      const { paymentMethod, error } = await stripe.createPaymentMethod({ elements });
      if (error) throw new Error(error.message);
      return paymentMethod.id;
    },
    // Stripe.js shows the bank's page; how the payment ended reaches the shop by Stripe's
    // webhook or its own asking, so the order page follows the order, not this answer.
    authenticate: async (answer) => {
      const { error } = await stripe.handleNextAction({ clientSecret: answer.clientSecret });
      if (error) throw new Error(error.message);
    },
  };
}
