// Bouquet front-end script: htmx, and focus on the error summary.
// No inline style or script is created here: the CSP allows 'self' only.
import htmx from "htmx.org";

window.htmx = htmx;

function focusErrorSummary() {
  const summary = document.getElementById("erreurs");
  if (summary) {
    summary.focus();
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", focusErrorSummary);
} else {
  focusErrorSummary();
}
