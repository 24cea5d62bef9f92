// The consent page in a real browser: headless Chromium (Debian's, driven by playwright-core)
// opens the authorization URL, the person types the API key and clicks "Allow", and the
// browser is sent to the client's redirect URI.
//
// Usage: node consent_browser.mjs CHROMIUM AUTHORIZATION_URL API_KEY REDIRECT_URI
//
// Prints ONE JSON line: {"title", "scripts", "landed"} where `landed` is the URL the browser
// was sent to (the redirect URI with `code`, `state` and `iss`; nothing listens there), and
// `scripts` the number of <script> elements on the page (none). JavaScript is off.

import { chromium } from "playwright-core";

const [executablePath, authorizationUrl, apiKey, redirectUri] = process.argv.slice(2);

async function main() {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const opened = await page.goto(authorizationUrl);
    if (opened.status() !== 200) throw new Error(`consent page: ${opened.status()}`);
    const title = await page.title();
    const scripts = await page.locator("script").count();
    await page.fill("#api_key", apiKey);
    // The client's redirect URI is not served in the test: the request the browser makes to
    // it (following the consent answer's redirect) is where it landed.
    const sent = page.waitForRequest((r) => r.url().startsWith(redirectUri), { timeout: 15000 });
    await page.click('button[value="approve"]').catch(() => {});
    const landed = (await sent).url();
    process.stdout.write(`${JSON.stringify({ title, scripts, landed })}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e?.stack ?? e}\n`);
  process.exit(1);
});
