// The gallery: cards newest first, each following its image's status until it is done.

import { getImage, listImages } from "./api.js";
import { ago, bytes, dimensions, el } from "./format.js";

const POLL_MS = 800;
const REFRESH_MS = 15000;

// Ids sort newest first (they start with the inverted upload time).
const newerFirst = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

function smallVariants(image) {
  return Object.entries(image.sizes)
    .filter(([name]) => name !== "original")
    .sort(([, a], [, b]) => a.width - b.width);
}

function picture(image) {
  const variants = smallVariants(image);
  const img = el("img", { alt: image.filename || image.id, loading: "lazy", decoding: "async" });
  img.addEventListener("load", () => img.classList.add("loaded"));
  if (variants.length) {
    img.srcset = variants.map(([name, size]) => `${image.variants[name]} ${size.width}w`).join(", ");
    img.sizes = "(max-width: 600px) 50vw, 240px";
    img.src = image.variants[variants[0][0]];
  } else {
    img.src = image.variants.original;
  }
  return img;
}

function frame(image) {
  if (image.status === "done") return el("div", { class: "frame" }, picture(image));
  if (image.status === "failed") {
    return el("div", { class: "frame", "data-testid": "card-error", text: image.error || "failed" });
  }
  return el("div", { class: "frame", "aria-label": "resizing" });
}

const BADGES = { pending: "Resizing…", failed: "Failed", done: "" };

function card(image, onOpen) {
  const original = image.sizes.original;
  const sub = `${dimensions(original)} · ${bytes(original.bytes)} · ${ago(image.created)}`;
  return el(
    "li",
    {
      class: "card",
      tabindex: "0",
      "data-id": image.id,
      "data-status": image.status,
      "data-testid": "card",
      title: image.status === "failed" ? image.error : image.filename,
      onclick: () => onOpen(image.id),
      onkeydown: (event) => event.key === "Enter" && onOpen(image.id),
    },
    frame(image),
    el("span", { class: `badge ${image.status}`, text: BADGES[image.status] }),
    el(
      "div",
      { class: "caption" },
      el("span", { class: "title", text: image.filename || image.id }),
      el("span", { class: "sub", text: sub }),
    ),
  );
}

export class Gallery {
  constructor(list, { onOpen, empty, count, more, error }) {
    Object.assign(this, { list, onOpen, empty, count, more, error });
    this.cards = new Map();
    this.next = null;
    this.more.addEventListener("click", () => this.loadMore());
    setInterval(() => this.pollPending(), POLL_MS);
    setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    try {
      const page = await listImages();
      page.images.forEach((image) => this.upsert(image));
      if (this.cards.size <= page.images.length) this.setNext(page.next);
      this.error.hidden = true;
    } catch (error) {
      this.error.textContent = `The gallery could not be loaded: ${error.message}`;
      this.error.hidden = false;
    }
    this.updateCounts();
  }

  async loadMore() {
    if (!this.next) return;
    this.more.disabled = true;
    try {
      const page = await listImages(this.next);
      page.images.forEach((image) => this.upsert(image));
      this.setNext(page.next);
    } catch (error) {
      this.error.textContent = `More images could not be loaded: ${error.message}`;
      this.error.hidden = false;
    } finally {
      this.more.disabled = false;
    }
    this.updateCounts();
  }

  setNext(cursor) {
    this.next = cursor;
    this.more.hidden = !cursor;
  }

  upsert(image) {
    const known = this.cards.get(image.id);
    if (known && known.status === image.status) return;
    const node = card(image, this.onOpen);
    if (known) {
      known.node.replaceWith(node);
    } else {
      const after = [...this.cards.keys()].sort(newerFirst).find((id) => newerFirst(id, image.id) > 0);
      this.list.insertBefore(node, after ? this.cards.get(after).node : null);
    }
    this.cards.set(image.id, { node, status: image.status, image });
    this.updateCounts();
  }

  remove(id) {
    const known = this.cards.get(id);
    if (!known) return;
    known.node.remove();
    this.cards.delete(id);
    this.updateCounts();
  }

  async track(id) {
    try {
      this.upsert(await getImage(id));
    } catch {
      // The poller tries again.
    }
  }

  // One round at a time: on a slow server, rounds started every POLL_MS would queue
  // behind each other in the browser's six connections per host, and an upload behind them.
  async pollPending() {
    if (this.polling) return;
    this.polling = true;
    const pending = [...this.cards.values()].filter((c) => c.status === "pending").slice(0, 12);
    try {
      await Promise.all(
        pending.map(async ({ image }) => {
          try {
            this.upsert(await getImage(image.id));
          } catch (error) {
            if (error.status === 404) this.remove(image.id);
          }
        }),
      );
    } finally {
      this.polling = false;
    }
  }

  updateCounts() {
    const total = this.cards.size;
    this.empty.hidden = total > 0;
    this.count.textContent = total ? `${total}${this.next ? "+" : ""} image${total === 1 ? "" : "s"}` : "";
  }
}
