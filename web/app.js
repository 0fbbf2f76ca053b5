// Foohut's front end: signs up, logs in, creates and searches pages through
// the pages API, whose base URL comes from config.json next to index.html.
"use strict";

const state = {
  api: "http://127.0.0.1:8080",
  token: sessionStorage.getItem("foohut.token") || "",
  email: sessionStorage.getItem("foohut.email") || "",
};

const $ = (id) => document.getElementById(id);

function say(message, kind) {
  $("status").textContent = message;
  $("status").className = kind || "";
}

async function loadConfig() {
  try {
    const res = await fetch("config.json", { cache: "no-cache" });
    const config = res.ok ? await res.json() : {};
    // "" means this page's own origin (a proxy in front of both services).
    if (typeof config.apiBaseUrl === "string") {
      state.api = config.apiBaseUrl.replace(/\/+$/, "");
    }
  } catch (e) {
    // Keep the default; the footer shows which API is used.
  }
  $("api-base").textContent = state.api || location.origin;
}

// Calls the API; resolves to the JSON body, rejects with a readable Error.
async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  let res;
  try {
    res = await fetch(state.api + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new Error(`cannot reach the API at ${state.api} (down, or this origin not allowed)`);
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    if (res.status === 401 && state.token) setSession("", "");
    throw new Error((data.error && data.error.message) || `HTTP ${res.status}`);
  }
  return data;
}

function setSession(token, email) {
  state.token = token;
  state.email = email;
  sessionStorage.setItem("foohut.token", token);
  sessionStorage.setItem("foohut.email", email);
  $("session").textContent = token ? `Signed in as ${email}` : "Not signed in";
  $("logout").hidden = !token;
  for (const el of $("page-form").elements) el.disabled = !token;
}

async function onAuth(event) {
  event.preventDefault();
  const form = event.target;
  const creds = { email: form.email.value.trim(), password: form.password.value };
  const action = event.submitter ? event.submitter.value : "login";
  try {
    if (action === "signup") await call("POST", "/api/v1/signup", creds);
    const login = await call("POST", "/api/v1/login", creds);
    setSession(login.token, creds.email.toLowerCase());
    form.password.value = "";
    say(action === "signup" ? "Account created; you are signed in." : "Signed in.", "ok");
  } catch (e) {
    say(e.message, "error");
  }
}

async function onCreatePage(event) {
  event.preventDefault();
  const form = event.target;
  try {
    const page = await call("POST", "/api/v1/pages", {
      title: form.title.value,
      body: form.body.value,
    });
    form.reset();
    say(`Published page #${page.id}.`, "ok");
  } catch (e) {
    say(e.message, "error");
  }
}

function showResults(pages) {
  const list = $("results");
  list.replaceChildren();
  for (const page of pages) {
    const item = document.createElement("li");
    const title = document.createElement("strong");
    title.textContent = page.title;
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `#${page.id} · ${page.created_at}`;
    const body = document.createElement("p");
    body.textContent = page.body.length > 280 ? page.body.slice(0, 280) + "…" : page.body;
    item.append(title, meta, body);
    list.append(item);
  }
}

async function onSearch(event) {
  event.preventDefault();
  const q = event.target.q.value.trim();
  if (!q) return;
  try {
    const data = await call("GET", "/api/v1/pages?q=" + encodeURIComponent(q));
    showResults(data.results);
    say(`${data.results.length} page${data.results.length === 1 ? "" : "s"} found.`, "ok");
  } catch (e) {
    say(e.message, "error");
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("auth-form").addEventListener("submit", onAuth);
  $("page-form").addEventListener("submit", onCreatePage);
  $("search-form").addEventListener("submit", onSearch);
  $("logout").addEventListener("click", () => {
    setSession("", "");
    say("Signed out.");
  });
  setSession(state.token, state.email);
  await loadConfig();
});
