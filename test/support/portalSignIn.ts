import type { Page } from "playwright-core";

/**
 * Signs in to the portal as a person would: "Sign in with Microsoft", the Entra emulator's
 * account picker (no passwords), back to the portal's Tenants page. `account` matches the
 * picker's entry, e.g. /OpenCVI operator/ or /Adele Vance/.
 */
export async function signInToPortal(page: Page, portalUrl: string, account: RegExp): Promise<void> {
  await page.goto(portalUrl);
  await page.getByRole("button", { name: "Sign in with Microsoft" }).click();
  await page.getByRole("radio", { name: account }).check();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Tenants" }).waitFor({ timeout: 15_000 });
}
