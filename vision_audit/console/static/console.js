// vision-audit reviewer console: keyboard shortcuts and one submit per form.
// No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("decide-form");
  if (!form) return;
  const rationale = document.getElementById("rationale");
  // Shortcuts a, r, o, e pick a decision; / goes to the rationale; Ctrl+Enter records.
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName) &&
      event.target.type !== "radio" && event.target.type !== "checkbox";
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/") {
      event.preventDefault();
      rationale.focus();
      return;
    }
    const choice = form.querySelector(`input[name="decision"][data-key="${event.key}"]`);
    if (choice) {
      event.preventDefault();
      choice.checked = true;
      choice.focus();
    }
  });
  // A double click sends one form; the store records one decision in any case.
  form.addEventListener("submit", () => {
    for (const button of form.querySelectorAll("button[type=submit]")) {
      button.disabled = true;
      button.textContent = "Recording…";
    }
  });
});
