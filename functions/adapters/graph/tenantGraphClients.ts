import { ClientSecretCredential, type TokenCredential } from "@azure/identity";
import { Client, GraphError } from "@microsoft/microsoft-graph-client";
import { CachedTokenCredential } from "../../../shared/identity/cachedTokenCredential.js";
import { ConsentMissingError, NotFoundError, PreconditionFailedError } from "../../../shared/errors.js";

/** The resource, not a location: tokens are for Microsoft Graph wherever GRAPH_BASE_URL points. */
export const GRAPH_SCOPE = "https://graph.microsoft.com/.default";

export interface TenantGraphClientsOptions {
  readonly authorityHost: string;
  readonly graphBaseUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/**
 * App-only access to Microsoft Graph in each consenting tenant: one client-credential
 * credential and one Graph client per tenant, made on first use and kept (the token
 * is cached in front of MSAL, whose own look-up is too slow to run per request).
 */
export class TenantGraphClients {
  readonly #options: TenantGraphClientsOptions;
  readonly #credentials = new Map<string, TokenCredential>();
  readonly #clients = new Map<string, Client>();

  constructor(options: TenantGraphClientsOptions) {
    this.#options = options;
  }

  /** The tenant's credential, whose token cache is shared by every Graph call in the tenant. */
  credential(tenantId: string): TokenCredential {
    let credential = this.#credentials.get(tenantId);
    if (!credential) {
      credential = new CachedTokenCredential(this.newCredential(tenantId));
      this.#credentials.set(tenantId, credential);
    }
    return credential;
  }

  /** A credential with an empty token cache, for when a token must reflect consent as it is now. */
  newCredential(tenantId: string): TokenCredential {
    return new ClientSecretCredential(tenantId, this.#options.clientId, this.#options.clientSecret, {
      authorityHost: this.#options.authorityHost,
      // Instance discovery asks Microsoft's public cloud about the authority; ours is configured.
      disableInstanceDiscovery: true,
    });
  }

  client(tenantId: string): Client {
    let client = this.#clients.get(tenantId);
    if (!client) {
      const credential = this.credential(tenantId);
      client = Client.initWithMiddleware({
        // The SDK's TokenCredentialAuthenticationProvider builds an error object on every request; this is the same without it.
        authProvider: {
          getAccessToken: async () => {
            const token = await credential.getToken(GRAPH_SCOPE);
            if (token) return token.token;
            // Named like @azure/identity's failures, which graphFailure reads as missing consent.
            throw Object.assign(new Error("Entra ID issued no app token for the tenant"), { name: "CredentialUnavailableError" });
          },
        },
        baseUrl: this.#options.graphBaseUrl,
        // Without this the SDK sends no token to a host that is not graph.microsoft.com.
        customHosts: new Set([new URL(this.#options.graphBaseUrl).hostname]),
        defaultVersion: "v1.0",
      });
      this.#clients.set(tenantId, client);
    }
    return client;
  }
}

/** Graph's status codes as our errors; `undefined` for a 404 the caller treats as "absent". */
export function graphFailure(error: unknown, what: string): Error {
  if (error instanceof GraphError) {
    // The SDK reports a failed token acquisition as status -1 with the credential error's name as code.
    if (error.statusCode === -1 && /Credential|Authentication/.test(error.code ?? "")) {
      return new ConsentMissingError(`${what}: no app token for the tenant (${error.code}); the tenant has not consented or is unknown to Entra ID`);
    }
    if (error.statusCode === 404) return new NotFoundError(`${what}: not found in Microsoft Graph`);
    if (error.statusCode === 412) return new PreconditionFailedError(`${what}: changed in Microsoft Graph meanwhile`);
    if (error.statusCode === 401 || error.statusCode === 403) {
      return new ConsentMissingError(
        `${what}: Microsoft Graph refused access (${error.statusCode} ${error.code ?? ""}); consent may be missing or revoked`,
      );
    }
    return new Error(`${what}: Microsoft Graph answered ${error.statusCode} ${error.code ?? ""} ${error.message}`.trim());
  }
  // Token acquisition failures come from @azure/identity with the AADSTS code in the message.
  if (error instanceof Error && /AADSTS\d+/.test(error.message)) {
    const code = /AADSTS\d+/.exec(error.message)?.[0];
    return new ConsentMissingError(`${what}: no app token for the tenant (${code}); the tenant has not consented`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

export function isGraphNotFound(error: unknown): boolean {
  return error instanceof GraphError && error.statusCode === 404;
}
