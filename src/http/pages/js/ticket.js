// One ticket. A buyer sees Buy (only on someone else's ticket, while it is free); its seller
// sees Edit and Withdraw while nobody holds it. The live feed redraws the page when the
// ticket changes, so a hold, a sale or an edit elsewhere shows without a reload.

import { api, ApiError, money, loadConfig } from "./api.js";
import { el, field, alertRegion, showError, actionButton } from "./dom.js";
import { onTicket } from "./feed.js";

export async function ticketPage(view, { id }) {
  const { currency } = await loadConfig();
  let ticket = await api("GET", `/api/tickets/${encodeURIComponent(id)}`);
  let gone = false;
  let editing = false;
  const price = el("p", { class: "price big" });
  const status = el("p", { role: "status" });
  const actions = el("div", { class: "actions" });
  const alert = alertRegion();

  const heading = view.show(ticket.title, price, status, alert, actions);

  function draw() {
    if (!view.live) return;
    heading.textContent = ticket.title;
    document.title = `${ticket.title} · ticketing`;
    price.textContent = money(ticket.price);
    const mine = view.me && view.me.id === ticket.userId;
    const free = !ticket.orderId;
    if (gone) {
      status.textContent = "This ticket has been withdrawn; it is no longer for sale.";
      actions.replaceChildren(el("a", { href: "#/" }, "See the tickets for sale"));
    } else if (mine && free) {
      status.textContent = "You are selling this ticket. You can edit or withdraw it while nobody holds it.";
      if (!editing) actions.replaceChildren(sellerButtons());
    } else if (mine) {
      editing = false;
      status.textContent = "A buyer has reserved or bought this ticket, so it can no longer be edited or withdrawn.";
      actions.replaceChildren(el("a", { href: "#/my-tickets" }, "See your tickets"));
    } else if (!free) {
      status.textContent = "Someone else has reserved or bought this ticket.";
      actions.replaceChildren(el("a", { href: "#/" }, "See other tickets"));
    } else if (!view.me) {
      status.textContent = "For sale.";
      actions.replaceChildren(el("a", { href: "#/signin" }, "Sign in to buy"));
    } else {
      status.textContent = "For sale.";
      actions.replaceChildren(actionButton("Buy", { class: "primary" }, async () => {
        const order = await api("POST", "/api/orders", { ticketId: ticket.id });
        location.hash = `#/orders/${order.id}`;
      }, alert));
    }
  }

  function sellerButtons() {
    const withdraw = el("button", { type: "button", class: "danger" }, "Withdraw");
    withdraw.addEventListener("click", () => confirmWithdrawal());
    const edit = el("button", { type: "button" }, "Edit");
    edit.addEventListener("click", () => editForm());
    return el("div", { class: "buttons" }, edit, withdraw);
  }

  function confirmWithdrawal() {
    const keep = el("button", { type: "button" }, "Keep it for sale");
    keep.addEventListener("click", () => {
      actions.replaceChildren(sellerButtons());
      actions.querySelector("button").focus();
    });
    const yes = actionButton("Yes, withdraw it", { class: "danger" }, async () => {
      await api("DELETE", `/api/tickets/${ticket.id}`);
      location.hash = "#/my-tickets";
    }, alert);
    actions.replaceChildren(el("p", {}, "Withdraw this ticket from sale? Buyers will no longer see it."), el("div", { class: "buttons" }, yes, keep));
    yes.focus();
  }

  function editForm() {
    editing = true;
    const title = field("Title", { name: "title", type: "text", required: true, maxlength: "200", value: ticket.title });
    const amount = field(`Price (${currency})`, { name: "price", type: "text", inputmode: "decimal", required: true, value: String(ticket.price) });
    const save = el("button", { type: "submit", class: "primary" }, "Save");
    const cancel = el("button", { type: "button" }, "Cancel");
    cancel.addEventListener("click", () => {
      editing = false;
      alert.replaceChildren();
      draw();
      actions.querySelector("button").focus();
    });
    const form = el("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        alert.replaceChildren();
        save.disabled = true;
        try {
          ticket = await api("PUT", `/api/tickets/${ticket.id}`, { title: title.input.value, price: amount.input.value });
          editing = false;
          draw();
          status.textContent = "Saved.";
          heading.focus();
        } catch (error) {
          showError(alert, error);
        } finally {
          save.disabled = false;
        }
      },
    }, title.wrapper, amount.wrapper, el("div", { class: "buttons" }, save, cancel));
    actions.replaceChildren(form);
    title.input.focus();
  }

  async function refresh() {
    try {
      const now = await api("GET", `/api/tickets/${ticket.id}`);
      // Our own edit's news: already drawn (and "Saved." stays).
      if (now.version === ticket.version) return;
      ticket = now;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) gone = true;
      else return;
    }
    draw();
  }

  view.cleanup(onTicket((news) => {
    if (news.resync || news.id === ticket.id) refresh();
  }, { ids: [ticket.id] }));
  draw();
}
