import { ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";

export interface WorkloadIdentitySettings {
  readonly tenantId?: string | undefined;
  readonly clientId?: string | undefined;
  readonly clientSecret?: string | undefined;
  readonly authorityHost: string;
}

/**
 * A service's own identity (not a tenant's): its managed identity in Azure (a
 * user-assigned one when `clientId` is given), a client secret only where there is no
 * managed identity (the local stack, with the Entra ID emulator as authority).
 */
export function workloadCredential(settings: WorkloadIdentitySettings): TokenCredential {
  if (settings.clientSecret) {
    if (!settings.tenantId || !settings.clientId) throw new Error("a client secret needs a tenant id and a client id");
    return new ClientSecretCredential(settings.tenantId, settings.clientId, settings.clientSecret, {
      authorityHost: settings.authorityHost,
      // Instance discovery asks Microsoft's public cloud about the authority; ours is configured.
      disableInstanceDiscovery: true,
    });
  }
  return settings.clientId ? new ManagedIdentityCredential({ clientId: settings.clientId }) : new ManagedIdentityCredential();
}
