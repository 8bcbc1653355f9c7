import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { CALL_PERMISSIONS } from "../../shared/domain/consent.js";
import { escapeHtml } from "../../shared/html.js";
import { controlPlane } from "../controlPlane.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/**
 * Where Entra ID sends the tenant admin after the consent page. Public (the admin's
 * browser), so it trusts only the signed single-use state, and answers with a page.
 */
export async function consentCallback(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const q = request.query;
  try {
    const plane = await controlPlane();
    const outcome = await plane.consent.callback({
      state: q.get("state"),
      tenant: q.get("tenant"),
      admin_consent: q.get("admin_consent"),
      error: q.get("error"),
      error_description: q.get("error_description"),
    });
    if (outcome.kind === "refused") {
      context.warn(`consent callback refused: ${outcome.reason}`);
      return page(
        400,
        "Consent not recorded",
        `<p>${escapeHtml(outcome.reason)}.</p><p>Nothing was changed. Ask your video interop operator for a new link.</p>`,
      );
    }
    const { tenant, consent } = outcome;
    context.log(`consent for tenant ${tenant.tenantId}: ${consent.status}`);
    // Organizers enabled before consent get their subscriptions (and invites) now.
    if (consent.status === "granted") await plane.subscriptions.afterGrant(tenant.tenantId);
    switch (consent.status) {
      case "granted":
        return page(
          200,
          "Video conferencing devices are enabled",
          `<p>${escapeHtml(tenant.name)} has granted the permissions room systems need to join meetings.</p>` +
            (consent.missing.length ? `<p>Not granted, so invites will not get device coordinates: ${list(consent.missing)}</p>` : "") +
            `<p>Devices dial <strong>${escapeHtml(tenant.tenantKey)}</strong>.</p>`,
        );
      case "incomplete":
        return page(
          200,
          "Some permissions are missing",
          `<p>${escapeHtml(tenant.name)} did not grant: ${list(consent.missing)}</p><p>Room systems cannot join until an administrator grants ${list([...CALL_PERMISSIONS])}</p>`,
        );
      case "declined":
        return page(
          200,
          "Consent declined",
          `<p>The administrator of ${escapeHtml(tenant.name)} declined. Room systems cannot join its meetings.</p>`,
        );
      default:
        return page(200, "No permissions granted", `<p>${escapeHtml(tenant.name)} has not granted any permission to the gateway.</p>`);
    }
  } catch (e) {
    context.error(`consent callback failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`.slice(0, 500));
    return page(500, "Something went wrong", `<p>The consent could not be recorded. Quote ${escapeHtml(context.invocationId)} to your operator.</p>`);
  }
}

const list = (items: readonly string[]) => `<ul>${items.map((i) => `<li><code>${escapeHtml(i)}</code></li>`).join("")}</ul>`;

function page(status: number, title: string, body: string): HttpResponseInit {
  return {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`,
  };
}

registerHttpRoute({
  name: "consentCallback",
  methods: ["GET"],
  route: "consent/callback",
  handler: consentCallback,
  doc: {
    summary: "Entra ID admin-consent redirect target (for the admin's browser)",
    tag: "Consent",
    anonymous: true,
    query: [
      { name: "state", description: "The signed state of the consent link" },
      { name: "tenant", description: "The tenant the admin consented in" },
      { name: "admin_consent", description: "True on success" },
      { name: "error", description: "access_denied when declined" },
      { name: "error_description", description: "Entra ID's AADSTS message" },
    ],
    responses: {
      200: { description: "An HTML page saying what was recorded" },
      400: { description: "An HTML page: forged, replayed or expired state" },
    },
  },
});
