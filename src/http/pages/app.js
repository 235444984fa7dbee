// ticketing's browser client: hash routes over the JSON API, no framework.
// Text is always inserted with textContent, never as HTML.
"use strict";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let me = null;
let timer = null;

async function api(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const messages = (data && data.errors ? data.errors : [{ message: response.statusText }])
      .map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
    throw new Error(messages.join("; "));
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function show(...nodes) {
  if (timer) { clearInterval(timer); timer = null; }
  main.replaceChildren(...nodes);
}

function errorLine() { return el("p", { class: "error" }); }

function money(price) { return `$${Number(price).toFixed(2)}`; }

async function refreshUser() {
  me = (await api("GET", "/api/users/currentuser")).currentUser;
  nav.replaceChildren();
  if (me) {
    nav.append(el("a", { href: "#/sell" }, "Sell a ticket"), el("a", { href: "#/orders" }, "My orders"),
      el("span", { class: "muted" }, ` ${me.email} `),
      el("button", { onclick: async () => { await api("POST", "/api/users/signout"); await refreshUser(); location.hash = "#/"; } }, "Sign out"));
  } else {
    nav.append(el("a", { href: "#/signin" }, "Sign in"), el("a", { href: "#/signup" }, "Sign up"));
  }
}

function formPage(title, fields, submitLabel, onSubmit) {
  const error = errorLine();
  const inputs = fields.map(([name, type, label]) => [name, el("input", { name, type, placeholder: label, required: "" })]);
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      try { await onSubmit(Object.fromEntries(inputs.map(([n, i]) => [n, i.value]))); } catch (e) { error.textContent = e.message; }
    },
  }, el("h2", {}, title), ...inputs.map(([, i]) => i), el("button", { class: "primary" }, submitLabel), error);
  show(form);
}

async function listPage(cursor) {
  const query = cursor ? `?limit=50&cursor=${encodeURIComponent(cursor)}` : "?limit=50";
  const response = await fetch(`/api/tickets${query}`);
  const tickets = await response.json();
  const rows = tickets.map((t) => el("tr", {}, el("td", {}, el("a", { href: `#/tickets/${t.id}` }, t.title)), el("td", {}, money(t.price))));
  const next = (response.headers.get("link") || "").match(/cursor=([0-9a-f]{24})/);
  show(el("h2", {}, "Tickets for sale"),
    tickets.length ? el("table", {}, el("tr", {}, el("th", {}, "Title"), el("th", {}, "Price")), ...rows) : el("p", { class: "muted" }, "Nothing for sale right now."),
    next ? el("p", {}, el("a", { href: `#/page/${next[1]}` }, "More tickets →")) : "");
}

async function ticketPage(id) {
  const ticket = await api("GET", `/api/tickets/${id}`);
  const error = errorLine();
  const held = Boolean(ticket.orderId);
  const buy = el("button", {
    class: "primary",
    onclick: async () => {
      try { const order = await api("POST", "/api/orders", { ticketId: id }); location.hash = `#/orders/${order.id}`; } catch (e) { error.textContent = e.message; }
    },
  }, "Buy");
  if (held || !me || me.id === ticket.userId) buy.disabled = true;
  show(el("h2", {}, ticket.title), el("p", {}, `Price: ${money(ticket.price)}`),
    el("p", { class: "muted" }, held ? "Reserved by someone else." : me ? "" : "Sign in to buy."), buy, error);
}

async function orderPage(id) {
  const order = await api("GET", `/api/orders/${id}`);
  const error = errorLine();
  const countdown = el("p", { class: "countdown" });
  const nodes = [el("h2", {}, `Order for ${order.ticket.title}`), el("p", {}, `${money(order.ticket.price)} — status: ${order.status}`)];
  if (order.status === "created") {
    const tick = () => {
      const left = Math.max(0, Math.round((Date.parse(order.expiresAt) - Date.now()) / 1000));
      countdown.textContent = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} left to pay` : "Hold expired";
      if (left === 0 && timer) { clearInterval(timer); timer = null; }
    };
    const token = el("select", { name: "token" }, el("option", { value: "tok_visa" }, "Test card: Visa (succeeds)"),
      el("option", { value: "tok_chargeDeclined" }, "Test card: declined"));
    const pay = el("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        try { await api("POST", "/api/payments", { orderId: id, token: token.value }); } catch (e) { error.textContent = e.message; }
        route();
      },
    }, token, el("button", { class: "primary" }, "Pay"));
    const cancel = el("button", { onclick: async () => { try { await api("DELETE", `/api/orders/${id}`); } catch (e) { error.textContent = e.message; } route(); } }, "Cancel order");
    nodes.push(countdown, pay, cancel);
    show(...nodes, error);
    tick();
    timer = setInterval(tick, 1000);
  } else {
    show(...nodes, error);
  }
}

async function ordersPage() {
  const orders = await api("GET", "/api/orders");
  const rows = orders.map((o) => el("tr", {}, el("td", {}, el("a", { href: `#/orders/${o.id}` }, o.ticket.title)), el("td", {}, money(o.ticket.price)), el("td", {}, o.status)));
  show(el("h2", {}, "My orders"), orders.length ? el("table", {}, el("tr", {}, el("th", {}, "Ticket"), el("th", {}, "Price"), el("th", {}, "Status")), ...rows) : el("p", { class: "muted" }, "No orders yet."));
}

async function route() {
  const [, page, id] = location.hash.replace(/^#/, "").split("/");
  try {
    if (page === "signup" || page === "signin") {
      formPage(page === "signup" ? "Sign up" : "Sign in", [["email", "email", "Email"], ["password", "password", "Password"]], page === "signup" ? "Sign up" : "Sign in",
        async (values) => { await api("POST", `/api/users/${page}`, values); await refreshUser(); location.hash = "#/"; });
    } else if (page === "sell") {
      formPage("Sell a ticket", [["title", "text", "Title"], ["price", "text", "Price, e.g. 19.99"]], "List it",
        async (values) => { const t = await api("POST", "/api/tickets", values); location.hash = `#/tickets/${t.id}`; });
    } else if (page === "tickets" && id) await ticketPage(id);
    else if (page === "orders" && id) await orderPage(id);
    else if (page === "orders") await ordersPage();
    else if (page === "page" && id) await listPage(id);
    else await listPage(null);
  } catch (e) {
    show(el("p", { class: "error" }, e.message));
  }
}

window.addEventListener("hashchange", route);
refreshUser().then(route);
