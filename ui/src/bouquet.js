// Bouquet front-end script: htmx, focus on the error summary, live character counters.
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

// Live character counters (progressive enhancement: the server checks every value anyway).
// An input with data-compteur="N" and a hint [data-compteur-pour="<its id>"] shows
// "12 caractères sur 15" as one types; a visually hidden live region repeats it for screen
// readers after a pause rather than at every key. With data-motif (a regular expression) and
// data-motif-aide, the hint also says when the value does not follow the rule.
function liveCounters() {
  for (const input of document.querySelectorAll("[data-compteur]")) {
    const max = Number(input.dataset.compteur);
    const hint = document.querySelector(`[data-compteur-pour="${input.id}"]`);
    if (!hint || !max) {
      continue;
    }
    const live = document.createElement("p");
    live.className = "visually-hidden";
    live.setAttribute("aria-live", "polite");
    hint.after(live);
    let motif = null;
    if (input.dataset.motif) {
      try {
        motif = new RegExp(input.dataset.motif, "u");
      } catch {
        motif = null;
      }
    }
    let timer = 0;
    const update = () => {
      const n = [...input.value].length;
      let text =
        n <= max
          ? `${n} caractère${n > 1 ? "s" : ""} sur ${max} au plus.`
          : `${n} caractères : ${n - max} de trop (${max} au plus).`;
      const wrong = motif !== null && input.value !== "" && !motif.test(input.value);
      if (wrong && input.dataset.motifAide) {
        text += ` ${input.dataset.motifAide}`;
      }
      hint.textContent = text;
      hint.classList.toggle("field__error", n > max || wrong);
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        live.textContent = text;
      }, 1000);
    };
    input.addEventListener("input", update);
    if (input.value !== "") {
      update();
    }
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", liveCounters);
} else {
  liveCounters();
}
