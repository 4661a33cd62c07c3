// scimlite console: progressive enhancement only; every page works without it.
"use strict";

// Ask before destructive actions: forms carry the question in data-confirm.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// "Copy" buttons copy the value of the input they name (a new token's secret).
document.addEventListener("click", (event) => {
  const id = event.target.dataset && event.target.dataset.copy;
  if (!id) return;
  const input = document.getElementById(id);
  input.select();
  navigator.clipboard.writeText(input.value).then(
    () => { event.target.textContent = "Copied"; },
    () => { event.target.textContent = "Press Ctrl+C"; },
  );
});

// Live tables (data-live: a stream of console/live.py): rows that commit while the page is
// open arrive as HTML rendered by the page's own template macros, oldest first, and go on
// top. A row already shown (committed while the page loaded) is not added twice. After a
// dropped connection, EventSource resumes from the last message's id (Last-Event-ID). A
// hidden tab closes its stream (a browser opens only 6 connections to a site over HTTP/1.1)
// and reopens it from the last id when shown again.
function followLive(box) {
  const body = box.querySelector("tbody");
  if (!body || !window.EventSource) return;
  let after = null;
  let source = null;
  const insert = (message) => {
    after = message.lastEventId;
    const template = document.createElement("template");
    template.innerHTML = JSON.parse(message.data);
    for (const row of Array.from(template.content.children)) {
      if (row.id && document.getElementById(row.id)) continue;
      row.classList.add("arrived");
      body.prepend(row);
    }
    box.hidden = false;
    const empty = box.nextElementSibling;
    if (empty && empty.classList.contains("empty")) empty.remove();
  };
  const open = () => {
    if (source) return;
    const url = new URL(box.dataset.live, window.location.href);
    if (after) url.searchParams.set("after", after);
    source = new EventSource(url);
    source.addEventListener("rows", insert);
  };
  const close = () => {
    if (source) source.close();
    source = null;
  };
  document.addEventListener("visibilitychange", () => (document.hidden ? close() : open()));
  if (!document.hidden) open();
}
document.querySelectorAll("[data-live]").forEach(followLive);
