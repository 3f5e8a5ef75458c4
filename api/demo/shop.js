/**
 * The demo shop: a product list, product pages, a cart and a checkout, tracked with the browser
 * SDK exactly as a shop would use it. `?key=spk_…` in the address is the publishable key (needed
 * when the API has keys); it is taken out of the address before anything is tracked.
 */
// Relative, so the same path works in the repository (api/demo → api/sdk) and on the server
// (/demo/shop.js → /sdk/v1.js).
import { createTracker } from "../sdk/v1.js";

const PRODUCTS = [
  {
    productId: "demo-headphones",
    name: "Wireless headphones",
    category: "electronics",
    price: 89.9,
  },
  { productId: "demo-charger", name: "USB-C charger", category: "electronics", price: 24.5 },
  { productId: "demo-sneakers", name: "Trail sneakers", category: "fashion", price: 64 },
  { productId: "demo-jacket", name: "Winter jacket", category: "fashion", price: 129 },
  { productId: "demo-lamp", name: "Desk lamp", category: "home", price: 39.95 },
  { productId: "demo-coffee", name: "Coffee maker", category: "home", price: 74.99 },
];

const address = new URL(location.href);
const key = address.searchParams.get("key");
if (key !== null) {
  address.searchParams.delete("key");
  history.replaceState(null, "", address);
}

const log = document.getElementById("event-log");
const view = document.getElementById("view");
/** @type {{ productId: string, name: string, category: string, price: number, quantity: number }[]} */
const cart = [];

const tracker = createTracker({
  ...(key ? { key } : {}),
  endpoint: location.origin,
  onEvent: (e) => logEvent(e.eventType, e.eventId),
  // A shop that sells in one country knows where its visitors are; events without a location are
  // counted under an unknown country.
  location: { country: "GB", region: "England" },
  flushIntervalMs: 500,
  // A demo retries soon after a failed send (the default backoff grows to a minute).
  maxRetryMs: 5000,
});

const track = (type, props) => tracker.track(type, props);

/** Lists an event the tracker queued in the log panel (the end-to-end test reads it). */
function logEvent(type, id) {
  const li = document.createElement("li");
  li.dataset.eventId = id;
  li.dataset.eventType = type;
  li.textContent = `${type} ${id}`;
  log.append(li);
}

const money = (n) => n.toLocaleString("en-GB", { style: "currency", currency: "GBP" });
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
};

function renderList() {
  view.replaceChildren(
    el("h1", {}, "Products"),
    el(
      "div",
      { class: "products" },
      ...PRODUCTS.map((p) =>
        el(
          "div",
          { class: "card" },
          el("a", {
            href: `#/product/${p.productId}`,
            "data-product": p.productId,
            onclick: () => track("product_click", { productId: p.productId, category: p.category }),
          }, p.name),
          el("p", { class: "price" }, money(p.price)),
        )
      ),
    ),
  );
}

function renderProduct(id) {
  const p = PRODUCTS.find((x) => x.productId === id);
  if (!p) return renderList();
  view.replaceChildren(
    el("h1", {}, p.name),
    el("p", {}, `Category: ${p.category}`),
    el("p", { class: "price" }, money(p.price)),
    el("button", {
      id: "add-to-cart",
      onclick: () => {
        const line = cart.find((l) => l.productId === p.productId);
        if (line) line.quantity++;
        else cart.push({ ...p, quantity: 1 });
        track("add_to_cart", {
          productId: p.productId,
          category: p.category,
          price: p.price,
          quantity: 1,
        });
        document.getElementById("cart-count").textContent = String(
          cart.reduce((n, l) => n + l.quantity, 0),
        );
      },
    }, "Add to cart"),
  );
}

function renderCart() {
  const total = cart.reduce((s, l) => s + l.price * l.quantity, 0);
  view.replaceChildren(
    el("h1", {}, "Cart"),
    el(
      "table",
      {},
      ...cart.map((l) =>
        el(
          "tr",
          {},
          el("td", {}, l.name),
          el("td", {}, `× ${l.quantity}`),
          el("td", {}, money(l.price * l.quantity)),
        )
      ),
    ),
    el("p", { class: "price" }, `Total ${money(total)}`),
    cart.length === 0 ? el("p", {}, "Your cart is empty.") : el("button", {
      id: "checkout",
      onclick: async () => {
        // Signing in at checkout: from here on events carry the customer's id.
        tracker.identify("demo-customer-" + tracker.state().anonymousId.slice(-8));
        const orderId = "demo-order-" + crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
        for (const l of cart.splice(0)) {
          track("purchase", {
            productId: l.productId,
            category: l.category,
            price: l.price,
            quantity: l.quantity,
            orderId,
          });
        }
        document.getElementById("cart-count").textContent = "0";
        await tracker.flush();
        location.hash = `#/thanks/${orderId}`;
      },
    }, "Buy now"),
  );
}

function renderThanks(orderId) {
  view.replaceChildren(
    el("h1", {}, "Thank you"),
    el("p", { id: "order", "data-order-id": orderId }, `Order ${orderId} is placed.`),
    el("a", { href: "#/" }, "Back to the shop"),
  );
}

function route() {
  const [, page, arg] = location.hash.split("/");
  if (page === "product") renderProduct(arg);
  else if (page === "cart") renderCart();
  else if (page === "thanks") renderThanks(arg);
  else renderList();
}

addEventListener("hashchange", route);
route();
