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
