// The simple form pages: sign in, sign up, and list a ticket for sale. Each input has a
// label; the answer's errors go to the form's alert region, so a screen reader reads them.

import { api, loadConfig } from "./api.js";
import { el, field, alertRegion, showError } from "./dom.js";

/** A form page: `fields` are [name, label, input attributes]; `submit` gets the values. */
function formPage(view, title, intro, fields, label, submit) {
  const alert = alertRegion();
  const inputs = fields.map(([name, text, attrs]) => [name, field(text, { name, required: true, ...attrs })]);
  const button = el("button", { type: "submit", class: "primary" }, label);
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      alert.replaceChildren();
      button.disabled = true;
      try {
        await submit(Object.fromEntries(inputs.map(([name, f]) => [name, f.input.value])));
      } catch (error) {
        showError(alert, error);
      } finally {
        button.disabled = false;
      }
    },
  }, inputs.map(([, f]) => f.wrapper), alert, button);
  view.show(title, intro ? el("p", {}, intro) : null, form);
}

function account(view, path, title, label, passwordHint) {
  formPage(view, title, null, [
    ["email", "Email", { type: "email", autocomplete: "email" }],
    ["password", passwordHint, { type: "password", autocomplete: path === "signup" ? "new-password" : "current-password", minlength: path === "signup" ? "8" : undefined }],
  ], label, async (values) => {
    await api("POST", `/api/users/${path}`, values);
    await view.refreshUser();
    location.hash = "#/";
  });
}

export async function signInPage(view) {
  account(view, "signin", "Sign in", "Sign in", "Password");
}

export async function signUpPage(view) {
  account(view, "signup", "Sign up", "Create account", "Password (8 characters or more)");
}

export async function sellPage(view) {
  const { currency } = await loadConfig();
  formPage(view, "Sell a ticket", "Buyers see it at once; you can edit or withdraw it while nobody holds it.", [
    ["title", "Title", { type: "text", maxlength: "200", autocomplete: "off" }],
    ["price", `Price (${currency})`, { type: "text", inputmode: "decimal", autocomplete: "off" }],
  ], "List it", async (values) => {
    const ticket = await api("POST", "/api/tickets", values);
    location.hash = `#/tickets/${ticket.id}`;
  });
}
