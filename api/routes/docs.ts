/**
 * `GET /docs`: a small self-contained page that renders `/openapi.json` — no CDN, no external
 * assets, so it works offline and behind strict content security policies.
 */
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ScaleStream API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem;color:#1d232a}
h1{margin:.2rem 0}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
details{border:1px solid #d8dde3;border-radius:6px;margin:.5rem 0;padding:.4rem .7rem}
summary{cursor:pointer}code,pre{font:13px ui-monospace,monospace}
pre{background:#f5f7f9;padding:.6rem;overflow:auto;border-radius:4px}
.m{display:inline-block;min-width:3.6rem;font-weight:700;text-transform:uppercase}
.get{color:#0a6b35}.post{color:#1a4fb5}.muted{color:#5b6670}
</style></head><body>
<h1 id="title">ScaleStream API</h1><p class="muted" id="info">Loading /openapi.json …</p>
<div id="ops"></div><h2>Schemas</h2><div id="schemas"></div>
<script>
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
const pre = (v) => "<pre>" + esc(JSON.stringify(v, null, 2)) + "</pre>";
fetch("openapi.json").then((r) => r.json()).then((doc) => {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("info").innerHTML = esc(doc.info.description) +
    ' — <a href="openapi.json">openapi.json</a>';
  const groups = {};
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags ?? ["other"])[0];
      (groups[tag] ??= []).push({ path, method, op });
    }
  }
  let html = "";
  for (const [tag, ops] of Object.entries(groups)) {
    html += "<h2>" + esc(tag) + "</h2>";
    for (const { path, method, op } of ops) {
      html += '<details><summary><span class="m ' + method + '">' + method + "</span> <code>" +
        esc(path) + "</code> — " + esc(op.summary) + (op.security ? " 🔑" : "") + "</summary>";
      if (op.description) html += "<p>" + esc(op.description) + "</p>";
      if (op.parameters?.length) html += "<h4>Parameters</h4>" + pre(op.parameters);
      if (op.requestBody) html += "<h4>Request body</h4>" + pre(op.requestBody.content);
      html += "<h4>Responses</h4>";
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        const types = Object.keys(r.content ?? {}).join(", ");
        html += "<div><b>" + esc(status) + "</b> " + esc(r.description) + ' <span class="muted">' + esc(types) + "</span></div>";
      }
      html += "</details>";
    }
  }
  document.getElementById("ops").innerHTML = html;
  let s = "";
  for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
    s += '<details id="schema-' + esc(name) + '"><summary><code>' + esc(name) + "</code></summary>" + pre(schema) + "</details>";
  }
  document.getElementById("schemas").innerHTML = s;
}).catch((e) => { document.getElementById("info").textContent = "Could not load openapi.json: " + e; });
</script></body></html>`;
