import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { findVtcCoordinates } from "../../shared/domain/vtcBlock.js";
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

export interface EnabledMeeting {
  readonly tenant: OnboardedTenant;
  readonly organizerId: string;
  readonly eventId: string;
  readonly meetingId: string;
  /** The VTC conference ID the product wrote into the invite. */
  readonly vtcId: string;
}

/**
 * A consented tenant with this service's provider, every organizer enabled (tenant-wide
 * grant), and a Teams meeting whose invite already carries its coordinates.
 */
export async function enabledMeeting(
  stack: LocalStack,
  options: { lobbyScope?: "everyone" | "organization"; subject?: string } = {},
): Promise<EnabledMeeting> {
  const tenant = await onboardTenant(stack);
  const organizer = stack.graph.addUser(tenant.tenantId, {
    displayName: "Olivia Organizer",
    userPrincipalName: `olivia@${tenant.tenantId.slice(0, 8)}.example.com`,
  });
  assert.equal(
    (await adminApi(stack, "POST", `/v1/tenants/${tenant.tenantId}/providers`, { identity: "OpenCVI", tenantKey: tenant.tenantKey })).status,
    201,
  );
  assert.equal(
    (await adminApi(stack, "PUT", `/v1/tenants/${tenant.tenantId}/policy-assignments/global`, { policyName: "OpenCVIServiceProviderEnabled" }))
      .status,
    200,
  );
  const { eventId, meetingId } = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizer.id, {
    subject: options.subject ?? "Design review",
    start: new Date(),
    end: new Date(Date.now() + 8 * 3600_000),
    lobbyScope: options.lobbyScope ?? "everyone",
  });
  for (let i = 0; i < 3; i++) await stack.graph.idle();
  const event = stack.graph.getEvent(tenant.tenantId, organizer.id, eventId) as { body: { content: string } };
  const vtcId = findVtcCoordinates(event.body.content)?.vtcId;
  assert.ok(vtcId, "the meeting's invite carries coordinates");
  return { tenant, organizerId: organizer.id, eventId, meetingId, vtcId };
}

/**
 * Plays a media host's place in the pool through the raw API (role CVI.MediaHost): takes a
 * lease for `hostId` and renews it every 2 s until `release()`, for tests that join as that host.
 */
export async function holdLease(stack: LocalStack, hostId: string): Promise<{ readonly epoch: number; release(): Promise<void> }> {
  const token = await stack.issueToken({ roles: ["CVI.MediaHost"] });
  const body = (epoch: number | null) => ({ epoch, sipUri: "sip:127.0.0.1:5999;transport=udp", capacity: 1000, activeCalls: 0 });
  const taken = await adminApi(stack, "PUT", `/v1/pool/hosts/${hostId}/lease`, body(null), token);
  assert.equal(taken.status, 200, taken.text);
  const epoch = taken.json.epoch as number;
  const timer = setInterval(() => void adminApi(stack, "PUT", `/v1/pool/hosts/${hostId}/lease`, body(epoch), token).catch(() => {}), 2000);
  return {
    epoch,
    release: async () => {
      clearInterval(timer);
      await adminApi(stack, "DELETE", `/v1/pool/hosts/${hostId}/lease?epoch=${epoch}`, undefined, token);
    },
  };
}
