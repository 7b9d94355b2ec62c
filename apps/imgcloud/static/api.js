// The backend's HTTP API, same origin (/api), and the node that served each answer.
// Signed in, the browser holds the session cookie (HttpOnly: no script reads it) and
// this module the session's CSRF token, which every write carries in X-CSRF-Token.

const nodeListeners = new Set();
let latestNode = "";
let csrf = "";
let signedIn;
// Resolves once a session is known: writes wait for it, so a file chosen while the page
// still asks who is signed in is sent with the session's token, not refused.
const sessionKnown = new Promise((resolve) => {
  signedIn = resolve;
});

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

export const deleteImage = async (id) => {
  await sessionKnown;
  return call(`/api/images/${encodeURIComponent(id)}`, {
    method: "DELETE",
    headers: { "X-CSRF-Token": csrf },
  });
};

function useSession(session) {
  csrf = session.csrf || "";
  signedIn(session);
  return session;
}

// Who is signed in ({user, role, csrf}), or null when no one is.
export async function currentSession() {
  try {
    return useSession(await call("/api/session"));
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

export const signIn = async (name, password) =>
  useSession(
    await call("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name, password }),
    }),
  );

export const signOut = () =>
  call("/api/session", { method: "DELETE", headers: { "X-CSRF-Token": csrf } });

export const pageConfig = () => call("/config.json");

// POST one file as multipart field "file"; XHR because fetch has no upload progress.
// `key` goes out as the Idempotency-Key header: sending the same file again with the
// same key (after a lost answer) gives the same image, never a second one.
// `json` says whether the answer was JSON, i.e. the service's own, not a gateway's page.
export async function uploadImage(file, onProgress, key) {
  await sessionKnown;
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/images");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
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
