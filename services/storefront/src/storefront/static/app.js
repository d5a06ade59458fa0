// Progressive enhancement only: every page works as plain HTML forms and links; htmx
// (vendored) swaps fragments. This file streams the assistant's reply into the chat
// panel: the message form is sent with fetch and its Server-Sent Events read as they
// come (the API's chat endpoint is a POST, which EventSource cannot send).
"use strict";

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.matches("#chat-form") || !window.fetch || !window.TextDecoder) return;
  event.preventDefault();
  const input = form.elements.content;
  const text = input.value.trim();
  if (!text) return;
  const log = document.getElementById("chat-log");
  const status = document.getElementById("chat-status");
  const button = form.querySelector("button[type=submit]");
  const body = new URLSearchParams(new FormData(form));
  const mine = document.createElement("li");
  mine.className = "user";
  mine.append(Object.assign(document.createElement("p"), { textContent: text }));
  const reply = document.createElement("li");
  reply.className = "assistant";
  reply.setAttribute("aria-busy", "true");
  const words = document.createElement("p");
  let written = "";
  const show = () => {  // product references are shown as cards once the reply is done
    words.textContent = written.replace(/\s*\[product:[^\]]*\]/gi, "");
  };
  reply.append(words);
  log.append(mine, reply);
  input.value = "";
  button.disabled = true;

  const place = (html, replace) => {
    const template = document.createElement("template");
    template.innerHTML = html;
    if (replace) reply.replaceChildren(template.content); else reply.append(template.content);
    if (window.htmx) window.htmx.process(reply);
  };
  const handle = (block) => {
    let name = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trim();
    }
    if (!data) return;
    const payload = JSON.parse(data);
    if (name === "start") form.elements.session_id.value = payload.session_id;
    else if (name === "delta") { written += payload.text; show(); }
    else if (name === "reset") { written = ""; show(); }
    else if (name === "status") status.textContent = payload.text;
    else if (name === "action") place(payload.html, false);
    else if (name === "done" || name === "error") place(payload.html, true);
  };

  try {
    const response = await fetch(form.action, {
      method: "POST",
      body,
      headers: { Accept: "text/event-stream", "X-CSRF-Token": form.elements.csrf.value },
    });
    if (!response.ok || !response.body) {
      place(await response.text(), true);
      input.value = text;
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handle(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (error) {
    words.textContent = "The assistant did not answer. Your message is kept: send it again.";
    input.value = text;
  } finally {
    reply.removeAttribute("aria-busy");
    status.textContent = "";
    button.disabled = false;
    input.focus();
  }
});
