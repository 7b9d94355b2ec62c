// The detail view: the image large, every variant with its size, and delete.

import { deleteImage, getImage, lastNode } from "./api.js";
import { bytes, dimensions, el, toast } from "./format.js";

const $ = (id) => document.getElementById(id);

export class Detail {
  constructor({ onDeleted }) {
    this.dialog = $("detail");
    this.onDeleted = onDeleted;
    this.current = null;
    $("delete").addEventListener("click", () => this.remove());
    this.dialog.addEventListener("close", () => {
      this.current = null;
      if (location.hash.startsWith("#/images/")) history.replaceState(null, "", "#");
    });
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.dialog.close();
    });
  }

  async open(id) {
    let image;
    try {
      image = await getImage(id);
    } catch (error) {
      toast(`That image cannot be shown: ${error.message}`, "bad");
      return;
    }
    this.current = image;
    this.show(image);
    if (!this.dialog.open) this.dialog.showModal();
    history.replaceState(null, "", `#/images/${id}`);
  }

  show(image) {
    const biggest = Object.entries(image.sizes)
      .filter(([name]) => name !== "original")
      .sort(([, a], [, b]) => b.width - a.width)[0];
    const preview = $("detail-image");
    preview.src = image.variants[biggest ? biggest[0] : "original"];
    preview.alt = image.filename || image.id;
    $("detail-title").textContent = image.filename || image.id;
    const made = image.processed_by ? ` · resized by ${image.processed_by}` : "";
    const uploaded = new Date(image.created * 1000).toLocaleString();
    $("detail-meta").textContent =
      `${image.format} · ${image.status} · uploaded ${uploaded}${made} · served by ${lastNode()}`;
    const problem = $("detail-error");
    problem.hidden = !image.error;
    problem.textContent = image.error || "";
    const rows = Object.entries(image.sizes)
      .sort(([, a], [, b]) => b.width - a.width)
      .map(([name, size]) =>
        el(
          "tr",
          { "data-variant": name },
          el("td", {}, el("a", { href: image.variants[name], target: "_blank", rel: "noopener", text: name })),
          el("td", { text: dimensions(size) }),
          el("td", { text: bytes(size.bytes) }),
          el("td", { class: "muted", text: size.content_type.replace("image/", "") }),
        ),
      );
    $("detail-variants").replaceChildren(...rows);
  }

  async remove() {
    const image = this.current;
    if (!image) return;
    const button = $("delete");
    button.disabled = true;
    try {
      await deleteImage(image.id);
      this.dialog.close();
      this.onDeleted(image.id);
      toast(`Deleted ${image.filename || image.id}`);
    } catch (error) {
      toast(`Could not delete: ${error.message}`, "bad");
    } finally {
      button.disabled = false;
    }
  }
}
