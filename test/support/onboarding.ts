import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { LocalStack } from "../../local/stack.js";

/** Calls the admin API of the stack with an admin token. */
export async function adminApi(stack: LocalStack, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${stack.adminApiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token ?? (await stack.issueToken())}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

const unescapeHtml = (s: string) =>
  s.replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");

/** Plays the tenant admin on the Entra ID emulator's consent page; returns where it redirects. */
export async function decideConsent(consentUrl: string, decision: "accept" | "cancel"): Promise<URL> {
  const page = await fetch(consentUrl);
  assert.equal(page.status, 200);
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  assert.ok(action, "the consent page has a form");
  const form = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    form.set(name ?? "", unescapeHtml(value ?? ""));
  form.set("decision", decision);
  const answer = await fetch(new URL(unescapeHtml(action), consentUrl), { method: "POST", body: form, redirect: "manual" });
  assert.equal(answer.status, 302);
  return new URL(answer.headers.get("location") ?? "");
}

export interface OnboardedTenant {
  readonly tenantId: string;
  readonly tenantKey: string;
  readonly name: string;
}

/** A tenant as an operator onboards it: known to Entra ID, created in the admin API, and (by default) consented through the real flow. */
export async function onboardTenant(stack: LocalStack, options: { consent?: boolean } = {}): Promise<OnboardedTenant> {
  const tenantId = randomUUID();
  const name = `Tenant ${tenantId.slice(0, 8)}`;
  stack.entra.addTenant({ tenantId, domain: `t${tenantId.slice(0, 8)}.onmicrosoft.com`, displayName: name });
  const created = await adminApi(stack, "POST", "/v1/tenants", { tenantId, name });
  assert.equal(created.status, 201, created.text);
  if (options.consent ?? true) {
    const link = await adminApi(stack, "POST", `/v1/tenants/${tenantId}/consent-link`);
    const back = await decideConsent(link.json.url, "accept");
    const result = await fetch(back);
    assert.equal(result.status, 200, await result.text());
  }
  return { tenantId, tenantKey: created.json.tenantKey, name };
}
