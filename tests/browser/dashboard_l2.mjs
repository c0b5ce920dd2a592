// tests/browser/dashboard_l2.mjs: the dashboard's second tier and replication sections in
// headless Chromium; tests/integration/test_dashboard_l2.py runs it against a levee with cache.l2
// and a running replicator. Usage: node dashboard_l2.mjs ADMIN_URL PEER [SCREENSHOT.png]
// Prints one JSON line of figures; exits 1 with a message on the first failed check.
import process from "node:process";
import { check, run, waitFor } from "./common.mjs";

const [adminUrl, peer, shot] = process.argv.slice(2);
const out = {};

await run(out, async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(adminUrl + "/dashboard", { waitUntil: "load" });
  await waitFor(() => page.textContent("#conn").then((t) => t === "live"), "the stream goes live");
  for (const id of ["l2", "replication"])
    await waitFor(() => page.isVisible("#" + id), "section #" + id + " is shown");
  check(await page.$$eval("#l2 svg.spark", (s) => s.length) >= 4, "the L2 section has its charts");
  out.l2_workers = await page.textContent("#l2 .svc-head");
  check(/workers up 2\/2/.test(out.l2_workers), "workers up 2/2: " + out.l2_workers);
  const card = 'article[data-peer="' + peer + '"]';
  await waitFor(() => page.isVisible(card), "a card for peer " + peer);
  out.peer_head = await page.textContent(card + " .svc-head");
  check(out.peer_head.includes("replicator running"), "the replicator runs: " + out.peer_head);
  check(await page.$$eval(card + " svg.spark", (s) => s.length) === 3, "the peer has its charts");
  out.applied = await waitFor(async () => {
    const t = await page.textContent(card + ' dd[data-fig="applied"]');
    return parseFloat(t) > 0 ? t : null;
  }, "applied/s above 0", 15000);
  out.lag_p99 = await page.textContent(card + ' dd[data-fig="lag_p99"]');
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  check(errors.length === 0, "no console error: " + errors.join(" | "));
});
