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
// reconnect, EventSource resumes from the last message's id (Last-Event-ID).
function followLive(box) {
  const body = box.querySelector("tbody");
  if (!body || !window.EventSource) return;
  const source = new EventSource(box.dataset.live);
  source.addEventListener("rows", (message) => {
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
  });
}
document.querySelectorAll("[data-live]").forEach(followLive);
