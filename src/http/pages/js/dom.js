// Small helpers to build the page's markup from code. Text always goes in as text nodes
// (never as HTML), so a ticket's title cannot inject markup; with the strict CSP nothing
// injected could run anyway.

let counter = 0;

/** An element with attributes (`on…` keys add listeners) and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A labelled input: the wrapper to place and the input to read. Every input gets a label. */
export function field(label, attrs) {
  const id = `field-${++counter}`;
  const input = el(attrs.tag || "input", { ...attrs, tag: undefined, id });
  return { wrapper: el("div", { class: "field" }, el("label", { for: id }, label), input), input };
}

/** The region a page's errors go to: screen readers announce what is put in it. */
export function alertRegion() {
  return el("div", { role: "alert", class: "alert" });
}

/** Shows an error (an ApiError or any Error) in an alert region, one line per message. */
export function showError(region, error) {
  const errors = error && Array.isArray(error.errors) ? error.errors : [{ message: String(error && error.message ? error.message : error) }];
  region.replaceChildren(...errors.map((e) => el("p", {}, e.message)));
}

/** A button that does `action` and shows its failure in `alertBox`, disabled while it runs. */
export function actionButton(label, attrs, action, alertBox) {
  const button = el("button", { type: "button", ...attrs });
  button.textContent = label;
  button.addEventListener("click", async () => {
    button.disabled = true;
    alertBox.replaceChildren();
    try {
      await action();
    } catch (error) {
      showError(alertBox, error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
