// The account page: who is signed in, changing the password (which signs out every other
// session, DESIGN §4) and signing out.

import { api } from "./api.js";
import { el, field, alertRegion, showError, actionButton } from "./dom.js";

export async function accountPage(view) {
  const alert = alertRegion();
  const done = el("p", { role: "status" });
  const current = field("Current password", { name: "currentPassword", type: "password", autocomplete: "current-password", required: true });
  const fresh = field("New password (8 characters or more)", { name: "newPassword", type: "password", autocomplete: "new-password", minlength: "8", required: true });
  const save = el("button", { type: "submit", class: "primary" }, "Change password");
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      alert.replaceChildren();
      done.textContent = "";
      save.disabled = true;
      try {
        await api("POST", "/api/users/password", { currentPassword: current.input.value, newPassword: fresh.input.value });
        current.input.value = "";
        fresh.input.value = "";
        done.textContent = "Password changed. Your other sessions are signed out.";
      } catch (error) {
        showError(alert, error);
      } finally {
        save.disabled = false;
      }
    },
  }, el("h2", {}, "Change password"), current.wrapper, fresh.wrapper, alert, save, done);
  const signOutAlert = alertRegion();
  const signOut = actionButton("Sign out", {}, async () => {
    await api("POST", "/api/users/signout");
    await view.refreshUser();
    location.hash = "#/";
  }, signOutAlert);
  view.show("Account", el("p", {}, "Signed in as ", el("strong", {}, view.me.email), "."), form,
    el("section", { "aria-labelledby": "signout-heading" }, el("h2", { id: "signout-heading" }, "Sign out"), el("p", {}, "Ends this session on this device."), signOut, signOutAlert));
}
