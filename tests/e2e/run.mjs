#!/usr/bin/env node
// Parcours dans le navigateur de Bouquet — Bouquet's browser journeys.
//
// Usage : node tests/e2e/run.mjs PATH/TO/bouquet [--mode desktop,mobile,keyboard] [--journey TEXT] [--serial]
//
// Each journey runs in three modes (desktop 1280×800, 320 px wide, keyboard alone), each time
// on a fresh demo server in a temporary data directory; Debian's Chromium is driven through playwright-core, and every
// page visited is checked with axe-core (WCAG 2.1 A and AA), for horizontal scrolling at 320 px,
// for console errors (a CSP violation shows up there), and, with the keyboard, for a visible
// focus on every control reached with Tab. No test framework: plain async functions and
// node:assert. Exits non-zero on any failure. See README.md beside this file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");
const screenshotDir = join(repoRoot, "docs", "screenshots");
const outputDir = join(here, "output"); // ignored by git: server logs, failure screenshots
const require = createRequire(import.meta.url);
const axeSource = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");

const PASSWORD = "bouquet-demo";
const ACCOUNTS = {
  admin: { email: "admin@operateur.demo", home: "/o/999999998/", h1: "Syndicat mixte Bouquet (démo)" },
  agent: { email: "agent@commune.demo", home: "/o/213500051/", h1: "Arbrissel" },
  maire: { email: "maire@commune.demo", home: "/o/213500051/", h1: "Arbrissel" },
  epci: { email: "agent@epci.demo", home: "/o/243500634/", h1: "CC Roche aux Fées Communauté" },
  entreprise: {
    email: "contact@entreprise.demo",
    home: "/o/999999972/",
    h1: "Atelier Numérique des Fées (démo)",
  },
};
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const NAV_TIMEOUT = 15_000;
const WATCHDOG = 8 * 60_000; // the whole run; it takes about 3.5 min
let shotCounter = 0;

const MODES = {
  desktop: { label: "bureau 1280×800 / desktop", viewport: { width: 1280, height: 800 } },
  mobile: { label: "mobile 320 px", viewport: { width: 320, height: 640 }, narrow: true },
  keyboard: { label: "clavier seul / keyboard only", viewport: { width: 1280, height: 800 }, keyboard: true },
};

// Signatures of the pages axe-core has already checked, per mode.
const checkedPages = Object.fromEntries(Object.keys(MODES).map((m) => [m, new Set()]));

// --- Command line ----------------------------------------------------------------------------
function parseArgs(argv) {
  const args = { binary: null, modes: Object.keys(MODES), journey: null, serial: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--mode") args.modes = argv[++i].split(",");
    else if (a === "--journey") args.journey = argv[++i].toLowerCase();
    else if (a === "--serial") args.serial = true;
    else if (a === "-h" || a === "--help") {
      console.log("Usage : node run.mjs PATH/TO/bouquet [--mode desktop,mobile,keyboard] [--journey TEXT] [--serial]");
      process.exit(0);
    } else args.binary = a;
  }
  if (!args.binary) {
    console.error("Usage : node run.mjs PATH/TO/bouquet  (binaire manquant / missing binary)");
    process.exit(2);
  }
  for (const m of args.modes) {
    if (!MODES[m]) {
      console.error(`Mode inconnu / unknown mode: ${m} (desktop, mobile, keyboard)`);
      process.exit(2);
    }
  }
  args.binary = resolve(args.binary);
  if (!existsSync(args.binary)) {
    console.error(`Binaire introuvable / binary not found: ${args.binary}`);
    process.exit(2);
  }
  return args;
}

// --- The server ------------------------------------------------------------------------------
const cleanups = new Set();

async function startServer(binary, logName) {
  const dataDir = await mkdtemp(join(tmpdir(), "bouquet-e2e-"));
  const log = [];
  const child = spawn(binary, ["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir", dataDir], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  const exited = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    cleanups.delete(stop);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    await writeFile(join(outputDir, logName), log.join("")).catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  };
  cleanups.add(stop);
  child.stderr.on("data", (d) => log.push(d.toString()));
  const url = await new Promise((res, rej) => {
    let buffer = "";
    const timer = setTimeout(() => rej(new Error("le serveur n'a pas démarré en 30 s / server did not start")), 30_000);
    child.stdout.on("data", (d) => {
      const s = d.toString();
      log.push(s);
      buffer += s;
      // The demo's banner ends with the "Courriels envoyés" line; the préfecture simulator's
      // address is printed just before it.
      const m = buffer.match(/est prêt : (http:\/\/\S+)/);
      if (m && buffer.includes("Courriels envoyés")) {
        clearTimeout(timer);
        const sim = buffer.match(/Simulateur de préfecture \(@CTES\) : (http:\/\/\S+)/);
        res({ url: m[1].replace(/\/$/, ""), simulator: sim ? sim[1].replace(/\/$/, "") : null });
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`le serveur s'est arrêté / server exited (code ${code}, signal ${signal}):\n${log.join("")}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  return { url: url.url, simulator: url.simulator, stop };
}

async function cleanupAll() {
  for (const stop of [...cleanups]) await stop().catch(() => {});
}
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    cleanupAll().finally(() => process.exit(130));
  });
}

// --- One journey in one mode -----------------------------------------------------------------
class Journey {
  constructor({ name, mode, modeName, baseUrl, browser }) {
    this.name = name;
    this.mode = mode;
    this.modeName = modeName;
    this.baseUrl = baseUrl;
    this.browser = browser;
    this.contexts = [];
    this.pages = [];
    this.currentStep = "(début / start)";
    this.problems = []; // page checks that fail without stopping the journey
    this.checked = 0;
    this.axeRuns = 0;
  }

  get keyboard() {
    return !!this.mode.keyboard;
  }

  async step(label, fn) {
    this.currentStep = label;
    return await fn();
  }

  async newPage() {
    const context = await this.browser.newContext({
      baseURL: this.baseUrl,
      viewport: this.mode.viewport,
      deviceScaleFactor: 1,
      locale: "fr-FR",
      timezoneId: "Europe/Paris",
      reducedMotion: "reduce",
    });
    context.setDefaultTimeout(NAV_TIMEOUT);
    this.contexts.push(context);
    const page = await context.newPage();
    page.consoleErrors = [];
    page.on("console", (msg) => {
      // The document's own error status (404, 422…) is asserted elsewhere, not an error here.
      if (msg.type() === "error" && !(msg.text().startsWith("Failed to load resource") && msg.location().url === page.url())) {
        const url = msg.location().url;
        page.consoleErrors.push(url ? `${msg.text()} (${url})` : msg.text());
      }
    });
    page.on("pageerror", (err) => page.consoleErrors.push(String(err)));
    this.pages.push(page);
    return page;
  }

  async close() {
    for (const c of this.contexts) await c.close().catch(() => {});
  }

  path(page) {
    return new URL(page.url()).pathname + new URL(page.url()).search;
  }

  problem(page, text) {
    this.problems.push(`[${this.currentStep}] ${page ? this.path(page) : ""} : ${text}`);
  }

  // axe-core, WCAG 2.1 A and AA: each violation is a problem of the journey.
  async axe(page) {
    if (!(await page.evaluate(() => typeof window.axe === "object"))) {
      await page.evaluate(axeSource); // through the DevTools protocol: the app's CSP stays on
    }
    if (!(await page.evaluate(() => typeof window.axe === "object"))) {
      throw new Error("axe-core n'a pas pu être chargé / could not be loaded");
    }
    const violations = await page.evaluate(async (tags) => {
      const result = await window.axe.run(document, {
        runOnly: { type: "tag", values: tags },
        resultTypes: ["violations"],
      });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
      }));
    }, AXE_TAGS);
    for (const v of violations) {
      const nodes = v.nodes
        .map((n) => `      - ${n.target}\n        ${(n.summary || "").replace(/\n/g, "\n        ")}`)
        .join("\n");
      this.problem(page, `axe ${v.id} (${v.impact}) : ${v.help}\n      ${v.helpUrl}\n${nodes}`);
    }
  }

  // Checks the page as it is now: axe-core, horizontal scrolling at 320 px, console errors.
  async check(page) {
    this.checked++;
    const where = this.path(page);
    // axe-core runs once per distinct page: the same markup (CSRF tokens and links' secrets
    // aside) already checked in this mode gives the same result, and running it again on each
    // of the many returns to the login page would only double the run time.
    const markup = await page.evaluate(() =>
      document.documentElement.outerHTML
        .replace(/(name="_csrf" value=")[^"]*/g, "$1")
        .replace(/(jeton=)[\w-]+/g, "$1"),
    );
    const signature = createHash("sha256").update(where.replace(/jeton=[\w-]+/, "jeton=")).update(markup).digest("hex");
    if (!checkedPages[this.modeName].has(signature)) {
      checkedPages[this.modeName].add(signature);
      this.axeRuns++;
      await this.axe(page);
    }
    if (this.mode.narrow) {
      const { scrollWidth, wide } = await page.evaluate(() => {
        const limit = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll("body *")]
          .filter((el) => el.getBoundingClientRect().right > limit + 0.5)
          .filter((el) => !el.closest(".visually-hidden, .skip-link"))
          .filter((el) => {
            // Content that scrolls inside its own box (a .table-wrap) does not widen the page.
            for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
              if (getComputedStyle(a).overflowX !== "visible") return false;
            }
            return true;
          })
          .slice(0, 5)
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className ? "." + String(el.className).trim().replace(/\s+/g, ".") : ""} (${Math.round(el.getBoundingClientRect().right)} px)`);
        return { scrollWidth: document.documentElement.scrollWidth, wide };
      });
      if (scrollWidth > 320) {
        this.problem(page, `défilement horizontal à 320 px / horizontal scroll: scrollWidth = ${scrollWidth}; trop larges / too wide: ${wide.join(", ")}`);
      }
    }
    if (process.env.BOUQUET_E2E_SHOTS) {
      // Debugging aid: a picture of every page checked, in output/pages/ (not committed).
      const dir = join(outputDir, "pages", this.modeName);
      await mkdir(dir, { recursive: true });
      const name = `${String(++shotCounter).padStart(3, "0")}${where.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}.png`;
      await page.screenshot({ path: join(dir, name), fullPage: true });
    }
    if (page.consoleErrors.length) {
      this.problem(page, `erreurs dans la console / console errors: ${page.consoleErrors.join(" | ")}`);
      page.consoleErrors = [];
    }
    return where;
  }

  async goto(page, path, { status = 200 } = {}) {
    const response = await page.goto(path, { waitUntil: "load" });
    assert.equal(response.status(), status, `GET ${path} : statut HTTP / HTTP status`);
    await this.check(page);
    return response;
  }

  // Runs `action`, which navigates, waits for the new page and checks it.
  async navigate(page, action, { status = null } = {}) {
    const [response] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }), action()]);
    if (response && status !== null) assert.equal(response.status(), status, `${this.path(page)} : statut HTTP / HTTP status`);
    else if (response) assert.ok(response.status() < 400, `${this.path(page)} : statut HTTP ${response.status()}`);
    await this.check(page);
  }

  async screenshot(page, name) {
    await mkdir(screenshotDir, { recursive: true });
    await page.screenshot({ path: join(screenshotDir, name), fullPage: true, animations: "disabled", caret: "hide" });
  }

  // --- Keyboard --------------------------------------------------------------------------------
  // Presses Tab until the focused element matches; every element focused on the way must show
  // its focus (an outline or a box-shadow).
  async tabTo(page, selector, { text = null, rowText = null, max = 80 } = {}) {
    const seen = [];
    for (let i = 0; i < max; i++) {
      await page.keyboard.press("Tab");
      const info = await page.evaluate(
        ([selector, text, rowText]) => {
          const el = document.activeElement;
          if (!el || el === document.body) return { desc: "body", matches: false, visible: true };
          const cs = getComputedStyle(el);
          const outline = cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0;
          const shadow = cs.boxShadow && cs.boxShadow !== "none";
          const label = (el.textContent || el.getAttribute("aria-label") || "").replace(/\s+/g, " ").trim().slice(0, 40);
          const desc = `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${label ? ` « ${label} »` : ""}`;
          const matches =
            el.matches(selector) &&
            (!text || (el.textContent || "").replace(/\s+/g, " ").includes(text)) &&
            (!rowText || (el.closest("tr")?.textContent || "").includes(rowText));
          return { desc, matches, visible: outline || shadow };
        },
        [selector, text, rowText],
      );
      seen.push(info.desc);
      if (!info.visible) this.problem(page, `focus invisible (ni outline ni box-shadow / no outline nor box-shadow) : ${info.desc}`);
      if (info.matches) return;
    }
    throw new Error(`Tab n'atteint pas / Tab never reaches ${selector}${text ? ` « ${text} »` : ""} ; parcouru / went through: ${seen.join(" → ")}`);
  }

  // Tabs through the whole page once (the skip link first), checking each focus is visible.
  async tabThrough(page) {
    // Start from the top of the document, as after loading a page: focusing the body moves
    // the sequential navigation starting point there (a blur() alone would leave it behind).
    await page.evaluate(() => {
      document.body.setAttribute("tabindex", "-1");
      document.body.focus();
      document.body.removeAttribute("tabindex");
      window.scrollTo(0, 0);
    });
    const first = [];
    for (let i = 0; i < 120; i++) {
      await page.keyboard.press("Tab");
      const info = await page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const cs = getComputedStyle(el);
        const r = el.getBoundingClientRect();
        const outline = cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0;
        const shadow = cs.boxShadow && cs.boxShadow !== "none";
        const label = (el.textContent || el.getAttribute("aria-label") || "").replace(/\s+/g, " ").trim().slice(0, 40);
        const key = `${el.tagName}|${el.id}|${[...el.parentNode.children].indexOf(el)}|${label}|${Math.round(r.top + window.scrollY)}`;
        return {
          key,
          desc: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className ? "." + String(el.className).trim().split(/\s+/)[0] : ""}${label ? ` « ${label} »` : ""}`,
          visible: outline || shadow,
          skip: el.classList.contains("skip-link"),
          onScreen: r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < window.innerHeight && r.right > 0 && r.left < window.innerWidth,
        };
      });
      if (!info) break; // back to the document: went round once
      if (first.includes(info.key)) break;
      if (first.length === 0 && !info.skip) this.problem(page, `le premier Tab n'atteint pas le lien d'évitement / first Tab is not the skip link: ${info.desc}`);
      first.push(info.key);
      if (!info.visible) this.problem(page, `focus invisible : ${info.desc}`);
      if (!info.onScreen) this.problem(page, `élément focalisé hors de l'écran / focused element off screen: ${info.desc}`);
    }
    return first.length;
  }

  // --- Actions, by pointer or by keyboard --------------------------------------------------------
  async fill(page, selector, value) {
    if (this.keyboard) {
      await this.tabTo(page, selector);
      if ((await page.$eval(selector, (el) => el.type)) === "date") {
        // A date field is typed as a person does, digits only, in the order the browser shows
        // (day first in French; Chromium's headless shell may show month first whatever
        // the locale, see `dateOrder`); it moves from one part to the next by itself.
        const [y, m, d] = value.split("-");
        await page.keyboard.type(dateOrder === "dmy" ? `${d}${m}${y}` : `${m}${d}${y}`);
      } else {
        await page.keyboard.press("Control+A");
        await page.keyboard.press("Backspace");
        await page.keyboard.type(value);
      }
    } else {
      await page.fill(selector, value);
    }
    assert.equal(await page.inputValue(selector), value, `${selector} : valeur saisie / typed value`);
  }

  async choose(page, selector, label) {
    if (this.keyboard) {
      await this.tabTo(page, selector);
      const options = await page.$$eval(`${selector} option`, (os) => os.map((o) => o.textContent.trim()));
      const target = options.indexOf(label);
      assert.ok(target >= 0, `${selector} : option « ${label} » absente / missing (${options.join(", ")})`);
      for (let i = 0; i < options.length * 2; i++) {
        const current = await page.$eval(selector, (s) => s.selectedIndex);
        if (current === target) break;
        await page.keyboard.press(current < target ? "ArrowDown" : "ArrowUp");
      }
    } else {
      await page.selectOption(selector, { label });
    }
    assert.equal(await page.$eval(selector, (s) => s.options[s.selectedIndex].textContent.trim()), label);
  }

  // Activates a link or a button that loads a new page (Enter on it, or a click).
  async activate(page, selector, { text = null, rowText = null, status = null } = {}) {
    if (this.keyboard) {
      await this.tabTo(page, selector, { text, rowText });
      await this.navigate(page, () => page.keyboard.press("Enter"), { status });
    } else {
      let locator = page.locator(selector, text ? { hasText: text } : {});
      if (rowText) locator = page.locator("tr", { hasText: rowText }).locator(selector, text ? { hasText: text } : {});
      await this.navigate(page, () => locator.first().click(), { status });
    }
  }

  async h1(page) {
    return (await page.textContent("h1")).replace(/\s+/g, " ").trim();
  }

  async login(page, account, password = PASSWORD, { status = null } = {}) {
    await this.goto(page, "/connexion");
    await this.fill(page, "#email", account.email);
    await this.fill(page, "#password", password);
    await this.activate(page, "button[type=submit]", { text: "Se connecter", status });
  }

  async loginTo(page, account, password = PASSWORD) {
    await this.step(`connexion de ${account.email}`, () => this.login(page, account, password));
    await this.step(`tableau de bord de ${account.email}`, async () => {
      assert.equal(this.path(page), account.home, "adresse après connexion / URL after login");
      assert.equal(await this.h1(page), account.h1, "titre h1 / h1 heading");
    });
  }

  async logout(page) {
    await this.step("déconnexion / log out", async () => {
      await this.activate(page, "button", { text: "Se déconnecter" });
      assert.equal(this.path(page), "/connexion", "adresse après déconnexion / URL after logout");
      const notice = await page.textContent(".notice[role=status]");
      assert.match(notice, /Vous êtes déconnecté/, "message de déconnexion / logout notice");
    });
  }
}

// A small valid PDF (one A4 page, Helvetica, the given lines), written by the journey: the
// cross-reference table gives each object's byte offset, as a PDF reader expects.
function makePdf(lines) {
  const esc = (s) => s.replace(/[\\()]/g, (c) => "\\" + c);
  const text = lines.map((l, i) => `BT /F1 ${i === 0 ? 16 : 11} Tf 72 ${770 - i * 24} Td (${esc(l)}) Tj ET`).join("\n");
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    `<< /Length ${Buffer.byteLength(text, "latin1")} >>\nstream\n${text}\nendstream`,
  ];
  let out = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
  const offsets = [];
  objects.forEach((o, i) => {
    offsets.push(Buffer.byteLength(out, "latin1"));
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, "latin1");
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

// --- What several journeys share -------------------------------------------------------------
// The option of `selector` whose label contains `text`.
async function chooseOption(t, page, selector, text) {
  const labels = await page.$$eval(`${selector} option`, (os) => os.map((o) => o.textContent.trim()));
  const label = labels.find((l) => l.includes(text));
  assert.ok(label, `${selector} : pas d'option contenant « ${text} » / no option with it (${labels.join(", ")})`);
  await t.choose(page, selector, label);
}
const lead = async (page) => (await page.textContent(".page-header__lead")).replace(/\s+/g, " ");
const notice = async (page) => (await page.textContent(".notice[role=status]")).replace(/\s+/g, " ");
// A download link answers 200 with a PDF.
async function assertPdf(page, selector, what) {
  const link = page.locator(selector);
  assert.equal(await link.count(), 1, `un lien / one link: ${what}`);
  const href = await link.getAttribute("href");
  const response = await page.request.get(href);
  assert.equal(response.status(), 200, `${what} : ${href}`);
  assert.match(response.headers()["content-type"], /^application\/pdf/, `${what} : type`);
  assert.equal((await response.body()).subarray(0, 5).toString("latin1"), "%PDF-", `${what} : un PDF / a PDF`);
}
const todayInParis = () => new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris" }).format(new Date());

// --- The journeys ----------------------------------------------------------------------------
const JOURNEYS = [
  {
    name: "1. Connexion et déconnexion des cinq comptes / five accounts log in and out",
    async run(t) {
      const page = await t.newPage();
      const shots = {
        admin: "tableau-de-bord-operateur.png",
        agent: "tableau-de-bord-commune.png",
        epci: "tableau-de-bord-epci.png",
      };
      let first = true;
      for (const [key, account] of Object.entries(ACCOUNTS)) {
        if (first) {
          await t.step("page de connexion / login page", async () => {
            await t.goto(page, "/connexion");
            assert.equal(await t.h1(page), "Connexion");
            if (t.modeName === "desktop") await t.screenshot(page, "connexion.png");
            if (t.modeName === "mobile") await t.screenshot(page, "mobile-connexion.png");
          });
          first = false;
        }
        await t.loginTo(page, account);
        if (t.modeName === "desktop" && shots[key]) await t.screenshot(page, shots[key]);
        if (t.modeName === "mobile" && key === "agent") await t.screenshot(page, "mobile-tableau-de-bord.png");
        await t.logout(page);
      }
    },
  },
  {
    name: "2. Mauvais mot de passe / wrong password",
    async run(t) {
      const page = await t.newPage();
      await t.step("connexion avec un mauvais mot de passe / log in with a wrong password", () =>
        t.login(page, ACCOUNTS.agent, "pas-le-bon-mot-de-passe", { status: 422 }),
      );
      await t.step("message d'erreur / error message", async () => {
        assert.equal(t.path(page), "/connexion");
        const error = page.locator("#erreurs");
        assert.match(await error.textContent(), /Adresse électronique ou mot de passe incorrect/);
        assert.equal(await error.getAttribute("role"), "alert", "#erreurs a role=alert / has role=alert");
        const title = await page.title();
        assert.ok(title.startsWith("Erreur : "), `le titre commence par « Erreur : » / title starts so: « ${title} »`);
        assert.equal(await page.inputValue("#email"), ACCOUNTS.agent.email, "l'adresse est conservée / e-mail kept");
        assert.equal(await page.inputValue("#password"), "", "le mot de passe n'est pas renvoyé / password not echoed");
      });
      if (t.keyboard) {
        await t.step("le résumé d'erreur reçoit le focus / error summary gets focus", async () => {
          const focused = await page.evaluate(() => document.activeElement?.id);
          assert.equal(focused, "erreurs", "focus sur #erreurs / focus on #erreurs");
        });
        await t.step("correction au clavier / fix it with the keyboard", async () => {
          await t.fill(page, "#password", PASSWORD);
          await t.activate(page, "button[type=submit]", { text: "Se connecter" });
          assert.equal(t.path(page), ACCOUNTS.agent.home);
        });
      }
      if (t.modeName === "desktop") {
        await page.evaluate(() => document.activeElement?.blur());
        await t.screenshot(page, "erreur-connexion.png");
      }
    },
  },
  {
    name: "3. Changer d'organisation / switch organisation",
    async run(t) {
      const page = await t.newPage();
      await t.loginTo(page, ACCOUNTS.epci);
      await t.step("choisir Arbrissel / choose Arbrissel", () => t.choose(page, "#org-switch-select", "Arbrissel"));
      await t.step("valider / submit « Changer »", async () => {
        await t.activate(page, "button[type=submit]", { text: "Changer" });
        assert.equal(t.path(page), "/o/213500051/", "adresse / URL");
        assert.equal(await t.h1(page), "Arbrissel");
        assert.equal(
          await page.$eval("#org-switch-select", (s) => s.options[s.selectedIndex].textContent.trim()),
          "Arbrissel",
          "le sélecteur montre Arbrissel / selector shows Arbrissel",
        );
      });
      await t.step("retour à la communauté de communes / back to the EPCI", async () => {
        await t.choose(page, "#org-switch-select", "CC Roche aux Fées Communauté");
        await t.activate(page, "button[type=submit]", { text: "Changer" });
        assert.equal(t.path(page), "/o/243500634/");
        assert.equal(await t.h1(page), "CC Roche aux Fées Communauté");
      });
    },
  },
  {
    name: "4. Mot de passe oublié, par la page des courriels / password reset through the e-mail page",
    async run(t) {
      const maire = await t.newPage();
      const admin = await t.newPage();
      const newPassword = "une nouvelle phrase de passe";
      await t.step("demande de réinitialisation / request a reset", async () => {
        await t.goto(maire, "/connexion");
        await t.activate(maire, "a", { text: "Mot de passe oublié" });
        assert.equal(t.path(maire), "/mot-de-passe-oublie");
        await t.fill(maire, "#email", ACCOUNTS.maire.email);
        await t.activate(maire, "button[type=submit]", { text: "Recevoir le lien" });
        assert.match(await maire.textContent(".notice[role=status]"), /Demande enregistrée/);
      });
      await t.loginTo(admin, ACCOUNTS.admin);
      const subject = "Réinitialiser votre mot de passe Bouquet";
      await t.step("attendre le courriel / wait for the e-mail (≤ 10 s)", async () => {
        const deadline = Date.now() + 10_000;
        let checkedOnce = false;
        for (;;) {
          const response = await admin.goto("/admin/courriels", { waitUntil: "load" });
          assert.equal(response.status(), 200);
          if (!checkedOnce) {
            await t.check(admin);
            checkedOnce = true;
          }
          const found = await admin.locator("tr", { hasText: ACCOUNTS.maire.email }).filter({ hasText: subject }).count();
          if (found > 0) break;
          assert.ok(Date.now() < deadline, "le courriel n'est pas arrivé en 10 s / no e-mail within 10 s");
          await admin.waitForTimeout(400);
        }
        await t.check(admin);
        if (t.modeName === "desktop") await t.screenshot(admin, "courriels.png");
      });
      let link;
      await t.step("ouvrir le courriel / open the e-mail", async () => {
        await t.activate(admin, "a", { text: subject, rowText: ACCOUNTS.maire.email });
        assert.match(t.path(admin), /^\/admin\/courriels\/[^/]+$/);
        assert.equal(await t.h1(admin), subject);
        const a = admin.locator('a[href*="/reinitialiser-mot-de-passe?jeton="]');
        assert.equal(await a.count(), 1, "un lien de réinitialisation / one reset link");
        link = await a.getAttribute("href");
        assert.equal((await a.textContent()).trim(), link, "le lien est affiché en clair / link shown as text");
        assert.ok(link.startsWith(t.baseUrl + "/"), `le lien pointe vers le serveur / link points at the server: ${link}`);
      });
      await t.step("suivre le lien (navigateur du maire) / follow the link (maire's browser)", async () => {
        await t.goto(maire, link);
        assert.equal(await t.h1(maire), "Choisir un nouveau mot de passe");
      });
      await t.step("choisir le nouveau mot de passe / set the new password", async () => {
        await t.fill(maire, "#password", newPassword);
        await t.fill(maire, "#confirmation", newPassword);
        await t.activate(maire, "button[type=submit]", { text: "Enregistrer le mot de passe" });
        assert.equal(t.path(maire), "/connexion");
        assert.match(await maire.textContent(".notice[role=status]"), /Votre mot de passe a été réinitialisé/);
      });
      await t.step("l'ancien mot de passe ne marche plus / the old password fails", async () => {
        await t.login(maire, ACCOUNTS.maire, PASSWORD, { status: 422 });
        assert.equal(t.path(maire), "/connexion");
        assert.match(await maire.textContent("#erreurs"), /mot de passe incorrect/);
      });
      await t.loginTo(maire, ACCOUNTS.maire, newPassword);
      await t.step("le lien ne sert qu'une fois / the link works once", async () => {
        await t.goto(maire, link, { status: 410 });
        assert.equal(await maire.locator("#erreurs[role=alert]").count(), 1, "lien refusé / link refused");
      });
    },
  },
  {
    name: "5. Tour des pages / page tour",
    async run(t) {
      const anon = await t.newPage();
      const visit = async (page, path, { status = 200, h1 = null } = {}) => {
        await t.step(`page ${path}`, async () => {
          await t.goto(page, path, { status });
          const heading = await t.h1(page);
          assert.ok(heading.length > 0, "un titre h1 / an h1 heading");
          if (h1) assert.match(heading, h1);
          if (t.keyboard) await t.tabThrough(page);
        });
      };
      await visit(anon, "/connexion");
      await visit(anon, "/mot-de-passe-oublie");
      await visit(anon, "/mentions-legales");
      await visit(anon, "/accessibilite");
      await visit(anon, "/nulle-part", { status: 404 });
      await visit(anon, "/reinitialiser-mot-de-passe?jeton=inconnu", { status: 410 });
      await visit(anon, "/inscription-entreprise");

      const agent = await t.newPage();
      await t.loginTo(agent, ACCOUNTS.agent);
      if (t.keyboard) await t.step("tableau de bord au clavier", () => t.tabThrough(agent));
      if (t.keyboard) {
        await t.step("lien d'évitement / skip link", async () => {
          await t.goto(agent, "/profil");
          await agent.keyboard.press("Tab");
          const skip = await agent.evaluate(() => {
            const el = document.activeElement;
            const r = el.getBoundingClientRect();
            return { cls: el.className, text: el.textContent.trim(), inView: r.width > 1 && r.height > 1 && r.top >= 0 && r.left >= 0 };
          });
          assert.equal(skip.cls, "skip-link", "premier Tab : le lien d'évitement / first Tab: the skip link");
          assert.equal(skip.text, "Aller au contenu");
          assert.ok(skip.inView, "le lien d'évitement est visible quand il a le focus / skip link shown when focused");
          await agent.keyboard.press("Enter");
          assert.equal(await agent.evaluate(() => document.activeElement.id), "contenu", "le focus passe au contenu / focus moves to the content");
          await agent.keyboard.press("Tab");
          assert.ok(await agent.evaluate(() => !!document.activeElement.closest("main")), "le Tab suivant reste dans le contenu / next Tab stays in main");
        });
      }
      for (const path of ["/profil", "/profil/jetons", "/o/213500051/utilisateurs", "/o/213500051/journal"]) {
        await visit(agent, path);
      }
      await t.step("fiche d'un utilisateur / a user's page", async () => {
        await t.goto(agent, "/o/213500051/utilisateurs");
        const href = await agent.locator('main a[href^="/o/213500051/utilisateurs/"]').first().getAttribute("href");
        await visit(agent, href);
      });
      await visit(agent, "/o/213500051/contacter-referent");
      await visit(agent, "/o/213500051/adhesion");
      await visit(agent, "/o/213500051/utilisateurs/inviter");
      await visit(agent, "/admin", { status: 403 });

      const epci = await t.newPage();
      await t.loginTo(epci, ACCOUNTS.epci);
      if (t.keyboard) await t.step("tableau de bord EPCI au clavier", () => t.tabThrough(epci));
      await visit(epci, "/o/243500634/parametres");
      await visit(epci, "/o/243500634/referents");

      const admin = await t.newPage();
      await t.loginTo(admin, ACCOUNTS.admin);
      for (const path of [
        "/admin",
        "/admin/utilisateurs",
        "/admin/utilisateurs/nouveau",
        "/admin/organisations",
        "/admin/taches",
        "/admin/journal",
        "/admin/courriels",
        "/admin/membres?statut=membre&type=commune",
        "/admin/membres/243500634",
        "/admin/membres/nouveau/autre",
        "/admin/membres/import",
        "/admin/registre",
      ]) {
        await visit(admin, path);
      }
      await t.step("fiche d'un compte / an account's page", async () => {
        await t.goto(admin, "/admin/utilisateurs");
        const href = await admin.locator('main a[href^="/admin/utilisateurs/"]:not([href$="nouveau"])').first().getAttribute("href");
        await visit(admin, href);
      });
    },
  },
  {
    name: "6. Adhésion d'une commune / a commune joins",
    async run(t) {
      const ESSE = "213501083";
      const base = `/admin/membres/${ESSE}`;
      const admin = await t.newPage();
      const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris" }).format(new Date());
      await t.loginTo(admin, ACCOUNTS.admin);
      await t.step("liste des membres / member list", async () => {
        await t.goto(admin, "/admin/membres");
        assert.equal(await t.h1(admin), "Membres");
        if (t.modeName === "desktop") await t.screenshot(admin, "membres.png");
      });
      await t.step("aperçu d'un import / an import's preview", async () => {
        await t.activate(admin, "a", { text: "Importer un fichier" });
        assert.equal(t.path(admin), "/admin/membres/import");
        const csv = "siren;nom;statut;date;services\r\n200064483;Châteaugiron;membre;01/01/2017;actes, parapheur\r\n213501365;Janzé;membre;;\r\n";
        await admin.setInputFiles("#fichier", { name: "membres.csv", mimeType: "text/csv", buffer: Buffer.from(csv, "utf8") });
        await t.activate(admin, "button[type=submit]", { text: "Vérifier le fichier" });
        assert.equal(await t.h1(admin), "Vérifier l'import");
        assert.match(await admin.textContent("main"), /1 ligne comporte des erreurs/);
        if (t.modeName === "desktop") await t.screenshot(admin, "import-apercu.png");
        await t.goto(admin, "/admin/membres");
        await t.activate(admin, "a", { text: "Ajouter un membre" });
        assert.equal(t.path(admin), "/admin/membres/nouveau");
      });
      await t.step("chercher Essé dans le référentiel / search the registry", async () => {
        await t.fill(admin, "#q", "Essé");
        await t.activate(admin, "button[type=submit]", { text: "Chercher" });
        assert.ok((await admin.locator("main tr", { hasText: ESSE }).count()) >= 1, "Essé trouvée / found");
        await t.activate(admin, "a", { text: "Choisir", rowText: ESSE });
        assert.equal(t.path(admin), `/admin/membres/nouveau/${ESSE}`);
      });
      await t.step("éligible à Mairie connectée / eligible to Mairie connectée", async () => {
        assert.match(await admin.textContent("#mairie-connectee"), /Éligible/);
        if (t.modeName === "desktop") await t.screenshot(admin, "ajout-membre.png");
      });
      await t.step("enregistrer l'adhésion / enrol", async () => {
        await t.choose(admin, "#status", "Membre");
        await t.fill(admin, "#effective_date", today);
        await t.activate(admin, "button[type=submit]", { text: "Ajouter le membre" });
        assert.equal(t.path(admin), base);
        assert.match(await admin.textContent(".notice[role=status]"), /Le membre a été ajouté/);
      });
      const openPanel = async (summary) => {
        if (t.keyboard) {
          await t.tabTo(admin, "summary", { text: summary });
          await admin.keyboard.press("Enter");
        } else {
          await admin.locator("summary", { hasText: summary }).click();
        }
      };
      await t.step("préparer la charte Mairie connectée / prepare the charter", async () => {
        await openPanel("Préparer une convention ou une charte");
        await t.choose(admin, "#template", "Charte de fonctionnement de l'offre de services numériques essentiels « Mairie connectée »");
        await t.fill(admin, "#starts_on", today);
        await t.activate(admin, "button[type=submit]", { text: "Préparer le document" });
        assert.match(await admin.textContent(".notice[role=status]"), /Le document a été préparé/);
      });
      await t.step("enregistrer la charte signée / record the signed charter", async () => {
        const href = await admin.locator('a[href$="/modele.pdf"]').first().getAttribute("href");
        const pdf = await admin.request.get(href);
        assert.equal(pdf.status(), 200);
        assert.equal(pdf.headers()["content-type"], "application/pdf");
        const body = await pdf.body();
        await t.activate(admin, "a", { text: "Enregistrer la signature" });
        assert.equal(await t.h1(admin), "Enregistrer la signature");
        await admin.setInputFiles("#document", { name: "charte-signee.pdf", mimeType: "application/pdf", buffer: body });
        await t.fill(admin, "#signatory", "Anne Martin, maire");
        await t.fill(admin, "#signed_on", today);
        await t.activate(admin, "button[type=submit]", { text: "Enregistrer" });
        assert.equal(t.path(admin), base);
        assert.match(await admin.textContent(".notice[role=status]"), /La signature a été enregistrée/);
        assert.ok((await admin.locator('a[href$="/signe.pdf"]').count()) === 1, "document signé / signed document");
      });
      for (const service of ["Actes", "Parapheur"]) {
        await t.step(`abonner à ${service} / subscribe`, async () => {
          await openPanel("Abonner à un service");
          await t.choose(admin, "#service", service);
          await t.fill(admin, "#start_date", today);
          await t.activate(admin, "button[type=submit]", { text: "Abonner" });
          assert.match(await admin.textContent(".notice[role=status]"), /L'abonnement a été enregistré/);
        });
      }
      if (t.modeName === "desktop") await t.screenshot(admin, "fiche-membre.png");
      const email = "secretaire@esse.exemple";
      await t.step("inviter la secrétaire / invite the secretary", async () => {
        await t.activate(admin, "a", { text: "Invitez la personne qui l'administrera" });
        assert.equal(t.path(admin), `/o/${ESSE}/utilisateurs/inviter`);
        await t.fill(admin, "#display_name", "Claire Hamon");
        await t.fill(admin, "#email", email);
        await t.fill(admin, "#title", "Secrétaire de mairie");
        await t.activate(admin, "button[type=submit]", { text: "Envoyer l'invitation" });
      });
      let link;
      await t.step("le courriel d'invitation / the invitation e-mail", async () => {
        const subject = "Invitation à rejoindre Essé sur Bouquet";
        const deadline = Date.now() + 10_000;
        for (;;) {
          await admin.goto("/admin/courriels", { waitUntil: "load" });
          if ((await admin.locator("tr", { hasText: email }).filter({ hasText: subject }).count()) > 0) break;
          assert.ok(Date.now() < deadline, "pas de courriel en 10 s / no e-mail within 10 s");
          await admin.waitForTimeout(300);
        }
        await t.activate(admin, "a", { text: subject, rowText: email });
        link = await admin.locator('a[href*="/invitation?jeton="]').first().getAttribute("href");
        assert.ok(link.startsWith(t.baseUrl + "/"), link);
      });
      const secretary = await t.newPage();
      await t.step("la secrétaire accepte / the secretary accepts", async () => {
        await t.goto(secretary, link);
        assert.equal(await t.h1(secretary), "Rejoindre Essé");
        await t.fill(secretary, "#password", "une phrase de passe pour Essé");
        await t.fill(secretary, "#confirmation", "une phrase de passe pour Essé");
        await t.activate(secretary, "button[type=submit]", { text: "Créer mon compte" });
      });
      await t.step("elle ne voit que ses deux services / she sees only her two services", async () => {
        if (t.path(secretary) !== `/o/${ESSE}/`) await t.goto(secretary, `/o/${ESSE}/`);
        assert.equal(await t.h1(secretary), "Essé");
        const services = await secretary.$$eval('ul[aria-label="Services souscrits"] .card__title', (els) => els.map((e) => e.textContent.trim()));
        assert.deepEqual(services.sort(), ["Actes", "Parapheur"].sort(), `services : ${services.join(", ")}`);
        if (t.modeName === "desktop") await t.screenshot(secretary, "tableau-de-bord-nouvelle-commune.png");
      });
      const epci = await t.newPage();
      await t.loginTo(epci, ACCOUNTS.epci);
      await t.step("le référent voit la commune / the référent sees the commune", async () => {
        await t.goto(epci, "/o/243500634/communes");
        const row = epci.locator("main tr", { hasText: "Essé" });
        assert.ok((await row.count()) >= 1, "Essé dans les communes / listed");
        await t.activate(epci, "a", { text: "Essé", rowText: "Essé" });
        assert.equal(t.path(epci), `/o/${ESSE}/adhesion`);
        assert.match(await t.h1(epci), /Essé/);
        const text = await epci.textContent("main");
        assert.match(text, /Mairie connectée/);
        assert.match(text, /Parapheur/);
        assert.equal(await epci.locator("main form[method=post]").count(), 0, "lecture seule / read only");
        if (t.modeName === "desktop") await t.screenshot(epci, "communes-epci.png");
      });
    },
  },
  {
    name: "7. Parapheur : viser, signer, rejeter, suppléer, deux organisations / visa, sign, reject, substitute, two organisations",
    async run(t) {
      const ARBRISSEL = "213500051";
      const base = `/o/${ARBRISSEL}/parapheur`;
      const DEMO_TITLE = "Délibération 2026-041 : tarifs de la restauration scolaire";
      const CIRCUIT_DELIB = "Délibérations : visa de la secrétaire, puis signature du maire";
      const CIRCUIT_CONV = "Conventions avec l'opérateur : le maire, puis le président du syndicat";
      const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris" }).format(new Date());
      const isDesktop = t.modeName === "desktop";

      const chooseContaining = (page, selector, text) => chooseOption(t, page, selector, text);
      // Sends a PDF into a circuit from the form, as the logged-in person of `page`.
      const send = async (page, { title, type, circuit, file }) => {
        await t.goto(page, base);
        await t.activate(page, "a", { text: "Envoyer un document à la signature" });
        assert.equal(t.path(page), `${base}/nouveau`);
        assert.equal(await t.h1(page), "Envoyer un document à la signature");
        await t.fill(page, "#titre", title);
        await t.choose(page, "#type", type);
        await t.choose(page, "#circuit", circuit);
        // A file is chosen through the system's dialog, which the browser does not script.
        await page.setInputFiles("#document", {
          name: file,
          mimeType: "application/pdf",
          buffer: makePdf([title, "Commune d'Arbrissel", `Document de test du parcours du parapheur, ${today}.`]),
        });
        await t.activate(page, "button[type=submit]", { text: "Envoyer dans le circuit" });
        assert.match(t.path(page), new RegExp(`^${base}/dossiers/[^/?]+$`), "la page du dossier / the dossier page");
        assert.equal(await t.h1(page), title);
        assert.match(await notice(page), /Le dossier est envoyé/);
        return t.path(page);
      };
      // From the inbox's « Dossiers à traiter », opens the dossier titled `title`.
      const openFromInbox = async (page, inbox, title, { expect = null } = {}) => {
        await t.goto(page, inbox);
        await t.activate(page, "nav.tabs a", { text: "Dossiers à traiter" });
        assert.equal(await t.h1(page), "Dossiers à traiter");
        assert.equal(await page.getAttribute('nav.tabs a[aria-current="page"]', "href").then((h) => h.includes("a-traiter")), true, "onglet courant / current tab");
        const row = page.locator("main tr", { hasText: title });
        assert.equal(await row.count(), 1, `« ${title} » dans les dossiers à traiter / in the inbox`);
        if (expect) assert.match((await row.textContent()).replace(/\s+/g, " "), expect);
        if (t.keyboard) await t.tabThrough(page);
        return async () => {
          await t.activate(page, "a", { text: title, rowText: title });
          assert.equal(await t.h1(page), title);
        };
      };
      const sign = async (page, verb = "Signer") => {
        await t.fill(page, "#mot_de_passe", PASSWORD);
        await t.activate(page, 'form[action$="/signer"] button[type=submit]', { text: verb });
        assert.match(await notice(page), /Le document est signé/);
      };
      const openPanel = async (page, summary) => {
        if (t.keyboard) {
          await t.tabTo(page, "summary", { text: summary });
          await page.keyboard.press("Enter");
        } else {
          await page.locator("summary", { hasText: summary }).click();
        }
      };

      const agent = await t.newPage();
      const maire = await t.newPage();
      await t.loginTo(agent, ACCOUNTS.agent);
      await t.loginTo(maire, ACCOUNTS.maire);

      // 1. The secretary sends a délibération into the « Délibérations » circuit, then visas it.
      const title1 = "Délibération 2026-052 : subvention au comité des fêtes";
      let dossier1;
      await t.step("envoyer une délibération / send a délibération", async () => {
        dossier1 = await send(agent, { title: title1, type: "Délibération", circuit: CIRCUIT_DELIB, file: "deliberation-2026-052.pdf" });
        assert.match(await lead(agent), /En cours/);
        assert.match(await agent.textContent("#action-titre"), /À vous d'agir : viser/);
        assert.equal(await agent.getAttribute('ol.steps > li[aria-current="step"]', "aria-current"), "step", "étape courante / current step");
        if (t.keyboard) await t.tabThrough(agent);
      });
      await t.step("viser la délibération / visa it", async () => {
        await t.fill(agent, "#commentaire", "Vu, conforme au projet adopté en séance.");
        await t.activate(agent, "button[type=submit]", { text: "Viser le dossier" });
        assert.equal(t.path(agent), dossier1);
        assert.match(await notice(agent), /Votre visa est enregistré/);
        assert.equal(await agent.locator("#action").count(), 0, "plus rien à faire / nothing left to do");
        assert.match(await agent.textContent("ol.steps"), /Sophie Lebrun/);
      });

      // 2. The maire finds it in « Dossiers à traiter », opens it and signs it.
      await t.step("le maire ouvre le parapheur / the maire opens the parapheur", async () => {
        await t.activate(maire, `main a[href="${base}"]`);
        assert.equal(t.path(maire), base);
      });
      await t.step("le maire trouve la délibération / finds the délibération", async () => {
        const open = await openFromInbox(maire, base, title1, { expect: /Signer/ });
        if (isDesktop) await t.screenshot(maire, "parapheur-dossiers-a-traiter.png");
        await open();
        assert.match(await maire.textContent("#action-titre"), /À vous d'agir : signer/);
        assert.match(await maire.textContent("main"), /Vu, conforme au projet adopté en séance\./);
        if (t.keyboard) await t.tabThrough(maire);
        if (isDesktop) await t.screenshot(maire, "parapheur-dossier-a-signer.png");
      });
      await t.step("un mauvais mot de passe ne signe pas / a wrong password signs nothing", async () => {
        await t.fill(maire, "#mot_de_passe", "pas le bon");
        await t.activate(maire, 'form[action$="/signer"] button[type=submit]', { text: "Signer", status: 422 });
        assert.match(await maire.textContent("#erreurs[role=alert]"), /mot de passe/);
        assert.match(await lead(maire), /En cours/);
        if (t.keyboard) assert.equal(await maire.evaluate(() => document.activeElement?.id), "erreurs", "focus sur le résumé / on the summary");
      });
      await t.step("le maire signe / the maire signs", async () => {
        await sign(maire);
        assert.equal(t.path(maire), dossier1);
        assert.match(await lead(maire), /Terminé/);
        assert.equal(await maire.locator('ol.steps > li[aria-current="step"]').count(), 0, "plus d'étape courante / no current step");
        await assertPdf(maire, "main dl.definition-list dd a >> nth=0", "document signé / signed document");
        await assertPdf(maire, "a:has-text('Télécharger le bordereau')", "bordereau");
        await assertPdf(maire, "a:has-text('Télécharger l\\'original')", "original");
        if (t.keyboard) await t.tabThrough(maire);
        if (isDesktop) await t.screenshot(maire, "parapheur-dossier-termine.png");
      });
      await t.step("la secrétaire voit le dossier terminé / the secretary sees it done", async () => {
        await t.goto(agent, `${base}?dossiers=envoyes`);
        assert.equal(await t.h1(agent), "Mes dossiers envoyés");
        assert.match((await agent.locator("main tr", { hasText: title1 }).textContent()).replace(/\s+/g, " "), /Terminé/);
      });

      // 3. A rejection: an empty motive is refused, then a real one; the secretary reads it.
      const title2 = "Délibération 2026-053 : tarifs du cimetière";
      const motive = "Le montant de l'article 2 est faux.";
      let dossier2;
      await t.step("envoyer et viser une deuxième délibération / send and visa a second one", async () => {
        dossier2 = await send(agent, { title: title2, type: "Délibération", circuit: CIRCUIT_DELIB, file: "deliberation-2026-053.pdf" });
        await t.activate(agent, "button[type=submit]", { text: "Viser le dossier" });
        assert.match(await notice(agent), /Votre visa est enregistré/);
      });
      await t.step("rejet sans motif / rejection without a motive", async () => {
        const open = await openFromInbox(maire, base, title2);
        await open();
        await openPanel(maire, "Rejeter le dossier");
        await t.activate(maire, "button[type=submit]", { text: "Rejeter le dossier", status: 422 });
        const summary = maire.locator("#erreurs[role=alert]");
        assert.match(await summary.textContent(), /Indiquez le motif du rejet/);
        assert.ok(await maire.$eval("details:has(#motif)", (d) => d.open), "le panneau reste ouvert / panel stays open");
        if (t.keyboard) assert.equal(await maire.evaluate(() => document.activeElement?.id), "erreurs", "focus sur le résumé / on the summary");
        assert.match(await lead(maire), /En cours/);
      });
      await t.step("rejet motivé / rejection with a motive", async () => {
        await t.fill(maire, "#motif", motive);
        await t.activate(maire, "button[type=submit]", { text: "Rejeter le dossier" });
        assert.equal(t.path(maire), dossier2);
        assert.match(await notice(maire), /Le dossier est rejeté/);
        assert.match(await lead(maire), /Rejeté/);
      });
      await t.step("la secrétaire voit le rejet et son motif / the secretary sees it", async () => {
        await t.goto(agent, `${base}?dossiers=envoyes`);
        await t.activate(agent, "a", { text: title2, rowText: title2 });
        assert.equal(t.path(agent), dossier2);
        assert.match(await lead(agent), /Rejeté/);
        assert.ok((await agent.textContent("main")).includes(motive), "le motif / the motive");
      });

      // 5. Two organisations: the maire signs a convention, then the operator's président.
      const title3 = "Convention de services numériques 2027";
      let operator;
      await t.step("envoyer une convention / send a convention", async () => {
        await send(agent, { title: title3, type: "Convention ou contrat", circuit: CIRCUIT_CONV, file: "convention-2027.pdf" });
        const steps = (await agent.textContent("ol.steps")).replace(/\s+/g, " ");
        assert.match(steps, /Étape 1 : Signature électronique — Maire/);
        assert.match(steps, /Étape 2 : Signature électronique — Président .*Syndicat mixte Bouquet/);
      });
      await t.step("le maire signe la convention / the maire signs the convention", async () => {
        const open = await openFromInbox(maire, base, title3);
        await open();
        await sign(maire);
        assert.match(await lead(maire), /En cours/);
      });
      const president = await t.newPage();
      await t.step("connexion du président / the président logs in", async () => {
        await t.login(president, { email: "president@operateur.demo" });
        const m = t.path(president).match(/^\/o\/(\d{9})\/$/);
        assert.ok(m, `tableau de bord de l'opérateur / operator's dashboard: ${t.path(president)}`);
        operator = m[1];
        assert.notEqual(operator, ARBRISSEL);
      });
      await t.step("le président signe depuis sa boîte / the président signs from his inbox", async () => {
        const open = await openFromInbox(president, `/o/${operator}/parapheur`, title3);
        await open();
        assert.match(t.path(president), new RegExp(`^/o/${operator}/parapheur/dossiers/`));
        await sign(president);
        assert.match(await lead(president), /Terminé/);
        await assertPdf(president, "main dl.definition-list dd a >> nth=0", "convention signée / signed convention");
        await assertPdf(president, "a:has-text('Télécharger le bordereau')", "bordereau");
      });

      // 4. Delegation: the maire is away today, Sophie Lebrun signs the demo délibération for him.
      await t.step("le maire déclare son absence / the maire declares his absence", async () => {
        await t.goto(maire, base);
        await t.activate(maire, "a", { text: "Circuits, absences et certificats" });
        await t.goto(maire, `${base}/absences`);
        assert.equal(await t.h1(maire), "Absences et suppléances");
        await chooseContaining(maire, "#absent", "Jean-Yves Rocher");
        await chooseContaining(maire, "#suppleant", "Sophie Lebrun");
        await t.fill(maire, "#debut", today);
        await t.fill(maire, "#fin", today);
        await t.activate(maire, "button[type=submit]", { text: "Enregistrer l'absence" });
        assert.equal(t.path(maire), `${base}/absences`);
        assert.match(await notice(maire), /L'absence est enregistrée/);
        const row = (await maire.locator("main tr", { hasText: "Sophie Lebrun" }).textContent()).replace(/\s+/g, " ");
        assert.match(row, /Jean-Yves Rocher/);
      });
      await t.step("la secrétaire obtient un certificat / the secretary gets a certificate", async () => {
        await t.goto(agent, `${base}/certificats`);
        assert.equal(await t.h1(agent), "Certificats de signature");
        await t.activate(agent, "button[type=submit]", { text: "Obtenir un certificat de démonstration" });
        assert.equal(t.path(agent), `${base}/certificats`);
        assert.match(await notice(agent), /Le certificat est installé/);
        assert.ok((await agent.locator("main tr", { hasText: "Sophie Lebrun" }).count()) >= 1, "son certificat / her certificate");
      });
      await t.step("elle signe en l'absence du maire / she signs in the maire's absence", async () => {
        const open = await openFromInbox(agent, base, DEMO_TITLE, { expect: /en l'absence de Jean-Yves Rocher/ });
        await open();
        assert.match(await agent.textContent("#action"), /Vous agissez en l'absence de Jean-Yves Rocher/);
        await sign(agent);
        assert.match(await lead(agent), /Terminé/);
        assert.match((await agent.textContent("main")).replace(/\s+/g, " "), /en l'absence de Jean-Yves Rocher/);
        await assertPdf(agent, "main dl.definition-list dd a >> nth=0", "délibération signée / signed délibération");
      });
    },
  },
  {
    name: "8. Actes : créer, faire signer, transmettre, accusé de réception, lettre d'observations, anomalie / create, sign, transmit, AR, letter, anomaly",
    async run(t) {
      const ARBRISSEL = "213500051";
      const base = `/o/${ARBRISSEL}/actes`;
      const today = todayInParis();
      const todayFr = today.split("-").reverse().join("/");
      const isDesktop = t.modeName === "desktop";
      const CIRCUIT_DELIB = "Délibérations : visa de la secrétaire, puis signature du maire";
      assert.ok(t.simulatorUrl, "le simulateur de préfecture démarre avec --demo / the simulator starts with --demo");

      const agent = await t.newPage();
      const maire = await t.newPage();
      await t.loginTo(agent, ACCOUNTS.agent);
      await t.loginTo(maire, ACCOUNTS.maire);

      const status = async (page) => (await page.textContent("main .badge")).replace(/\s+/g, " ").trim();
      // Fills the acte form (after « Créer un acte »); the file is chosen through the system's
      // dialog, which the browser does not script.
      const fillActe = async (page, { numero, objet, file }) => {
        await chooseOption(t, page, "#nature", "Délibération");
        await t.fill(page, "#numero", numero);
        await t.fill(page, "#objet", objet);
        await chooseOption(t, page, "#matiere", "7.1.6 Tarifs des services publics");
        await t.fill(page, "#date_decision", today);
        await page.setInputFiles("#document", {
          name: file,
          mimeType: "application/pdf",
          buffer: makePdf([objet, "Commune d'Arbrissel", `Délibération du conseil municipal, ${todayFr}.`]),
        });
      };
      const newActe = async (page) => {
        await t.goto(page, base);
        await t.activate(page, "a", { text: "Créer un acte" });
        assert.equal(t.path(page), `${base}/nouveau`);
      };
      // The suivi page, fetching the préfecture's mailbox until `until` shows (the préfecture
      // answers within a second or two; Bouquet's own job fetches every minute).
      const fetchUntil = async (page, until) => {
        for (let i = 0; i < 20; i++) {
          await t.activate(page, "button[type=submit]", { text: "Relever les messages maintenant" });
          if (until.test((await page.textContent("main")).replace(/\s+/g, " "))) return;
          await page.waitForTimeout(500);
        }
        assert.fail(`rien de nouveau de la préfecture / nothing new: ${until}`);
      };

      const numero = "DEL_2026_060";
      const objet = "Tarifs de la cantine au 1er janvier 2027";
      let acte;
      await t.step("un numéro mal écrit est refusé / a badly written number is refused", async () => {
        await newActe(agent);
        await fillActe(agent, { numero: "dél_60", objet, file: "deliberation-2026-060.pdf" });
        await t.activate(agent, "button[type=submit]", { text: "Enregistrer l'acte", status: 422 });
        const summary = (await agent.textContent("#erreurs[role=alert]")).replace(/\s+/g, " ");
        assert.match(summary, /numéro/i, summary);
        assert.equal(await agent.getAttribute("#numero", "aria-invalid"), "true");
      });
      await t.step("la délibération est enregistrée / the délibération is saved", async () => {
        await fillActe(agent, { numero, objet, file: "deliberation-2026-060.pdf" });
        await t.activate(agent, "button[type=submit]", { text: "Enregistrer l'acte" });
        assert.match(t.path(agent), new RegExp(`^${base}/[^/?]+$`), "la page de l'acte / the acte's page");
        acte = t.path(agent);
        assert.ok((await t.h1(agent)).includes(numero), await t.h1(agent));
        if (isDesktop) await t.screenshot(agent, "actes-acte.png");
      });
      await t.step("envoi en signature au maire / sent to the maire for signature", async () => {
        await chooseOption(t, agent, "#circuit", CIRCUIT_DELIB);
        await t.activate(agent, "button[type=submit]", { text: "Envoyer en signature" });
        assert.equal(t.path(agent), acte);
        assert.match(await status(agent), /En attente de signature/);
      });
      await t.step("la secrétaire vise, le maire signe / the secretary visas, the maire signs", async () => {
        const title = `Délibération ${numero} : ${objet}`;
        for (const [page, verb] of [[agent, "Viser le dossier"], [maire, "Signer"]]) {
          await t.goto(page, `/o/${ARBRISSEL}/parapheur?dossiers=a-traiter`);
          await t.activate(page, "a", { text: title, rowText: title });
          assert.equal(await t.h1(page), title);
          if (verb === "Signer") {
            await t.fill(page, "#mot_de_passe", PASSWORD);
            await t.activate(page, 'form[action$="/signer"] button[type=submit]', { text: "Signer" });
            assert.match(await notice(page), /Le document est signé/);
          } else {
            await t.activate(page, "button[type=submit]", { text: verb });
            assert.match(await notice(page), /Votre visa est enregistré/);
          }
        }
      });
      await t.step("transmission à la préfecture / transmission", async () => {
        await t.goto(agent, acte);
        assert.match(await status(agent), /Signé, prêt à transmettre/);
        await t.activate(agent, "button[type=submit]", { text: "Transmettre à la préfecture" });
        assert.equal(t.path(agent), `${acte}/suivi`);
        assert.match(await notice(agent), /La transmission est demandée/);
      });
      let idActe;
      await t.step("l'accusé de réception arrive / the AR arrives", async () => {
        await fetchUntil(agent, /Acquitté/);
        assert.match(await status(agent), /Acquitté/);
        idActe = (await agent.textContent(".page-header__lead code")).trim();
        assert.match(idActe, new RegExp(`^035-${ARBRISSEL}-\\d{8}-${numero}-DE$`));
        const dates = (await agent.textContent("main dl.definition-list")).replace(/\s+/g, " ");
        assert.ok(dates.includes(`Reçu en préfecture le${todayFr}`) || dates.includes(`Reçu en préfecture le ${todayFr}`), dates);
        await assertPdf(agent, "a:has-text('Acte tamponné')", "acte tamponné / stamped acte");
        await assertPdf(agent, "a:has-text('Bordereau d')", "bordereau d'acquittement");
        if (t.keyboard) await t.tabThrough(agent);
        if (isDesktop) await t.screenshot(agent, "actes-suivi-acquitte.png");
      });
      const sim = await t.newPage();
      await t.step("la préfecture envoie une lettre d'observations / the préfecture sends a letter", async () => {
        await sim.goto(t.simulatorUrl, { waitUntil: "load" });
        await t.check(sim);
        const details = sim.locator(`details[id="acte-${idActe}"]`);
        await details.locator("summary").click();
        const form = details.locator("form", { has: sim.locator('input[name=type][value="lettre-observations"]') });
        await form.locator("textarea").fill("Le tarif dépasse le coût du service rendu.");
        await Promise.all([sim.waitForNavigation({ waitUntil: "load" }), form.locator("button[type=submit]").click()]);
      });
      await t.step("la secrétaire lit la lettre et y répond / the secretary reads and answers it", async () => {
        await t.goto(agent, `${acte}/suivi`);
        await fetchUntil(agent, /Lettre d'observations/);
        const article = agent.locator("main article", { hasText: "Lettre d'observations" }).first();
        assert.match((await article.textContent()).replace(/\s+/g, " "), /Réponse attendue/);
        const input = await article.locator("input[type=file]").getAttribute("id");
        await agent.setInputFiles(`#${input}`, {
          name: "reponse-observations.pdf",
          mimeType: "application/pdf",
          buffer: makePdf(["Réponse à la lettre d'observations", `Délibération ${numero}`, "Le tarif couvre le coût du service."]),
        });
        await t.activate(agent, "button[type=submit]", { text: "Envoyer la réponse à la préfecture" });
        assert.match(await notice(agent), /Votre réponse est prête/);
        await fetchUntil(agent, /Répondu/);
      });
      await t.step("un acte refusé par la préfecture s'explique en français / a refused acte is explained in French", async () => {
        // The préfecture publishes a new classification: an acte sent with the old one is refused.
        await sim.goto(t.simulatorUrl, { waitUntil: "load" });
        await Promise.all([
          sim.waitForNavigation({ waitUntil: "load" }),
          sim.locator("button[type=submit]", { hasText: "Publier une nouvelle classification" }).click(),
        ]);
        await newActe(agent);
        await fillActe(agent, { numero: "DEL_2026_061", objet: "Subvention au comité des fêtes", file: "deliberation-2026-061.pdf" });
        await t.activate(agent, "button[type=submit]", { text: "Enregistrer l'acte" });
        await t.activate(agent, "button[type=submit]", { text: "Transmettre à la préfecture" });
        assert.match(t.path(agent), new RegExp(`^${base}/[^/?]+/suivi$`));
        await fetchUntil(agent, /En erreur/);
        const error = (await agent.textContent("main .notice--error")).replace(/\s+/g, " ");
        assert.match(error, /classification/i, error);
        if (isDesktop) await t.screenshot(agent, "actes-anomalie.png");
      });
    },
  },
];

// --- Main ------------------------------------------------------------------------------------
// The order in which this Chromium's date fields take their parts: "dmy" or "mdy".
let dateOrder = "dmy";

async function probeDateOrder(browser) {
  const context = await browser.newContext({ locale: "fr-FR" });
  const page = await context.newPage();
  await page.setContent('<input type="date" id="d" aria-label="date">');
  await page.focus("#d");
  await page.keyboard.type("23112026");
  const order = (await page.inputValue("#d")) === "2026-11-23" ? "dmy" : "mdy";
  await context.close();
  return order;
}

async function runMode(browser, binary, modeName, journeys) {
  const mode = MODES[modeName];
  const results = [];
  for (const journey of journeys) {
    // A fresh server (fresh data) for each mode, and for each journey: no journey sees another's.
    const started = Date.now();
    let server;
    const t = new Journey({ name: journey.name, mode, modeName, baseUrl: null, browser });
    let error = null;
    try {
      server = await startServer(binary, `server-${modeName}-${journey.name.slice(0, 1)}.log`);
      t.baseUrl = server.url;
      t.simulatorUrl = server.simulator;
      await journey.run(t);
    } catch (e) {
      error = e;
      for (const [i, page] of t.pages.entries()) {
        await mkdir(outputDir, { recursive: true });
        await page
          .screenshot({ path: join(outputDir, `echec-${modeName}-${journey.name.slice(0, 1)}-${i}.png`), fullPage: true })
          .catch(() => {});
      }
    } finally {
      await t.close();
      if (server) await server.stop();
    }
    const ok = !error && t.problems.length === 0;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    results.push({ mode: modeName, name: journey.name, ok, seconds, checked: t.checked, axeRuns: t.axeRuns });
    // One block per journey, printed at once: the modes run side by side.
    const out = [`${ok ? "✔" : "✘"} [${mode.label}] ${journey.name} — ${t.checked} pages vérifiées / checked, ${t.axeRuns} passées à axe / new to axe (${seconds} s)`];
    if (error) {
      out.push(`      Étape en échec / failed step: ${t.currentStep}`);
      const page = t.pages.find((p) => p.url() !== "about:blank");
      if (page) out.push(`      Page : ${page.url()}`);
      out.push(`      ${String(error.stack || error).replace(/\n/g, "\n      ")}`);
      out.push(`      Captures / screenshots: ${join(outputDir, `echec-${modeName}-${journey.name.slice(0, 1)}-*.png`)}`);
    }
    if (t.problems.length) {
      out.push(`      ${t.problems.length} problème(s) sur les pages / page problem(s):`);
      for (const p of t.problems) out.push(`    • ${p.replace(/\n/g, "\n    ")}`);
    }
    console.log(out.join("\n"));
  }
  return results;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const journeys = JOURNEYS.filter((j) => !args.journey || j.name.toLowerCase().includes(args.journey));
  if (journeys.length === 0) {
    console.error(`Aucun parcours ne correspond / no journey matches: ${args.journey}`);
    process.exit(2);
  }
  const watchdog = setTimeout(() => {
    console.error(`Délai dépassé / run timed out after ${WATCHDOG / 60_000} min`);
    cleanupAll().finally(() => process.exit(1));
  }, WATCHDOG);
  watchdog.unref();
  await rm(outputDir, { recursive: true, force: true }); // only this run's logs and pictures
  await mkdir(outputDir, { recursive: true });
  const started = Date.now();
  const browser = await chromium.launch({
    executablePath: process.env.BOUQUET_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  dateOrder = await probeDateOrder(browser);
  console.log(`Chromium ${browser.version()}, axe-core ${JSON.parse(await readFile(require.resolve("axe-core/package.json"), "utf8")).version}`);
  const results = [];
  try {
    // The modes run side by side (each with its own servers); --serial runs one after another.
    if (args.serial) {
      for (const modeName of args.modes) results.push(...(await runMode(browser, args.binary, modeName, journeys)));
    } else {
      const byMode = await Promise.all(args.modes.map((m) => runMode(browser, args.binary, m, journeys)));
      results.push(...byMode.flat());
    }
  } finally {
    await browser.close().catch(() => {});
    await cleanupAll();
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const sum = (key) => results.reduce((n, r) => n + r[key], 0);
  console.log(`\nRésumé / summary (${seconds} s ; ${sum("checked")} pages vérifiées / pages checked ; ${sum("axeRuns")} pages distinctes analysées par axe-core / distinct pages run through axe-core):`);
  for (const r of results) console.log(`  ${r.ok ? "✔" : "✘"} [${MODES[r.mode].label}] ${r.name}`);
  console.log(failed === 0 ? "Tous les parcours sont passés / all journeys passed." : `${failed} parcours en échec / journey run(s) failed.`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch(async (e) => {
  console.error(e);
  await cleanupAll();
  process.exit(1);
});
