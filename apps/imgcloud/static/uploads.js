// The upload queue: one row per file with a preview, a progress bar and the outcome.

import { uploadImage } from "./api.js";
import { bytes, el } from "./format.js";

const PARALLEL = 3;
const DONE_ROW_MS = 4000;
// A lost answer (a VM died under the upload) is sent again with the same key, so the
// server stores the image once: up to 4 attempts, 1 s, 2 s, 4 s apart.
const ATTEMPTS = 4;
const FIRST_PAUSE_MS = 1000;
const GATEWAY_ERRORS = new Set([502, 503, 504]);

// Worth another try: no answer at all, or a gateway's 502/503/504 rather than the
// service's own JSON refusal (S3 or the broker down is said, not retried); the dev
// proxy's "backend not reachable" is a gateway's answer too.
export function retryable(result) {
  if (result.status === 0) return true;
  if (!GATEWAY_ERRORS.has(result.status)) return false;
  return !result.json || result.body.reason === "backend";
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A fresh key per file. crypto.randomUUID exists only in secure contexts (HTTPS,
// localhost); over plain HTTP a version-4 UUID is made from getRandomValues instead.
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

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
    const result = await this.sendWithRetries(file, bar, state);
    if (!result.ok) return this.fail(node, bar, state, result.body.error || `HTTP ${result.status}`);
    bar.value = 1;
    node.classList.add("done");
    state.textContent = `accepted by ${result.node || "?"} · resizing`;
    this.onAccepted(result.body.id);
    setTimeout(() => node.remove(), DONE_ROW_MS);
  }

  async sendWithRetries(file, bar, state) {
    const key = newKey();
    let result;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      const label = attempt === 1 ? "uploading…" : `uploading again (${attempt}/${ATTEMPTS})…`;
      state.textContent = label;
      bar.value = 0;
      result = await uploadImage(
        file,
        (share) => {
          bar.value = share;
          state.textContent = `${label} ${Math.round(share * 100)}%`;
        },
        key,
      );
      if (!retryable(result) || attempt === ATTEMPTS) break;
      state.textContent = "no answer; trying again…";
      await pause(FIRST_PAUSE_MS * 2 ** (attempt - 1));
    }
    return result;
  }

  fail(node, bar, state, message) {
    node.classList.add("error");
    node.dataset.testid = "upload-error";
    bar.remove();
    state.textContent = message;
  }
}
