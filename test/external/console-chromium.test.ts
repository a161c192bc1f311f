/**
 * The web console in headless Chromium (Debian package `chromium`, driven by
 * playwright-core): the counter and shopping-cart examples run as real user functions
 * behind real proxies; the test finds entities through the console's browser, reads
 * their state and events, and watches the live call statistics. Screenshots go to
 * $CONSOLE_SCREENSHOTS (default: a temp folder). Fails (never skips) without Chromium.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { type ExampleProcess, freePort, startExample } from "../observability/support/example-process.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS ?? path.join(os.tmpdir(), "switchboard-console-screenshots");

async function post(port: number, route: string, body: unknown): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.text());
}

async function serve(example: "counter" | "shopping-cart"): Promise<{ example: ExampleProcess; proxy: ProxyProcess; console: string }> {
  const started = await startExample(example);
  const adminPort = await freePort();
  const proxy = await startProxy({
    userFunctionPort: started.port,
    extraArgs: ["--admin-port", String(adminPort)],
    store: `sqlite:${path.join(SCREENSHOTS, `${example}-${process.pid}.db`)}`,
  });
  return { example: started, proxy, console: `http://127.0.0.1:${adminPort}/` };
}

describe("the web console in Chromium", () => {
  let browser: Browser;
  const running: { example: ExampleProcess; proxy: ProxyProcess }[] = [];
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  });
  after(async () => {
    await browser?.close();
    for (const { proxy, example } of running) {
      await proxy.stop();
      await example.stop();
    }
    for (const example of ["counter", "shopping-cart"]) {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(path.join(SCREENSHOTS, `${example}-${process.pid}.db${suffix}`), { force: true });
    }
  });

  it("finds a counter after increments, shows its value, the live call rates and the user function's status", async () => {
    const counter = await serve("counter");
    running.push(counter);
    const port = counter.proxy.port;
    for (const value of [5, 10]) await post(port, "/counters/c1/increase", { value });
    await post(port, "/counters/c2/increase", { value: 1 });
    await post(port, "/counters/other/increase", { value: 1 });

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(counter.console);
    await page.locator('#services li[data-service="com.example.counter.CounterService"]').waitFor();
    await page.locator("#uf-status.up", { hasText: "connected" }).waitFor();
    await page.selectOption("#entity-service", "com.example.counter.CounterService");
    await page.fill("#entity-prefix", "c");
    await page.click("#entity-search button[type=submit]");
    await page.locator("#entity-list a", { hasText: "c2" }).waitFor();
    assert.deepEqual(await page.locator("#entity-list a").allTextContents(), ["c1", "c2"]);

    // Calls made while the page is open show up in the live table within seconds.
    const load = setInterval(() => void post(port, "/counters/c2/increase", { value: 1 }).catch(() => {}), 50);
    const row = page.locator('#stats tr[data-method="com.example.counter.CounterService/Increase"]');
    try {
      // A string runs in the page (this file is compiled without the DOM's types).
      await page.waitForFunction(
        `(() => {
          const cell = document.querySelector('#stats tr[data-method="com.example.counter.CounterService/Increase"] td.calls');
          return cell !== null && Number(cell.textContent) > 0;
        })()`,
        undefined,
        { timeout: 10_000 },
      );
      // Read the p50 while calls still flow: the per-second window empties once the load stops.
      assert.match((await row.locator("td").nth(2).textContent()) ?? "", /\d+(\.\d+)? (ms|µs)/, "p50 shown");
    } finally {
      clearInterval(load);
    }
    assert.equal(await row.locator("svg.spark polyline").count(), 1);
    await page.screenshot({ path: path.join(SCREENSHOTS, "console-home.png"), fullPage: true });

    await page.click('#entity-list a:text-is("c1")');
    await page.locator("#entity-state", { hasText: '"value": "15"' }).waitFor();
    assert.match((await page.locator("#entity-meta").textContent()) ?? "", /value-entity · com\.example\.counter\.domain\.CounterState/);
    await page.screenshot({ path: path.join(SCREENSHOTS, "console-counter.png"), fullPage: true });
    await page.close();
  });

  it("opens a shopping cart and shows its events, decoded", async () => {
    const cart = await serve("shopping-cart");
    running.push(cart);
    await post(cart.proxy.port, "/cart/ann/items/add", { productId: "p1", name: "Socks", quantity: 2 });
    await post(cart.proxy.port, "/cart/ann/items/add", { productId: "p2", name: "Hat", quantity: 1 });
    await post(cart.proxy.port, "/cart/bob/items/add", { productId: "p3", name: "Scarf", quantity: 1 });

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(cart.console);
    await page.locator('#entity-service option[value="com.example.shoppingcart.ShoppingCart"]').waitFor({ state: "attached" });
    await page.fill("#entity-prefix", "a");
    await page.click("#entity-search button[type=submit]");
    await page.click('#entity-list a:text-is("ann")');
    await page.locator("#event-timeline li").nth(1).waitFor();
    const events = await page.locator("#event-timeline li").allTextContents();
    assert.equal(events.length, 2);
    assert.match(events[0] ?? "", /#1 · com\.example\.shoppingcart\.persistence\.ItemAdded/);
    assert.match(events[0] ?? "", /"name": "Socks"/);
    assert.match(events[1] ?? "", /"productId": "p2"/);
    assert.match((await page.locator("#entity-meta").textContent()) ?? "", /event-sourced · sequence number 2/);
    await page.screenshot({ path: path.join(SCREENSHOTS, "console-cart.png"), fullPage: true });
    await page.close();
  });
});
