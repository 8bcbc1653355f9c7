import { CosmosTenantRepository } from "../functions/adapters/cosmos/cosmosTenantRepository.js";
import { openCosmosStore } from "../functions/adapters/cosmos/cosmosStore.js";
import { TenantService } from "../functions/app/tenantService.js";
import { controlPlane } from "../functions/controlPlane.js";
import type { EntraUser } from "../test/emulators/entra/entraIdEmulator.js";
import { ADMIN_API_APP_ID_URI, LOCAL_BOT_APP_ID, type LocalStack, TENANT_ADMIN_ROLE } from "./stack.js";

/** The demo the local stack seeds for `npm start`: fixed ids, so the README can name them. */
export const DEMO = {
  tenantId: "d3a0c0de-0000-4000-8000-000000000001",
  tenantName: "Contoso (demo)",
  tenantKeyDigits: "123456789",
  organizer: { displayName: "Megan Bowen", userPrincipalName: "megan@contoso-demo.onmicrosoft.com" },
  /** Signs in to the portal from the demo tenant (role CVI.TenantAdmin there). */
  admin: { displayName: "Adele Vance", userPrincipalName: "adele@contoso-demo.onmicrosoft.com" },
  meetingSubject: "OpenCVI demo meeting",
  vtcId: "1234567890",
} as const;

export interface SeededDemo {
  readonly tenantId: string;
  readonly tenantKey: string;
  readonly organizerId: string;
  readonly meetingId: string;
  readonly vtcId: string;
  readonly joinWebUrl: string;
  /** The demo tenant's admin, a user of the Entra ID emulator who can sign in to the portal. */
  readonly admin: EntraUser;
}

/**
 * A consented demo tenant whose organizer is enabled (tenant-wide grant) and has a
 * Teams meeting for the next hours, lobby open to everyone, with coordinates in its
 * invite — put there by the product's own subscription and injection path.
 */
export async function seedDemo(stack: LocalStack): Promise<SeededDemo> {
  const { tenantId } = DEMO;
  stack.entra.addTenant({ tenantId, domain: "contoso-demo.onmicrosoft.com", displayName: DEMO.tenantName });
  stack.entra.grantConsent(tenantId, LOCAL_BOT_APP_ID);
  const organizer = stack.graph.addUser(tenantId, DEMO.organizer);
  const admin = stack.entra.addUser({ tenantId, ...DEMO.admin });
  // The admin API's app role, assigned in the demo tenant: the admin's tokens carry it with the demo tenant's tid.
  stack.entra.assignUserAppRole(tenantId, ADMIN_API_APP_ID_URI, admin.objectId, TENANT_ADMIN_ROLE);

  // The one place a tenant key is not drawn at random: the demo's must be the same every run.
  const store = await openCosmosStore({
    endpoint: stack.cosmosEndpoint,
    key: stack.settings.COSMOS_KEY,
    databaseId: stack.settings.COSMOS_DATABASE ?? "cvi",
  });
  const fixedKey = new TenantService(new CosmosTenantRepository(store), {
    serviceDomain: stack.settings.SERVICE_DOMAIN ?? "cvi.localhost",
    randomInt: () => Number(DEMO.tenantKeyDigits) - 100_000_000,
    now: () => new Date(),
  });
  const tenant = (await fixedKey.add({ tenantId, name: DEMO.tenantName })).value;

  const plane = await controlPlane();
  await plane.consent.refresh(tenantId);
  await plane.providers.create(tenantId, {
    identity: plane.config.SERVICE_PROVIDER_NAME,
    tenantKey: tenant.tenantKey,
    instructionUri: `${stack.adminApiUrl}/openapi.json?conf={ConfId}`,
  });
  await plane.policies.grantGlobally(tenantId, { policyName: `${plane.config.SERVICE_PROVIDER_NAME}ServiceProviderEnabled` });
  await plane.subscriptions.afterGrant(tenantId);

  const start = new Date();
  const { meetingId } = stack.graph.createTeamsMeetingEvent(tenantId, organizer.id, {
    subject: DEMO.meetingSubject,
    start,
    end: new Date(start.getTime() + 12 * 3600_000),
    lobbyScope: "everyone",
    // Teams' own VTC ID for the meeting: the product adopts it, so the demo's ID is stable.
    videoTeleconferenceId: DEMO.vtcId,
    bodyHtml: "<p>Dial in from a room system, or join from the browser.</p>",
  });
  for (let i = 0; i < 3; i++) await stack.graph.idle();
  const meeting = stack.graph.meetings().find((m) => m.id === meetingId) as { joinWebUrl?: string } | undefined;
  return {
    tenantId,
    tenantKey: tenant.tenantKey,
    organizerId: organizer.id,
    meetingId,
    vtcId: DEMO.vtcId,
    joinWebUrl: meeting?.joinWebUrl ?? "",
    admin,
  };
}
