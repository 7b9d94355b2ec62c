// The upload queue: one row per file with a preview, a progress bar and the outcome.

import { uploadImage } from "./api.js";
import { bytes, el } from "./format.js";

const PARALLEL = 3;
const DONE_ROW_MS = 4000;

export class Uploads {
  constructor(list, { onAccepted, maxBytes }) {
    Object.assign(this, { list, onAccepted, maxBytes });
    this.queue = [];
    this.active = 0;
  }

  add(files) {
    for (const file of files) this.queue.push(this.row(file));
    this.pump();
  }

  row(file) {
    const preview = el("img", { alt: "" });
    const objectUrl = URL.createObjectURL(file);
    preview.src = objectUrl;
    preview.addEventListener("error", () => {
      const kind = file.name.includes(".") ? file.name.split(".").pop().slice(0, 4) : "?";
      preview.replaceWith(el("span", { class: "no-preview", text: kind }));
    });
    const bar = el("progress", { max: 1, value: 0 });
    const state = el("span", { class: "state", text: `waiting · ${bytes(file.size)}` });
    const close = el("button", {
      class: "icon-button",
      type: "button",
      "aria-label": "Dismiss",
      text: "×",
      onclick: () => node.remove(),
    });
    const node = el(
      "li",
      { class: "upload", "data-testid": "upload" },
      preview,
      el("div", {}, el("div", { class: "name", text: file.name }), bar, state),
      close,
    );
    this.list.prepend(node);
    return { file, node, bar, state, objectUrl };
  }

  pump() {
    while (this.active < PARALLEL && this.queue.length) {
      const item = this.queue.shift();
      this.active += 1;
      this.send(item).finally(() => {
        this.active -= 1;
        URL.revokeObjectURL(item.objectUrl);
        this.pump();
      });
    }
  }

  async send({ file, node, bar, state }) {
    if (this.maxBytes && file.size > this.maxBytes) {
      return this.fail(node, bar, state, `the file is ${bytes(file.size)}; the limit is ${bytes(this.maxBytes)}`);
    }
    state.textContent = "uploading…";
    const result = await uploadImage(file, (share) => {
      bar.value = share;
      state.textContent = `uploading… ${Math.round(share * 100)}%`;
    });
    if (!result.ok) return this.fail(node, bar, state, result.body.error || `HTTP ${result.status}`);
    bar.value = 1;
    node.classList.add("done");
    state.textContent = `accepted by ${result.node || "?"} · resizing`;
    this.onAccepted(result.body.id);
    setTimeout(() => node.remove(), DONE_ROW_MS);
  }

  fail(node, bar, state, message) {
    node.classList.add("error");
    node.dataset.testid = "upload-error";
    bar.remove();
    state.textContent = message;
  }
}
