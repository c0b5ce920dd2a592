// tests/browser/dashboard.mjs: drives levee's dashboard in headless Chromium (playwright-core,
// Debian's /usr/bin/chromium) while load runs; tests/integration/test_dashboard.py runs it.
// Usage: node dashboard.mjs ADMIN_URL TOKEN LEVEE_PID SCREENSHOT.png
// Prints one JSON line of figures; exits 1 with a message on the first failed check.
import process from "node:process";
import { check, run, waitFor } from "./common.mjs";

const [adminUrl, token, pid, shot] = process.argv.slice(2);
const out = {};

await run(out, async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  // The refused toggle's 401 is logged by Chromium as a failed resource load: expected.
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 401/.test(m.text())) errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(adminUrl)) external.push(r.url()); });

  // First contentful paint, from the navigation's start: once in a browser just started (a
  // renderer to spawn), then on a second load of the page, which is what a person opening
  // the page again meets.
  const fcp = () => waitFor(() => page.evaluate(() => {
    const p = performance.getEntriesByType("paint").find((e) => e.name === "first-contentful-paint");
    return p ? p.startTime : null;
  }), "a first contentful paint", 5000);
  await page.goto(adminUrl + "/dashboard", { waitUntil: "load" });
  out.first_paint_cold_ms = Math.round(await fcp());
  await page.goto(adminUrl + "/dashboard", { waitUntil: "load" });
  out.first_paint_ms = Math.round(await fcp());
  out.html_bytes = await page.evaluate(() => document.documentElement.outerHTML.length);

  // Every section, live.
  await waitFor(() => page.textContent("#conn").then((t) => t === "live"), "the stream goes live");
  for (const id of ["services", "flags", "cache", "faults"])
    check(await page.isVisible("#" + id), "section #" + id + " is shown");
  const services = await page.$$eval("article.svc", (a) => a.map((e) => e.id));
  check(services.includes("svc-api") && services.includes("svc-recs"), "a card per service: " + services);
  check(await page.$$eval("#svc-api svg.spark", (s) => s.length) >= 4, "the api card has its charts");
  check((await page.$$eval("label", (l) => l.length)) >= 2, "controls are labelled");

  // Values change while the load runs.
  const seen = new Set();
  await waitFor(async () => {
    seen.add(await page.textContent('#svc-api dd[data-fig="offered"]'));
    return seen.size >= 3;
  }, "offered/s of api changes under load", 15000);
  out.offered_values = [...seen];
  check([...seen].some((v) => parseFloat(v) > 0), "offered/s above 0 under load");

  // A flag toggle without the token is refused and changes nothing.
  const row = 'tr[data-flag="recs"]';
  await page.selectOption(row + " select", "off");
  await page.click(row + " button[data-set]");
  await waitFor(() => page.textContent("#msg").then((t) => t.includes("refused (401")), "refused without token");
  let st = await page.evaluate((u) => fetch(u + "/flags/recs").then((r) => r.json()), adminUrl);
  check(st.state !== "off", "the flag did not change without the token");
  // With it, it works, and the table follows.
  await page.fill("#token", token);
  await page.selectOption(row + " select", "off");
  await page.click(row + " button[data-set]");
  await waitFor(() => page.textContent("#msg").then((t) => t.includes("set to off")), "set with the token");
  st = await page.evaluate((u) => fetch(u + "/flags/recs").then((r) => r.json()), adminUrl);
  check(st.state === "off" && st.overridden, "the flag is off through the API");
  await waitFor(() => page.textContent(row).then((t) => t.includes("flag off") && t.includes("overridden")),
    "the flags table shows it");
  out.flag_toggled = true;

  // The page survives a config reload: the stream stays live, the generation moves.
  process.kill(Number(pid), "SIGHUP");
  await waitFor(() => page.textContent("#summary").then((t) => t.includes("config generation 2")),
    "generation 2 shown after SIGHUP");
  await waitFor(() => page.textContent("#conn").then((t) => t === "live"), "still live after the reload");
  check((await page.$$eval("article.svc", (a) => a.length)) === services.length, "cards kept");

  // Give the flag back, then the screenshot under load.
  await page.click(row + " button[data-reset]");
  await waitFor(() => page.textContent("#msg").then((t) => t.includes("back to its config")), "reset");
  await new Promise((r) => setTimeout(r, 1500));
  if (shot) await page.screenshot({ path: shot, fullPage: true });

  // A phone: no horizontal scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  await new Promise((r) => setTimeout(r, 300));
  out.phone_overflow_px = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(out.phone_overflow_px <= 0, "no horizontal scroll at 390 px: " + out.phone_overflow_px);

  check(external.length === 0, "no request leaves the admin listener: " + external);
  check(errors.length === 0, "no console error: " + errors.join(" | "));
});
