// imgcloud's page: wires the drop zone, the upload queue, the gallery and the detail view.

import { currentSession, onNode, pageConfig, signIn, signOut } from "./api.js";
import { Detail } from "./detail.js";
import { bytes } from "./format.js";
import { Gallery } from "./gallery.js";
import { Uploads } from "./uploads.js";

const $ = (id) => document.getElementById(id);

function showNode() {
  const label = $("node-name");
  const holder = label.closest(".node");
  onNode((name) => {
    if (label.textContent !== name) {
      label.textContent = name;
      holder.classList.remove("flash");
      void holder.offsetWidth; // restart the animation
      holder.classList.add("flash");
    }
  });
}

function wireDropZone(zone, input, onFiles) {
  const pick = () => input.click();
  $("choose").addEventListener("click", (event) => {
    event.stopPropagation();
    pick();
  });
  zone.addEventListener("click", pick);
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      pick();
    }
  });
  input.addEventListener("change", () => {
    onFiles([...input.files]);
    input.value = "";
  });
  let depth = 0;
  zone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    zone.classList.add("over");
  });
  zone.addEventListener("dragover", (event) => event.preventDefault());
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("over");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("over");
    onFiles([...event.dataTransfer.files]);
  });
  // A file dropped beside the zone should not navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

function showSignedIn(session) {
  $("sign-in").hidden = true;
  $("signed-in").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = `${session.user}${session.role === "admin" ? " (admin)" : ""}`;
}

// The session, once someone is signed in: at once when a cookie is held, else after the
// form is sent with a name and password that match.
async function session() {
  const held = await currentSession();
  if (held) return held;
  const form = $("sign-in");
  form.hidden = false;
  $("sign-in-name").focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const problem = $("sign-in-error");
      try {
        resolve(await signIn($("sign-in-name").value, $("sign-in-password").value));
        $("sign-in-password").value = "";
      } catch (error) {
        problem.textContent = error.message;
        problem.hidden = false;
      }
    });
  });
}

$("sign-out").addEventListener("click", async () => {
  try {
    await signOut();
  } finally {
    location.reload();
  }
});

// Everything that takes a file is wired before anything is fetched: a file chosen while
// the settings or the gallery are still on their way (a slow node, a moving floating IP)
// is uploaded, not dropped with no handler to see it.
async function start() {
  showNode();
  const detail = new Detail({ onDeleted: (id) => gallery.remove(id) });
  const gallery = new Gallery($("gallery"), {
    onOpen: (id) => detail.open(id),
    empty: $("empty"),
    count: $("count"),
    more: $("more"),
    error: $("load-error"),
  });
  const uploads = new Uploads($("uploads"), {
    maxBytes: 0, // unknown until the settings arrive; the server checks the limit anyway
    onAccepted: (id) => gallery.track(id),
  });
  wireDropZone($("drop"), $("file-input"), (files) => uploads.add(files));
  const match = location.hash.match(/^#\/images\/([0-9a-f]+)$/);
  if (match) detail.open(match[1]);
  showLimit(uploads); // not waited for: the page works before its settings arrive
  showSignedIn(await session());
  await gallery.refresh();
}

async function showLimit(uploads) {
  try {
    const config = await pageConfig();
    uploads.maxBytes = config.max_upload_bytes;
    $("limit").textContent = bytes(config.max_upload_bytes);
  } catch {
    // The page only shows the limit and checks it early; the server enforces it.
  }
}

start();
