// Prints the WCAG 2.1 contrast ratio of every colour pair the stylesheet uses, read from
// src/tokens.css, as a Markdown table (for README.md). Exits 1 if a pair is below its minimum.
import { readFile } from "node:fs/promises";

const css = await readFile(new URL("./src/tokens.css", import.meta.url), "utf8");
const tokens = Object.fromEntries(
  [...css.matchAll(/--bq-([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})\b/g)].map((m) => [m[1], m[2].toLowerCase()]),
);

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function ratio(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// [foreground token, background token, minimum, where it is used]
const TEXT = 4.5;
const UI = 3;
const pairs = [
  ["text", "surface", TEXT, "body text on white"],
  ["text", "bg", TEXT, "body text on the page background"],
  ["text", "surface-alt", TEXT, "text on table headers, code, footer"],
  ["text", "primary-tint", TEXT, "text on a tint (the darkest tint: worst case)"],
  ["text", "warning-tint", TEXT, "warning notice, secret"],
  ["muted", "surface", TEXT, "muted text on white"],
  ["muted", "bg", TEXT, "muted text on the page background"],
  ["muted", "surface-alt", TEXT, "muted text in the footer"],
  ["muted", "primary-tint", TEXT, "muted text on a tint (worst case)"],
  ["primary", "surface", TEXT, "links, secondary buttons"],
  ["primary", "bg", TEXT, "links on the page background"],
  ["primary", "surface-alt", TEXT, "links in the footer"],
  ["primary", "primary-tint", TEXT, "links in tinted boxes (worst case)"],
  ["primary-hover", "primary-tint", TEXT, "secondary button, hovered"],
  ["text-inverse", "primary", TEXT, "primary button"],
  ["text-inverse", "primary-hover", TEXT, "primary button, hovered"],
  ["text-inverse", "error", TEXT, "danger button"],
  ["text-inverse", "error-hover", TEXT, "danger button, hovered"],
  ["text-inverse", "text", TEXT, "demo banner"],
  ["error", "surface", TEXT, "field error message, error summary"],
  ["error", "bg", TEXT, "field error message on the page background"],
  ["success", "success-tint", TEXT, "success colour on its tint"],
  ["error", "error-tint", TEXT, "error colour on its tint"],
  ["warning", "warning-tint", TEXT, "warning colour on its tint"],
  ["info", "info-tint", TEXT, "info colour on its tint"],
  ["badge-neutral", "badge-neutral-bg", TEXT, ".badge, .badge--neutral"],
  ["badge-success", "badge-success-bg", TEXT, ".badge--success"],
  ["badge-warning", "badge-warning-bg", TEXT, ".badge--warning"],
  ["badge-danger", "badge-danger-bg", TEXT, ".badge--danger"],
  ["badge-info", "badge-info-bg", TEXT, ".badge--info"],
  ["border-strong", "surface", UI, "input, select and textarea border"],
  ["border-strong", "bg", UI, "empty-state border, input border on the page background"],
  ["primary", "surface", UI, "secondary button border, checkbox (accent-color)"],
  ["error", "surface", UI, "invalid input border, error-summary border"],
  ["warning-border", "surface", UI, "secret border, warning notice border"],
  ["focus", "surface", UI, "focus ring on white"],
  ["focus", "bg", UI, "focus ring on the page background"],
  ["focus", "surface-alt", UI, "focus ring in the footer"],
  ["focus", "primary-tint", UI, "focus ring on a tint (worst case)"],
  ["text-inverse", "primary", UI, "inner white focus ring on a primary button"],
  ["text-inverse", "error", UI, "inner white focus ring on a danger button"],
];

let failed = false;
console.log("| Foreground | Background | Ratio | Minimum | Used for |");
console.log("| --- | --- | ---: | ---: | --- |");
for (const [fg, bg, min, use] of pairs) {
  if (!tokens[fg] || !tokens[bg]) throw new Error(`unknown token ${fg} or ${bg}`);
  const r = ratio(tokens[fg], tokens[bg]);
  const ok = r >= min;
  failed ||= !ok;
  console.log(
    `| \`${fg}\` ${tokens[fg]} | \`${bg}\` ${tokens[bg]} | ${r.toFixed(2)}:1${ok ? "" : " **FAIL**"} | ${min}:1 | ${use} |`,
  );
}
process.exit(failed ? 1 : 0);
