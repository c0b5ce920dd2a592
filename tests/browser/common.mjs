// tests/browser/common.mjs: what the dashboard's browser scripts share: checks, polling, and
// headless Chromium (playwright-core, Debian's /usr/bin/chromium unless LV_CHROMIUM says).
import { chromium } from "playwright-core";
import process from "node:process";

export function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

export async function waitFor(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out: " + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Runs body(browser) in a fresh headless Chromium, closes it, prints out as one JSON line and
// exits 1 with the failure's stack when body threw.
export async function run(out, body) {
  const browser = await chromium.launch({
    executablePath: process.env.LV_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  let failed = null;
  try {
    await body(browser);
  } catch (e) {
    failed = e;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
  if (failed) {
    console.error(String(failed.stack || failed));
    process.exit(1);
  }
}
