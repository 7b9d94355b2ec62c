// The backend's HTTP API, same origin (/api), and the node that served each answer.

const nodeListeners = new Set();
let latestNode = "";

// The node named by the most recent answer's X-Served-By header.
export const lastNode = () => latestNode;

export function onNode(listener) {
  nodeListeners.add(listener);
}

function noteNode(name) {
  if (!name) return;
  latestNode = name;
  nodeListeners.forEach((listener) => listener(name));
}

async function json(response) {
  noteNode(response.headers.get("X-Served-By"));
  let body;
  try {
    body = await response.json();
  } catch {
    body = { error: `the server answered ${response.status} ${response.statusText}` };
  }
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { cache: "no-store", ...options });
  } catch {
    throw new Error("the server could not be reached; check your connection");
  }
  return json(response);
}

export const listImages = (after = "", limit = 24) =>
  call(`/api/images?limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ""}`);

export const getImage = (id) => call(`/api/images/${encodeURIComponent(id)}`);

export const deleteImage = (id) =>
  call(`/api/images/${encodeURIComponent(id)}`, { method: "DELETE" });

export const pageConfig = () => call("/config.json");

// POST one file as multipart field "file"; XHR because fetch has no upload progress.
// `key` goes out as the Idempotency-Key header: sending the same file again with the
// same key (after a lost answer) gives the same image, never a second one.
// `json` says whether the answer was JSON, i.e. the service's own, not a gateway's page.
export function uploadImage(file, onProgress, key) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/images");
    if (key) xhr.setRequestHeader("Idempotency-Key", key);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const node = xhr.getResponseHeader("X-Served-By");
      noteNode(node);
      let body;
      let json = true;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        json = false;
        body = { error: `the server answered ${xhr.status} ${xhr.statusText}` };
      }
      resolve({ ok: xhr.status === 202, status: xhr.status, body, json, node });
    });
    const unreachable = () =>
      resolve({ ok: false, status: 0, body: { error: "the server could not be reached" } });
    xhr.addEventListener("error", unreachable);
    xhr.addEventListener("timeout", unreachable);
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
