import { createHash, KeyObject, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { esc, safeHost, signedOutPageHtml, signInPageHtml } from "./signInPage.js";

// Stand-in for Microsoft Entra ID (login.microsoftonline.com) as the product uses it:
// discovery, JWKS, client-credentials tokens, the v2 admin consent endpoint, and a user's
// sign-in to a single-page app (authorization code with PKCE, refresh tokens, logout). Test
// tooling only: it must not import production code, it plays Microsoft's part.

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

export interface EntraIdEmulatorOptions {
  /** Where the emulator is reachable, e.g. `https://127.0.0.1:7443` (it does not listen itself). */
  readonly origin: string;
  /** `expires_in` of tokens from the token endpoint (Entra reports 3599 for ~1 h tokens). */
  readonly accessTokenLifetimeSeconds?: number;
  /** How long an authorization code can be redeemed (Entra: about 10 minutes). */
  readonly authorizationCodeLifetimeSeconds?: number;
  /** Lifetime of a single-page app's refresh tokens (Entra: a fixed 24 hours, never extended by use). */
  readonly refreshTokenLifetimeSeconds?: number;
}

export interface TenantRegistration {
  readonly tenantId: string;
  /** The tenant's initial domain, e.g. `contoso.onmicrosoft.com`; usable in place of the GUID. */
  readonly domain: string;
  readonly displayName: string;
  /** `tenant_region_scope` in discovery and tokens (NA, EU, AS, …). Default NA. */
  readonly region?: string;
}

export interface ApplicationRegistration {
  readonly clientId: string;
  /** Omit for an app that never authenticates itself (e.g. a resource API). */
  readonly clientSecret?: string;
  readonly displayName: string;
  /** Redirect URIs of the "Web" platform (a server redeems the code with its secret, never a browser). */
  readonly redirectUris?: readonly string[];
  /** Redirect URIs of the "Single-page application" platform: codes need PKCE and are redeemed cross-origin (CORS). */
  readonly spaRedirectUris?: readonly string[];
  /** Delegated permissions (scopes) the API exposes, e.g. `access_as_user`, requested as `<appIdUri>/<scope>`. */
  readonly delegatedScopes?: readonly string[];
  /** Microsoft Graph application permissions the app requests (its "required resource access"). */
  readonly requiredApplicationPermissions?: readonly string[];
  /** Makes the app a resource API addressable as `<appIdUri>/.default`. */
  readonly appIdUri?: string;
  /** App roles the resource API defines (assigned to clients with `assignAppRole`). */
  readonly appRoles?: readonly string[];
  /** Entra's `requestedAccessTokenVersion` for this API: null/1 → v1 tokens (the default), 2 → v2. */
  readonly accessTokenVersion?: 1 | 2;
  /** The tenant the app is registered in: it gets a service principal (with no roles) there. */
  readonly homeTenantId?: string;
}

export interface IssueTokenOptions {
  readonly tenantId: string;
  readonly audience: string;
  /** App roles; an empty or missing list gives a token without a `roles` claim, as Entra does. */
  readonly roles?: readonly string[];
  /** The calling app; default: one fixed, emulator-made client id. */
  readonly clientId?: string;
  readonly expiresInSeconds?: number;
  /** Sign with a key the JWKS does not publish (same `kid`), so verification must fail. */
  readonly forged?: boolean;
  /** Token format; default "2.0" (issuer `issuerFor(tenantId)`). */
  readonly version?: "1.0" | "2.0";
}

export interface UserRegistration {
  readonly tenantId: string;
  readonly userPrincipalName: string;
  readonly displayName: string;
  /** Default: derived from the tenant and UPN, so it is the same every run. */
  readonly objectId?: string;
}

export interface EntraUser {
  readonly tenantId: string;
  readonly objectId: string;
  readonly userPrincipalName: string;
  readonly displayName: string;
}

export interface AdminConsentUrlOptions {
  /** Tenant GUID, domain, `organizations` (or `common`). */
  readonly tenant: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly state?: string;
  /** Default `https://graph.microsoft.com/.default`. */
  readonly scope?: string;
}

const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";
const GRAPH_RESOURCE = "https://graph.microsoft.com";
const GRAPH_DEFAULT_SCOPE = `${GRAPH_RESOURCE}/.default`;
// Present in every app-only token Entra issues (a built-in directory role template).
const APP_ONLY_WIDS = ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"];
const GENERIC_TENANTS = new Set(["organizations", "common"]);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_BODY_BYTES = 64 * 1024;

// Display strings for the consent page, as the Entra consent prompt words them.
const GRAPH_PERMISSION_TITLES: Record<string, string> = {
  "Calls.JoinGroupCall.All": "Join group calls and meetings as an app",
  "Calls.JoinGroupCallAsGuest.All": "Join group calls and meetings as a guest",
  "Calls.AccessMedia.All": "Access media streams in a call as an app",
  "Calls.Initiate.All": "Initiate outgoing 1 to 1 calls from the app",
  "Calls.InitiateGroupCall.All": "Initiate outgoing group calls from the app",
  "OnlineMeetings.Read.All": "Read online meeting details",
  "OnlineMeetings.ReadWrite.All": "Read and create online meetings",
  "User.Read.All": "Read all users' full profiles",
};

interface Tenant {
  readonly tenantId: string;
  readonly domain: string;
  readonly displayName: string;
  readonly region: string;
}

interface Application {
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly displayName: string;
  readonly redirectUris: string[];
  readonly spaRedirectUris: string[];
  readonly delegatedScopes: readonly string[];
  readonly requiredApplicationPermissions: readonly string[];
  readonly appIdUri: string | undefined;
  readonly appRoles: readonly string[];
  readonly accessTokenVersion: 1 | 2;
}

/** An app's enterprise application in one tenant, with the app roles granted to it per resource app id. */
interface ServicePrincipal {
  readonly objectId: string;
  readonly roles: Map<string, Set<string>>;
}

interface PublishedKey {
  readonly kid: string;
  readonly privateKey: SigningKey;
  readonly publicJwk: JWK;
}

interface EntraError {
  readonly status: number;
  readonly error: string;
  readonly code: number;
  readonly message: string;
}

type Resource = { readonly kind: "graph"; readonly aud: string } | { readonly kind: "api"; readonly app: Application; readonly aud: string };

interface User extends EntraUser {
  /** App roles per resource app id, as assigned in the user's tenant. */
  readonly roles: Map<string, Set<string>>;
}

/** The resource a user's token is for, and the delegated scopes granted on it. */
interface DelegatedGrant {
  readonly resource: { readonly kind: "graph" } | { readonly kind: "api"; readonly app: Application };
  readonly scopes: readonly string[];
  /** openid, profile, email, offline_access as requested. */
  readonly oidc: ReadonlySet<string>;
}

/** A validated authorization request (what the account picker carries through its form). */
interface AuthorizeRequest {
  readonly tenant: Tenant | undefined;
  readonly app: Application;
  readonly redirectUri: string;
  readonly platform: "spa" | "web";
  readonly responseMode: "query" | "fragment";
  readonly state: string | undefined;
  readonly nonce: string | undefined;
  readonly codeChallenge: string | undefined;
  readonly prompt: string | undefined;
  readonly grant: DelegatedGrant;
}

interface AuthorizationCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly platform: "spa" | "web";
  readonly tenantId: string;
  readonly objectId: string;
  readonly grant: DelegatedGrant;
  readonly nonce: string | undefined;
  readonly codeChallenge: string | undefined;
  readonly sessionId: string;
  readonly expiresAt: number;
  redeemed: boolean;
  /** Refresh tokens issued from this code: revoked if the code is ever replayed (RFC 6749 §4.1.2). */
  readonly refreshTokens: Set<string>;
}

interface RefreshGrant {
  readonly clientId: string;
  readonly platform: "spa" | "web";
  readonly tenantId: string;
  readonly objectId: string;
  readonly grant: DelegatedGrant;
  readonly sessionId: string;
  /** Fixed at the first issue: redeeming a single-page app's refresh token never extends it. */
  readonly expiresAt: number;
}

interface Session {
  readonly tenantId: string;
  readonly objectId: string;
}

type ConsentRequest =
  | { readonly ok: false; readonly page: EntraError }
  | {
      readonly ok: true;
      readonly app: Application;
      readonly redirectUri: string;
      readonly state: string | undefined;
      /** Undefined for `organizations`/`common`: the admin picks one on the page. */
      readonly tenant: Tenant | undefined;
      readonly scope: string | undefined;
    };

export class EntraIdEmulator {
  readonly origin: string;
  /** JWKS valid for every tenant (Entra signs all tenants' tokens with the same keys). */
  readonly jwksUri: string;
  readonly #tokenLifetime: number;
  readonly #tenants = new Map<string, Tenant>();
  readonly #domains = new Map<string, string>();
  readonly #apps = new Map<string, Application>();
  readonly #servicePrincipals = new Map<string, ServicePrincipal>();
  readonly #withheld = new Map<string, Set<string>>();
  readonly #defaultClientId = randomUUID();
  readonly #codeLifetime: number;
  readonly #refreshLifetime: number;
  /** Users by `${tenantId}|${objectId}`. */
  readonly #users = new Map<string, User>();
  readonly #codes = new Map<string, AuthorizationCode>();
  readonly #refreshTokens = new Map<string, RefreshGrant>();
  /** The browser's sign-in session (Entra's ESTSAUTH cookie), by cookie value. */
  readonly #sessions = new Map<string, Session>();
  #keys: PublishedKey[] = [];
  #forgeryKey: SigningKey | undefined;

  constructor(options: EntraIdEmulatorOptions) {
    this.origin = options.origin.replace(/\/+$/, "");
    this.jwksUri = `${this.origin}/common/discovery/v2.0/keys`;
    this.#tokenLifetime = options.accessTokenLifetimeSeconds ?? 3599;
    this.#codeLifetime = options.authorizationCodeLifetimeSeconds ?? 600;
    this.#refreshLifetime = options.refreshTokenLifetimeSeconds ?? 86_400;
  }

  async start(): Promise<void> {
    if (this.#keys.length === 0) await this.rotateSigningKey();
    this.#forgeryKey ??= (await generateKeyPair("RS256")).privateKey;
  }

  /** Publishes a new signing key and signs with it from now on; older keys stay in the JWKS (as during Entra's rollover). */
  async rotateSigningKey(): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    // Entra's kid is the x5t (SHA-1 thumbprint) of the key's certificate; without a certificate, hash the public key.
    const spki = KeyObject.from(publicKey).export({ type: "spki", format: "der" });
    const kid = createHash("sha1").update(spki).digest("base64url");
    const publicJwk: JWK = { kty: "RSA", use: "sig", kid, x5t: kid, ...pick(await exportJWK(publicKey), "n", "e") };
    this.#keys = [{ kid, privateKey, publicJwk }, ...this.#keys];
    return kid;
  }

  // ---- Controls -------------------------------------------------------------------------------

  addTenant(tenant: TenantRegistration): void {
    const tenantId = requireGuid(tenant.tenantId, "tenantId");
    const domain = tenant.domain.toLowerCase();
    const owner = this.#domains.get(domain);
    if (owner && owner !== tenantId) throw new Error(`domain ${domain} already belongs to tenant ${owner}`);
    this.#tenants.set(tenantId, { tenantId, domain, displayName: tenant.displayName, region: tenant.region ?? "NA" });
    this.#domains.set(domain, tenantId);
  }

  registerApplication(registration: ApplicationRegistration): void {
    const clientId = requireGuid(registration.clientId, "clientId");
    if (registration.appIdUri && [...this.#apps.values()].some((a) => a.appIdUri === registration.appIdUri && a.clientId !== clientId)) {
      throw new Error(`app ID URI ${registration.appIdUri} is already in use`);
    }
    // The registration portal refuses a malformed redirect URI; so does the emulator, before anything redirects to one.
    for (const uri of [...(registration.redirectUris ?? []), ...(registration.spaRedirectUris ?? [])]) {
      if (!URL.canParse(uri)) throw new Error(`redirect URI ${uri} is not an absolute URL`);
    }
    this.#apps.set(clientId, {
      clientId,
      clientSecret: registration.clientSecret,
      displayName: registration.displayName,
      redirectUris: [...(registration.redirectUris ?? [])],
      spaRedirectUris: [...(registration.spaRedirectUris ?? [])],
      delegatedScopes: [...(registration.delegatedScopes ?? [])],
      requiredApplicationPermissions: [...(registration.requiredApplicationPermissions ?? [])],
      appIdUri: registration.appIdUri,
      appRoles: [...(registration.appRoles ?? [])],
      accessTokenVersion: registration.accessTokenVersion ?? 1,
    });
    if (registration.homeTenantId) this.#ensureServicePrincipal(this.#requireTenant(registration.homeTenantId).tenantId, clientId);
  }

  /** Records an admin's consent in a tenant: the app gets a service principal there with these Graph roles (default: all it requests). */
  grantConsent(tenantId: string, clientId: string, roles?: readonly string[]): void {
    const tenant = this.#requireTenant(tenantId);
    const app = this.#requireApp(clientId);
    const sp = this.#ensureServicePrincipal(tenant.tenantId, app.clientId);
    sp.roles.set(GRAPH_APP_ID, new Set(roles ?? app.requiredApplicationPermissions));
  }

  /** From now on an Accept on the consent page in this tenant grants all requested permissions but these ([] clears). */
  withholdPermissions(tenantId: string, clientId: string, roles: readonly string[]): void {
    const key = spKey(this.#requireTenant(tenantId).tenantId, this.#requireApp(clientId).clientId);
    this.#withheld.set(key, new Set(roles));
  }

  /** Removes the Graph roles consent granted; the service principal stays, so tokens still come, without `roles`. */
  revokeConsent(tenantId: string, clientId: string): void {
    const sp = this.#servicePrincipals.get(spKey(this.#requireTenant(tenantId).tenantId, this.#requireApp(clientId).clientId));
    sp?.roles.delete(GRAPH_APP_ID);
  }

  /** Deletes the app's enterprise application in a tenant (as if the tenant removed the app): tokens fail with AADSTS700016. */
  removeServicePrincipal(tenantId: string, clientId: string): void {
    this.#servicePrincipals.delete(spKey(this.#requireTenant(tenantId).tenantId, this.#requireApp(clientId).clientId));
  }

  /** Assigns one of a resource API's app roles to a client in a tenant (creating both service principals as needed). */
  assignAppRole(tenantId: string, resourceAppIdUri: string, clientId: string, role: string): void {
    const tenant = this.#requireTenant(tenantId);
    const resource = [...this.#apps.values()].find((a) => a.appIdUri === resourceAppIdUri || a.clientId === resourceAppIdUri.toLowerCase());
    if (!resource) throw new Error(`no application has app ID URI ${resourceAppIdUri}`);
    if (!resource.appRoles.includes(role)) throw new Error(`${resourceAppIdUri} defines no app role ${role}`);
    const client = this.#requireApp(clientId);
    this.#ensureServicePrincipal(tenant.tenantId, resource.clientId);
    const sp = this.#ensureServicePrincipal(tenant.tenantId, client.clientId);
    const roles = sp.roles.get(resource.clientId) ?? new Set<string>();
    roles.add(role);
    sp.roles.set(resource.clientId, roles);
  }

  /** The Graph application permissions the tenant has granted the app, sorted ([] when none or no service principal). */
  consentedRoles(tenantId: string, clientId: string): string[] {
    const sp = this.#servicePrincipals.get(spKey(this.#requireTenant(tenantId).tenantId, this.#requireApp(clientId).clientId));
    return [...(sp?.roles.get(GRAPH_APP_ID) ?? [])].sort();
  }

  hasServicePrincipal(tenantId: string, clientId: string): boolean {
    return this.#servicePrincipals.has(spKey(this.#requireTenant(tenantId).tenantId, clientId.toLowerCase()));
  }

  /** Adds a user (a member of the tenant) who can sign in on the account picker. */
  addUser(registration: UserRegistration): EntraUser {
    const tenant = this.#requireTenant(registration.tenantId);
    const objectId = registration.objectId
      ? requireGuid(registration.objectId, "objectId")
      : stableGuid(`${tenant.tenantId}|${registration.userPrincipalName.toLowerCase()}`);
    const user: User = {
      tenantId: tenant.tenantId,
      objectId,
      userPrincipalName: registration.userPrincipalName,
      displayName: registration.displayName,
      roles: new Map(),
    };
    this.#users.set(`${tenant.tenantId}|${objectId}`, user);
    return publicUser(user);
  }

  /** The users of one tenant (or of all), in the order they were added. */
  users(tenantId?: string): EntraUser[] {
    const tid = tenantId === undefined ? undefined : this.#requireTenant(tenantId).tenantId;
    return [...this.#users.values()].filter((u) => tid === undefined || u.tenantId === tid).map(publicUser);
  }

  /** Assigns one of a resource API's app roles to a user of a tenant (the API gets a service principal there); it shows in the user's access tokens for that API. */
  assignUserAppRole(tenantId: string, resourceAppIdUri: string, userObjectId: string, role: string): void {
    const tenant = this.#requireTenant(tenantId);
    const resource = [...this.#apps.values()].find((a) => a.appIdUri === resourceAppIdUri || a.clientId === resourceAppIdUri.toLowerCase());
    if (!resource) throw new Error(`no application has app ID URI ${resourceAppIdUri}`);
    if (!resource.appRoles.includes(role)) throw new Error(`${resourceAppIdUri} defines no app role ${role}`);
    const user = this.#users.get(`${tenant.tenantId}|${userObjectId.toLowerCase()}`);
    if (!user) throw new Error(`tenant ${tenant.tenantId} has no user ${userObjectId}: addUser() it first`);
    this.#ensureServicePrincipal(tenant.tenantId, resource.clientId);
    const roles = user.roles.get(resource.clientId) ?? new Set<string>();
    roles.add(role);
    user.roles.set(resource.clientId, roles);
  }

  /** Registers one more redirect URI for an app (e.g. a test page's, known only once it listens). */
  addRedirectUri(clientId: string, redirectUri: string, platform: "spa" | "web"): void {
    const app = this.#requireApp(clientId);
    if (!URL.canParse(redirectUri)) throw new Error(`redirect URI ${redirectUri} is not an absolute URL`);
    const list = platform === "spa" ? app.spaRedirectUris : app.redirectUris;
    if (!list.includes(redirectUri)) list.push(redirectUri);
  }

  /** The v2 authorize endpoint of a tenant (GUID, domain, `organizations` or `common`). */
  authorizeEndpoint(tenant: string): string {
    return `${this.origin}/${encodeURIComponent(tenant)}/oauth2/v2.0/authorize`;
  }

  tokenEndpoint(tenant: string): string {
    return `${this.origin}/${encodeURIComponent(tenant)}/oauth2/v2.0/token`;
  }

  /** The `iss` of this tenant's tokens (a domain resolves to the GUID): v2 `${origin}/{tid}/v2.0` (the discovery document's issuer), v1 `https://sts.windows.net/{tid}/`. */
  issuerFor(tenantId: string, version: "1.0" | "2.0" = "2.0"): string {
    const tid = this.#resolveTenant(tenantId)?.tenantId ?? tenantId.toLowerCase();
    return version === "1.0" ? `https://sts.windows.net/${tid}/` : `${this.origin}/${tid}/v2.0`;
  }

  openIdConfigurationUrl(tenant: string): string {
    return `${this.origin}/${encodeURIComponent(tenant)}/v2.0/.well-known/openid-configuration`;
  }

  adminConsentUrl(options: AdminConsentUrlOptions): string {
    const url = new URL(`${this.origin}/${encodeURIComponent(options.tenant)}/v2.0/adminconsent`);
    url.searchParams.set("client_id", options.clientId);
    url.searchParams.set("scope", options.scope ?? GRAPH_DEFAULT_SCOPE);
    url.searchParams.set("redirect_uri", options.redirectUri);
    if (options.state !== undefined) url.searchParams.set("state", options.state);
    return url.href;
  }

  /** Mints an app-only access token directly (no consent checks), e.g. for the admin API. */
  async issueToken(options: IssueTokenOptions): Promise<string> {
    const tenant = this.#requireTenant(options.tenantId);
    const clientId = options.clientId?.toLowerCase() ?? this.#defaultClientId;
    const objectId = this.#servicePrincipals.get(spKey(tenant.tenantId, clientId))?.objectId ?? stableGuid(`${tenant.tenantId}|${clientId}`);
    return this.#sign(
      this.#appOnlyClaims({
        tenant,
        clientId,
        appDisplayName: this.#apps.get(clientId)?.displayName,
        objectId,
        aud: options.audience,
        roles: options.roles ?? [],
        version: options.version ?? "2.0",
      }),
      options.expiresInSeconds ?? this.#tokenLifetime,
      options.forged ?? false,
    );
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  /** Serves the emulator's paths; returns false (touching nothing) for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? "/", this.origin);
    const match = /^\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!match) return false;
    let tenantSegment: string;
    try {
      tenantSegment = decodeURIComponent(match[1]!);
    } catch {
      return false;
    }
    const route = ROUTES[match[2]!];
    if (!route) return false;
    const method = req.method ?? "GET";
    const origin = req.headers.origin;
    if (route.kind === "token" && origin) {
      // Single-page apps redeem codes with fetch from their own origin: the token endpoint answers cross-origin.
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "Origin");
      if (method === "OPTIONS") {
        const requested = req.headers["access-control-request-headers"];
        res.writeHead(204, {
          "access-control-allow-methods": "POST, OPTIONS",
          ...(typeof requested === "string" ? { "access-control-allow-headers": requested } : {}),
          "access-control-max-age": "86400",
        });
        res.end();
        return true;
      }
    }
    try {
      if (method !== route.method && !(route.method === "GET" && method === "HEAD")) {
        if (route.kind === "token") {
          this.#sendError(req, res, {
            status: 400,
            error: "invalid_request",
            code: 900561,
            message: `The endpoint only accepts POST, OPTIONS requests. Received a ${method} request.`,
          });
        } else {
          res.writeHead(405, { allow: route.method, "content-type": "text/plain; charset=utf-8" }).end("Method Not Allowed");
        }
        return true;
      }
      switch (route.kind) {
        case "discovery-v2":
        case "discovery-v1":
          this.#serveDiscovery(req, res, tenantSegment, route.kind === "discovery-v2" ? "2.0" : "1.0");
          break;
        case "keys-v2":
        case "keys-v1":
          this.#serveKeys(req, res, tenantSegment, route.kind === "keys-v2");
          break;
        case "token":
          await this.#serveToken(req, res, tenantSegment);
          break;
        case "consent":
          sendReply(res, this.#consentPageReply(req, tenantSegment, url.searchParams));
          break;
        case "consent-decision":
          sendReply(res, this.#consentDecisionReply(tenantSegment, await readForm(req)));
          break;
        case "authorize":
          sendReply(res, this.#authorizeReply(req, tenantSegment, url.searchParams));
          break;
        case "login":
          sendReply(res, await this.#loginReply(req, tenantSegment, await readForm(req)));
          break;
        case "logout":
          sendReply(res, this.#logoutReply(req, url.searchParams));
          break;
      }
    } catch (e) {
      if (!res.headersSent) {
        const tooLarge = e instanceof BodyTooLargeError;
        this.#sendError(req, res, {
          status: tooLarge ? 413 : 500,
          error: tooLarge ? "invalid_request" : "server_error",
          code: tooLarge ? 90015 : 90033,
          message: tooLarge ? "The request body is too large." : `The emulator failed: ${e instanceof Error ? e.message : String(e)}`,
        });
      } else {
        res.destroy();
      }
    }
    return true;
  }

  #serveDiscovery(req: IncomingMessage, res: ServerResponse, tenantSegment: string, version: "1.0" | "2.0"): void {
    const generic = GENERIC_TENANTS.has(tenantSegment.toLowerCase());
    const tenant = generic ? undefined : this.#resolveTenant(tenantSegment);
    if (!generic && !tenant) {
      this.#sendError(req, res, tenantNotFound(tenantSegment, "invalid_tenant"));
      return;
    }
    // Like Entra: a domain resolves to the tenant GUID in every endpoint; generic tenants keep their name and a {tenantid} issuer.
    const t = tenant?.tenantId ?? tenantSegment.toLowerCase();
    const o = this.origin;
    const body =
      version === "2.0"
        ? {
            token_endpoint: `${o}/${t}/oauth2/v2.0/token`,
            token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            jwks_uri: `${o}/${t}/discovery/v2.0/keys`,
            response_modes_supported: ["query", "fragment", "form_post"],
            subject_types_supported: ["pairwise"],
            id_token_signing_alg_values_supported: ["RS256"],
            response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
            scopes_supported: ["openid", "profile", "email", "offline_access"],
            issuer: tenant ? this.issuerFor(tenant.tenantId) : `${o}/{tenantid}/v2.0`,
            request_uri_parameter_supported: false,
            userinfo_endpoint: "https://graph.microsoft.com/oidc/userinfo",
            authorization_endpoint: `${o}/${t}/oauth2/v2.0/authorize`,
            device_authorization_endpoint: `${o}/${t}/oauth2/v2.0/devicecode`,
            http_logout_supported: true,
            frontchannel_logout_supported: true,
            end_session_endpoint: `${o}/${t}/oauth2/v2.0/logout`,
            claims_supported: [
              ...["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat"],
              ...["auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            ],
            kerberos_endpoint: `${o}/${t}/kerberos`,
            tenant_region_scope: tenant?.region ?? null,
            cloud_instance_name: "microsoftonline.com",
            cloud_graph_host_name: "graph.windows.net",
            msgraph_host: "graph.microsoft.com",
            rbac_url: "https://pas.windows.net",
          }
        : {
            token_endpoint: `${o}/${t}/oauth2/token`,
            token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            jwks_uri: `${o}/common/discovery/keys`,
            response_modes_supported: ["query", "fragment", "form_post"],
            subject_types_supported: ["pairwise"],
            id_token_signing_alg_values_supported: ["RS256"],
            response_types_supported: ["code", "id_token", "code id_token", "token id_token", "token"],
            scopes_supported: ["openid"],
            issuer: tenant ? this.issuerFor(tenant.tenantId, "1.0") : "https://sts.windows.net/{tenantid}/",
            microsoft_multi_refresh_token: true,
            authorization_endpoint: `${o}/${t}/oauth2/authorize`,
            device_authorization_endpoint: `${o}/${t}/oauth2/devicecode`,
            http_logout_supported: true,
            frontchannel_logout_supported: true,
            end_session_endpoint: `${o}/${t}/oauth2/logout`,
            claims_supported: ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud"],
            check_session_iframe: `${o}/${t}/oauth2/checksession`,
            userinfo_endpoint: `${o}/${t}/openid/userinfo`,
            kerberos_endpoint: `${o}/${t}/kerberos`,
            tenant_region_scope: tenant?.region ?? null,
            cloud_instance_name: "microsoftonline.com",
            cloud_graph_host_name: "graph.windows.net",
            msgraph_host: "graph.microsoft.com",
            rbac_url: "https://pas.windows.net",
          };
    sendJson(res, 200, body, { "access-control-allow-origin": "*", "cache-control": "max-age=86400, private" });
  }

  #serveKeys(req: IncomingMessage, res: ServerResponse, tenantSegment: string, v2: boolean): void {
    const generic = GENERIC_TENANTS.has(tenantSegment.toLowerCase());
    const tenant = generic ? undefined : this.#resolveTenant(tenantSegment);
    if (!generic && !tenant) {
      this.#sendError(req, res, tenantNotFound(tenantSegment, "invalid_tenant"));
      return;
    }
    this.#requireStarted();
    // v2 key sets name the issuer each key signs for; v1 ones do not.
    const issuer = tenant ? this.issuerFor(tenant.tenantId) : `${this.origin}/{tenantid}/v2.0`;
    const keys = this.#keys.map((k) => (v2 ? { ...k.publicJwk, issuer } : k.publicJwk));
    sendJson(res, 200, { keys }, { "access-control-allow-origin": "*", "cache-control": "max-age=86400, private" });
  }

  async #serveToken(req: IncomingMessage, res: ServerResponse, tenantSegment: string): Promise<void> {
    const form = await readForm(req);
    const grantType = form.get("grant_type");
    if (grantType === "authorization_code" || grantType === "refresh_token") {
      const issued =
        grantType === "authorization_code"
          ? await this.#redeemCode(req, tenantSegment, form)
          : await this.#redeemRefreshToken(req, tenantSegment, form);
      if ("code" in issued) this.#sendError(req, res, issued);
      else sendJson(res, 200, issued.body, { ...traceHeaders(req), "cache-control": "no-store, no-cache", pragma: "no-cache" });
      return;
    }
    const outcome = await this.#clientCredentials(req, tenantSegment, form);
    if ("code" in outcome) {
      this.#sendError(req, res, outcome);
      return;
    }
    sendJson(
      res,
      200,
      { token_type: "Bearer", expires_in: this.#tokenLifetime, ext_expires_in: this.#tokenLifetime, access_token: outcome.accessToken },
      { ...traceHeaders(req), "cache-control": "no-store, no-cache", pragma: "no-cache" },
    );
  }

  /** The client-credentials grant, checked in Entra's order: tenant, grant, client, secret, scope, resource. */
  async #clientCredentials(req: IncomingMessage, tenantSegment: string, form: URLSearchParams): Promise<EntraError | { accessToken: string }> {
    if (GENERIC_TENANTS.has(tenantSegment.toLowerCase())) {
      return {
        status: 400,
        error: "invalid_request",
        code: 50059,
        message: "No tenant-identifying information found in either the request or implied by any provided credentials.",
      };
    }
    const tenant = this.#resolveTenant(tenantSegment);
    if (!tenant) return tenantNotFound(tenantSegment, "invalid_request");

    const grantType = form.get("grant_type");
    if (!grantType) return missingParameter("grant_type");
    if (grantType !== "client_credentials") {
      return {
        status: 400,
        error: "unsupported_grant_type",
        code: 70003,
        message: `The app requested an unsupported grant type '${grantType}'.`,
      };
    }

    const basic = parseBasicAuth(req.headers.authorization);
    const clientId = (form.get("client_id") ?? basic?.clientId)?.toLowerCase();
    if (!clientId) return missingParameter("client_id");
    const app = this.#apps.get(clientId);
    const sp = this.#servicePrincipals.get(spKey(tenant.tenantId, clientId));
    if (!app || !sp) return appNotFound(clientId, tenant.displayName, "unauthorized_client");

    const secret = form.get("client_secret") ?? basic?.secret;
    if (form.has("client_assertion")) {
      // No certificates are ever registered here, so any assertion names an unknown one.
      return {
        status: 401,
        error: "invalid_client",
        code: 700027,
        message: "The certificate with identifier used to sign the client assertion is not registered on application.",
      };
    }
    if (!secret) {
      return {
        status: 401,
        error: "invalid_client",
        code: 7000218,
        message: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      };
    }
    if (!app.clientSecret || !secretsEqual(secret, app.clientSecret)) {
      return {
        status: 401,
        error: "invalid_client",
        code: 7000215,
        message: `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
      };
    }

    const scopeParam = form.get("scope");
    const scopes = (scopeParam ?? "").split(" ").filter(Boolean);
    if (scopes.length === 0) return missingParameter("scope");
    if (scopes.length > 1) {
      return {
        status: 400,
        error: "invalid_scope",
        code: 70011,
        message: `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scopes.join(" ")} is not valid.`,
      };
    }
    const scope = scopes[0]!;
    if (!scope.endsWith("/.default")) {
      return {
        status: 400,
        error: "invalid_scope",
        code: 1002012,
        message: `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      };
    }
    const resourceId = scope.slice(0, -"/.default".length).replace(/\/+$/, "");
    const resource = this.#resolveResource(resourceId, tenant.tenantId);
    if (!resource) {
      return {
        status: 400,
        error: "invalid_resource",
        code: 500011,
        message: `The resource principal named ${resourceId} was not found in the tenant named ${tenant.displayName}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      };
    }

    const resourceAppId = resource.kind === "graph" ? GRAPH_APP_ID : resource.app.clientId;
    // Graph always issues v1 tokens; an API gets the version it asked for, and in v2 its aud is its client id.
    const version = resource.kind === "api" && resource.app.accessTokenVersion === 2 ? "2.0" : "1.0";
    const aud = version === "2.0" && resource.kind === "api" ? resource.app.clientId : resource.aud;
    const accessToken = await this.#sign(
      this.#appOnlyClaims({
        tenant,
        clientId: app.clientId,
        appDisplayName: app.displayName,
        objectId: sp.objectId,
        aud,
        roles: [...(sp.roles.get(resourceAppId) ?? [])].sort(),
        version,
      }),
      this.#tokenLifetime,
      false,
    );
    return { accessToken };
  }

  #consentPageReply(req: IncomingMessage, tenantSegment: string, query: URLSearchParams): Reply {
    const request = this.#validateConsentRequest(tenantSegment, query);
    if (!request.ok) return { status: request.page.status, html: errorPage(request.page, req) };
    const scopeError = consentScopeError(request.scope);
    if (scopeError) return { location: callbackUrl(request.redirectUri, { ...scopeError, state: request.state }) };
    return { status: 200, html: this.#consentPage(tenantSegment, request.app, request.redirectUri, request.state, request.scope!, request.tenant) };
  }

  #consentDecisionReply(tenantSegment: string, form: URLSearchParams): Reply {
    const request = this.#validateConsentRequest(tenantSegment, form);
    // Re-checked on the POST too: a decision never redirects anywhere the app did not register.
    if (!request.ok) return { status: request.page.status, html: errorPage(request.page) };
    const { app, redirectUri, state } = request;
    const decision = form.get("decision");
    if (decision === "cancel") {
      const error_description = "AADSTS65004: User declined to consent to access the app.";
      return { location: callbackUrl(redirectUri, { error: "access_denied", error_description, state }) };
    }
    const scopeError = consentScopeError(request.scope);
    if (scopeError) return { location: callbackUrl(redirectUri, { ...scopeError, state }) };
    if (decision !== "accept") return { status: 400, html: errorPage(missingParameter("decision")) };
    const chosen = request.tenant ?? this.#resolveTenant(form.get("tenant") ?? "");
    if (!chosen) {
      const problem = "Choose the organization you are an administrator of.";
      return { status: 400, html: this.#consentPage(tenantSegment, app, redirectUri, state, request.scope!, undefined, problem) };
    }
    const sp = this.#ensureServicePrincipal(chosen.tenantId, app.clientId);
    const withheld = this.#withheld.get(spKey(chosen.tenantId, app.clientId)) ?? new Set<string>();
    // Consent adds to what the tenant already granted; it never takes a permission away.
    const roles = sp.roles.get(GRAPH_APP_ID) ?? new Set<string>();
    for (const role of app.requiredApplicationPermissions) if (!withheld.has(role)) roles.add(role);
    sp.roles.set(GRAPH_APP_ID, roles);
    return { location: callbackUrl(redirectUri, { admin_consent: "True", tenant: chosen.tenantId, scope: request.scope, state }) };
  }

  #validateConsentRequest(tenantSegment: string, params: URLSearchParams): ConsentRequest {
    const generic = GENERIC_TENANTS.has(tenantSegment.toLowerCase());
    const tenant = generic ? undefined : this.#resolveTenant(tenantSegment);
    if (!generic && !tenant) return { ok: false, page: tenantNotFound(tenantSegment, "invalid_tenant") };
    const clientId = params.get("client_id")?.toLowerCase();
    if (!clientId) return { ok: false, page: missingParameter("client_id") };
    const app = this.#apps.get(clientId);
    if (!app) return { ok: false, page: appNotFound(clientId, tenant?.displayName ?? tenantSegment, "unauthorized_client") };
    const redirectUri = params.get("redirect_uri") ?? "";
    if (!app.redirectUris.includes(redirectUri)) {
      return {
        ok: false,
        page: {
          status: 400,
          error: "invalid_request",
          code: 50011,
          message: `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${app.clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.`,
        },
      };
    }
    return { ok: true, app, redirectUri, state: params.get("state") ?? undefined, tenant, scope: params.get("scope") ?? undefined };
  }

  #consentPage(
    tenantSegment: string,
    app: Application,
    redirectUri: string,
    state: string | undefined,
    scope: string,
    tenant: Tenant | undefined,
    problem?: string,
  ): string {
    const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${esc(value)}">`;
    const tenantField = tenant
      ? `${hidden("tenant", tenant.tenantId)}<p class="org">Accepting for <strong>${esc(tenant.displayName)}</strong> <span class="muted">(${esc(tenant.domain)})</span></p>`
      : `<label class="org" for="tenant">Organization you are an administrator of</label>
      <select id="tenant" name="tenant" required>
        <option value="">Choose an organization…</option>
        ${[...this.#tenants.values()].map((t) => `<option value="${esc(t.tenantId)}">${esc(t.displayName)} (${esc(t.domain)})</option>`).join("\n        ")}
      </select>`;
    const permissions = app.requiredApplicationPermissions.length
      ? `<ul class="perms">
        ${app.requiredApplicationPermissions
          .map((p) => `<li data-permission="${esc(p)}"><span>${esc(GRAPH_PERMISSION_TITLES[p] ?? p)}</span><code>${esc(p)}</code></li>`)
          .join("\n        ")}
      </ul>`
      : `<p class="muted">This app requests no application permissions.</p>`;
    return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Permissions requested – ${esc(app.displayName)}</title>
<style>
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f2f2f2; font: 15px/1.45 "Segoe UI", system-ui, sans-serif; color: #1b1b1b; }
  main { width: min(440px, 92vw); background: #fff; box-shadow: 0 2px 6px rgba(0,0,0,.2); padding: 36px 44px; box-sizing: border-box; }
  .brand { font-weight: 600; color: #737373; margin: 0 0 16px; } .brand em { font-style: normal; font-weight: 400; font-size: 12px; border: 1px solid #ccc; padding: 0 4px; margin-left: 6px; }
  h1 { font-size: 24px; font-weight: 600; margin: 0 0 12px; } .muted { color: #616161; font-size: 13px; }
  .app { margin: 0 0 16px; } .org { display: block; margin: 12px 0 6px; } select { width: 100%; padding: 6px; font: inherit; }
  .perms { list-style: none; padding: 0; margin: 8px 0 16px; } .perms li { padding: 8px 0; border-bottom: 1px solid #eee; display: flex; flex-direction: column; }
  .perms code { font-size: 12px; color: #616161; } .problem { color: #a80000; font-weight: 600; }
  .actions { display: flex; flex-direction: row-reverse; gap: 8px; margin-top: 20px; }
  button { min-width: 108px; padding: 6px 12px; font: inherit; border: 1px solid #8a8a8a; background: #ccc; cursor: pointer; } button.primary { background: #0067b8; border-color: #0067b8; color: #fff; }
</style>
</head>
<body>
<main>
  <p class="brand">Microsoft Entra ID<em>emulator</em></p>
  <h1>Permissions requested</h1>
  <p class="app"><strong id="app-name">${esc(app.displayName)}</strong><br><span class="muted">App ID ${esc(app.clientId)} · replies to ${esc(safeHost(redirectUri))}</span></p>
  <form method="post" action="/${esc(encodeURIComponent(tenantSegment))}/v2.0/adminconsent/decision">
    ${hidden("client_id", app.clientId)}
    ${hidden("redirect_uri", redirectUri)}
    ${hidden("scope", scope)}
    ${state === undefined ? "" : hidden("state", state)}
    ${problem ? `<p class="problem" role="alert">${esc(problem)}</p>` : ""}
    ${tenantField}
    <p>This app would like to (without a signed-in user):</p>
    ${permissions}
    <p class="muted">Accepting grants these permissions to the app for your whole organization. Cancel grants nothing.</p>
    <div class="actions">
      <button type="submit" name="decision" value="accept" class="primary">Accept</button>
      <button type="submit" name="decision" value="cancel" formnovalidate>Cancel</button>
    </div>
  </form>
</main>
</body>
</html>
`;
  }

  // ---- User sign-in (authorization code + PKCE) ---------------------------------------------------

  #authorizeReply(req: IncomingMessage, tenantSegment: string, query: URLSearchParams): Reply {
    const parsed = this.#validateAuthorizeRequest(tenantSegment, query);
    if ("page" in parsed) return { status: parsed.page.status, html: errorPage(parsed.page, req) };
    if ("redirect" in parsed) return { location: parsed.redirect };
    const request = parsed.request;
    const session = this.#session(req);
    const sessionUser = session ? this.#users.get(`${session.tenantId}|${session.objectId}`) : undefined;
    const inTenant = (u: User | undefined) => u !== undefined && (request.tenant === undefined || u.tenantId === request.tenant.tenantId);
    if (request.prompt === "none") {
      // A silent request (MSAL's hidden iframe) succeeds only on the browser's session, never shows a page.
      if (!sessionUser || !inTenant(sessionUser) || !session) {
        const error_description = "AADSTS50058: A silent sign-in request was sent but no user is signed in.";
        return { location: authorizeResponseUrl(request, { error: "login_required", error_description, state: request.state }) };
      }
      const issued = this.#issueCode(request, sessionUser, session.id);
      return "page" in issued ? { status: issued.page.status, html: errorPage(issued.page, req) } : { location: issued.location };
    }
    // Every interactive prompt shows the picker (login_hint's account preselected, else the session's), so a test can switch accounts.
    const hint = query.get("login_hint")?.toLowerCase();
    const hinted = hint ? [...this.#users.values()].find((u) => u.userPrincipalName.toLowerCase() === hint && inTenant(u)) : undefined;
    const selected = hinted ?? (inTenant(sessionUser) ? sessionUser : undefined);
    return { status: 200, html: this.#signInPage(tenantSegment, request, query, selected?.objectId) };
  }

  async #loginReply(req: IncomingMessage, tenantSegment: string, form: URLSearchParams): Promise<Reply> {
    // The form carries the authorization request: everything is checked again, the redirect URI first.
    const parsed = this.#validateAuthorizeRequest(tenantSegment, form);
    if ("page" in parsed) return { status: parsed.page.status, html: errorPage(parsed.page, req) };
    if ("redirect" in parsed) return { location: parsed.redirect };
    const request = parsed.request;
    const user = [...this.#users.values()].find(
      (u) => u.objectId === form.get("account")?.toLowerCase() && (request.tenant === undefined || u.tenantId === request.tenant.tenantId),
    );
    if (!user) {
      return { status: 400, html: this.#signInPage(tenantSegment, request, form, undefined, "Pick one of this organization's accounts.") };
    }
    const sessionId = randomOpaque();
    this.#sessions.set(sessionId, { tenantId: user.tenantId, objectId: user.objectId });
    const issued = this.#issueCode(request, user, sessionId);
    if ("page" in issued) return { status: issued.page.status, html: errorPage(issued.page, req) };
    // Entra's ESTSAUTH: the browser's session with the identity provider, what a later prompt=none rides on.
    return { location: issued.location, setCookie: `${SESSION_COOKIE}=${sessionId}; Path=/; Secure; HttpOnly; SameSite=None` };
  }

  #logoutReply(req: IncomingMessage, query: URLSearchParams): Reply {
    const session = this.#session(req);
    if (session) this.#sessions.delete(session.id);
    const clear = `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=0`;
    const target = query.get("post_logout_redirect_uri");
    const clientId = query.get("client_id")?.toLowerCase();
    // Only back to a URI an app registered (the client's, when it names itself): never an open redirect.
    const apps = clientId ? [this.#apps.get(clientId)].filter((a) => a !== undefined) : [...this.#apps.values()];
    if (target && apps.some((a) => a.spaRedirectUris.includes(target) || a.redirectUris.includes(target))) {
      const url = new URL(target);
      const state = query.get("state");
      if (state !== null) url.searchParams.set("state", state);
      return { location: url.href, setCookie: clear };
    }
    return { status: 200, html: signedOutPageHtml(), setCookie: clear };
  }

  #signInPage(tenantSegment: string, request: AuthorizeRequest, params: URLSearchParams, selected?: string, problem?: string): string {
    const carried = new Map<string, string>();
    for (const name of AUTHORIZE_PARAMETERS) {
      const value = params.get(name);
      if (value !== null) carried.set(name, value);
    }
    const accounts = [...this.#users.values()]
      .filter((u) => request.tenant === undefined || u.tenantId === request.tenant.tenantId)
      .map((u) => ({ ...u, tenantDisplayName: this.#tenants.get(u.tenantId)?.displayName ?? u.tenantId }));
    return signInPageHtml({
      tenantSegment,
      appDisplayName: request.app.displayName,
      redirectUri: request.redirectUri,
      request: carried,
      accounts,
      ...(selected ? { selected } : {}),
      ...(problem ? { problem } : {}),
    });
  }

  /**
   * Checks an authorization request in Entra's order: what decides where to answer (tenant,
   * client, redirect URI: an error page when wrong, never a redirect), then the rest (errors
   * go back to the app's redirect URI).
   */
  #validateAuthorizeRequest(
    tenantSegment: string,
    params: URLSearchParams,
  ): { readonly page: EntraError } | { readonly redirect: string } | { readonly request: AuthorizeRequest } {
    const generic = GENERIC_TENANTS.has(tenantSegment.toLowerCase());
    const tenant = generic ? undefined : this.#resolveTenant(tenantSegment);
    if (!generic && !tenant) return { page: tenantNotFound(tenantSegment, "invalid_tenant") };
    const clientId = params.get("client_id")?.toLowerCase();
    if (!clientId) return { page: missingParameter("client_id") };
    const app = this.#apps.get(clientId);
    if (!app) return { page: appNotFound(clientId, tenant?.displayName ?? tenantSegment, "unauthorized_client") };
    const redirectUri = params.get("redirect_uri") ?? "";
    const platform = app.spaRedirectUris.includes(redirectUri) ? "spa" : app.redirectUris.includes(redirectUri) ? "web" : undefined;
    if (!platform) return { page: redirectUriMismatch(redirectUri, app.clientId) };

    const state = params.get("state") ?? undefined;
    const mode = params.get("response_mode") ?? "query";
    const responseMode = mode === "fragment" ? "fragment" : "query";
    const fail = (error: string, code: number, message: string) => ({
      redirect: authorizeResponseUrl({ redirectUri, responseMode }, { error, error_description: `AADSTS${code}: ${message}`, state }),
    });
    if (mode !== "query" && mode !== "fragment") {
      // form_post needs a self-submitting page (script); MSAL.js never asks for it.
      return fail("invalid_request", 900144, `The emulator answers with response_mode query or fragment only, not '${mode}'.`);
    }
    const responseType = params.get("response_type");
    if (!responseType) return fail("invalid_request", 900144, "The request body must contain the following parameter: 'response_type'.");
    if (responseType !== "code") {
      return fail("unsupported_response_type", 700054, `response_type '${responseType}' is not enabled for the application.`);
    }
    const scope = params.get("scope");
    if (!scope) return fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.");
    const grant = this.#parseDelegatedScopes(scope);
    if ("code" in grant) return fail(grant.error, grant.code, grant.message);
    if (grant.resource.kind === "api" && tenant && !this.#servicePrincipals.has(spKey(tenant.tenantId, grant.resource.app.clientId))) {
      return fail("invalid_resource", 500011, resourceNotFound(grant.resource.app.appIdUri ?? grant.resource.app.clientId, tenant.displayName));
    }
    const codeChallenge = params.get("code_challenge") ?? undefined;
    const method = params.get("code_challenge_method") ?? (codeChallenge ? "plain" : undefined);
    if (platform === "spa" && !codeChallenge) {
      return fail("invalid_request", 9002325, "Proof Key for Code Exchange is required for cross-origin authorization code redemption.");
    }
    if (codeChallenge !== undefined) {
      // Entra also takes `plain`; the emulator insists on S256, the only method a browser app should use.
      if (method !== "S256") return fail("invalid_request", 501491, `The emulator accepts code_challenge_method S256 only, not '${method}'.`);
      if (!/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) return fail("invalid_request", 501491, "Invalid size of Code_Challenge parameter.");
    }
    const prompt = params.get("prompt") ?? undefined;
    if (prompt !== undefined && !PROMPTS.has(prompt)) {
      return fail("invalid_request", 90023, `Invalid prompt value '${prompt}': use login, none, consent or select_account.`);
    }
    return {
      request: {
        tenant,
        app,
        redirectUri,
        platform,
        responseMode,
        state,
        nonce: params.get("nonce") ?? undefined,
        codeChallenge,
        prompt,
        grant,
      },
    };
  }

  /** Splits a v2 `scope` into OpenID Connect scopes and one resource's delegated scopes (Entra takes one resource per request). */
  #parseDelegatedScopes(scope: string): DelegatedGrant | EntraError {
    const oidc = new Set<string>();
    const resourceScopes: { resource: string; name: string }[] = [];
    for (const s of scope.split(" ").filter(Boolean)) {
      if (OIDC_SCOPES.has(s.toLowerCase())) oidc.add(s.toLowerCase());
      else if (!s.includes("/"))
        resourceScopes.push({ resource: GRAPH_RESOURCE, name: s }); // a bare scope is Graph's
      else resourceScopes.push({ resource: s.slice(0, s.lastIndexOf("/")), name: s.slice(s.lastIndexOf("/") + 1) });
    }
    const invalidScope = (message: string): EntraError => ({ status: 400, error: "invalid_scope", code: 70011, message });
    const resources = new Set(resourceScopes.map((r) => (r.resource === GRAPH_APP_ID ? GRAPH_RESOURCE : r.resource)));
    if (resources.size > 1) {
      return {
        status: 400,
        error: "invalid_scope",
        code: 28000,
        message: `Provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`,
      };
    }
    const [resourceId] = resources;
    // Only OpenID scopes: the access token is Graph's (User.Read), as Entra issues.
    if (resourceId === undefined || resourceId === GRAPH_RESOURCE) {
      const names = resourceScopes.map((r) => (r.name === ".default" ? "User.Read" : r.name));
      return { resource: { kind: "graph" }, scopes: [...new Set(names.length ? names : ["User.Read"])], oidc };
    }
    const app = [...this.#apps.values()].find(
      (a) => (a.appIdUri !== undefined && a.appIdUri === resourceId) || a.clientId === resourceId.toLowerCase(),
    );
    if (!app) return { status: 400, error: "invalid_resource", code: 500011, message: resourceNotFound(resourceId, "any tenant") };
    const names = new Set<string>();
    for (const { name } of resourceScopes) {
      if (name === ".default") for (const declared of app.delegatedScopes) names.add(declared);
      else if (app.delegatedScopes.includes(name)) names.add(name);
      else return invalidScope(`The provided value for the input parameter 'scope' is not valid. The scope ${resourceId}/${name} does not exist.`);
    }
    if (names.size === 0)
      return invalidScope(`The provided value for the input parameter 'scope' is not valid. ${resourceId} exposes no delegated scopes.`);
    return { resource: { kind: "api", app }, scopes: [...names], oidc };
  }

  #issueCode(request: AuthorizeRequest, user: User, sessionId: string): { readonly location: string } | { readonly page: EntraError } {
    const { grant } = request;
    if (grant.resource.kind === "api" && !this.#servicePrincipals.has(spKey(user.tenantId, grant.resource.app.clientId))) {
      // Signed in through organizations/common: the API must exist in the user's own tenant.
      const tenantName = this.#tenants.get(user.tenantId)?.displayName ?? user.tenantId;
      const error_description = `AADSTS500011: ${resourceNotFound(grant.resource.app.appIdUri ?? grant.resource.app.clientId, tenantName)}`;
      return { location: authorizeResponseUrl(request, { error: "invalid_resource", error_description, state: request.state }) };
    }
    const now = Date.now();
    for (const [c, record] of this.#codes) if (record.expiresAt < now) this.#codes.delete(c);
    const code = `1.${randomOpaque()}${randomOpaque()}`;
    this.#codes.set(code, {
      clientId: request.app.clientId,
      redirectUri: request.redirectUri,
      platform: request.platform,
      tenantId: user.tenantId,
      objectId: user.objectId,
      grant,
      nonce: request.nonce,
      codeChallenge: request.codeChallenge,
      sessionId,
      expiresAt: now + this.#codeLifetime * 1000,
      redeemed: false,
      refreshTokens: new Set(),
    });
    return {
      location: authorizeResponseUrl(request, {
        code,
        client_info: clientInfo(user),
        state: request.state,
        session_state: sessionId,
      }),
    };
  }

  async #redeemCode(req: IncomingMessage, tenantSegment: string, form: URLSearchParams): Promise<EntraError | { body: Record<string, unknown> }> {
    const checked = this.#checkUserGrantClient(tenantSegment, form);
    if ("code" in checked) return checked;
    const { app, tenant } = checked;
    const code = form.get("code");
    if (!code) return missingParameter("code");
    const record = this.#codes.get(code);
    if (!record) return invalidGrant(9002313, "Invalid request. Request is malformed or invalid.");
    if (record.clientId !== app.clientId) return invalidGrant(70000, "The provided authorization code was issued to another client.");
    if (tenant && tenant.tenantId !== record.tenantId) {
      return invalidGrant(700005, "Provided Authorization Code is intended to use against other tenant, thus rejected.");
    }
    if (record.redeemed) {
      // A replay: whatever the first redemption issued stops working too.
      for (const rt of record.refreshTokens) this.#refreshTokens.delete(rt);
      return invalidGrant(
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
      );
    }
    if (record.expiresAt <= Date.now()) {
      this.#codes.delete(code);
      return invalidGrant(
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
      );
    }
    // One attempt per code: a failed one (wrong verifier, wrong redirect URI) burns it as well.
    record.redeemed = true;
    const redirectUri = form.get("redirect_uri");
    if (!redirectUri) return missingParameter("redirect_uri");
    if (redirectUri !== record.redirectUri) {
      return invalidGrant(
        500112,
        `The reply address '${redirectUri}' does not match the reply address '${record.redirectUri}' provided when requesting Authorization code.`,
      );
    }
    const clientProblem = this.#checkRedemptionOrigin(req, record.platform, app, form);
    if (clientProblem) return clientProblem;
    if (record.codeChallenge !== undefined) {
      const verifier = form.get("code_verifier");
      if (!verifier) return missingParameter("code_verifier");
      const computed = createHash("sha256").update(verifier).digest("base64url");
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !secretsEqual(computed, record.codeChallenge)) {
        return invalidGrant(50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.");
      }
    }
    const { platform, tenantId, objectId, grant, sessionId } = record;
    const body = await this.#userTokens({ clientId: app.clientId, platform, tenantId, objectId, grant, sessionId }, record.nonce, undefined);
    if (typeof body.refresh_token === "string") record.refreshTokens.add(body.refresh_token);
    return { body };
  }

  async #redeemRefreshToken(
    req: IncomingMessage,
    tenantSegment: string,
    form: URLSearchParams,
  ): Promise<EntraError | { body: Record<string, unknown> }> {
    const checked = this.#checkUserGrantClient(tenantSegment, form);
    if ("code" in checked) return checked;
    const { app, tenant } = checked;
    const token = form.get("refresh_token");
    if (!token) return missingParameter("refresh_token");
    const record = this.#refreshTokens.get(token);
    if (!record) return invalidGrant(9002313, "Invalid request. Request is malformed or invalid.");
    if (record.clientId !== app.clientId) return invalidGrant(70000, "The provided refresh token was issued to another client.");
    if (tenant && tenant.tenantId !== record.tenantId)
      return invalidGrant(700005, "Provided refresh token is intended to use against other tenant, thus rejected.");
    if (record.expiresAt <= Date.now()) {
      this.#refreshTokens.delete(token);
      return invalidGrant(
        700084,
        "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page.",
      );
    }
    const clientProblem = this.#checkRedemptionOrigin(req, record.platform, app, form);
    if (clientProblem) return clientProblem;
    // A refresh token may be redeemed for another resource (Entra's multi-resource refresh tokens).
    let grant = record.grant;
    const scope = form.get("scope");
    if (scope) {
      const asked = this.#parseDelegatedScopes(scope);
      if ("code" in asked) return asked;
      if (asked.resource.kind === "api" && !this.#servicePrincipals.has(spKey(record.tenantId, asked.resource.app.clientId))) {
        const tenantName = this.#tenants.get(record.tenantId)?.displayName ?? record.tenantId;
        return {
          status: 400,
          error: "invalid_resource",
          code: 500011,
          message: resourceNotFound(asked.resource.app.appIdUri ?? asked.resource.app.clientId, tenantName),
        };
      }
      // offline_access and openid carry over from the sign-in.
      grant = { ...asked, oidc: new Set([...record.grant.oidc, ...asked.oidc]) };
    }
    const { clientId, platform, tenantId, objectId, sessionId } = record;
    return { body: await this.#userTokens({ clientId, platform, tenantId, objectId, grant, sessionId }, undefined, record.expiresAt) };
  }

  #checkUserGrantClient(tenantSegment: string, form: URLSearchParams): EntraError | { app: Application; tenant: Tenant | undefined } {
    const generic = GENERIC_TENANTS.has(tenantSegment.toLowerCase());
    const tenant = generic ? undefined : this.#resolveTenant(tenantSegment);
    if (!generic && !tenant) return tenantNotFound(tenantSegment, "invalid_request");
    const clientId = form.get("client_id")?.toLowerCase();
    if (!clientId) return missingParameter("client_id");
    const app = this.#apps.get(clientId);
    if (!app) return appNotFound(clientId, tenant?.displayName ?? tenantSegment, "unauthorized_client");
    return { app, tenant };
  }

  /** A single-page app's code or refresh token is redeemed by the browser (an Origin header), a web app's by its server, with its secret. */
  #checkRedemptionOrigin(req: IncomingMessage, platform: "spa" | "web", app: Application, form: URLSearchParams): EntraError | undefined {
    const origin = req.headers.origin;
    if (platform === "spa") {
      if (!origin) {
        return {
          status: 400,
          error: "invalid_request",
          code: 9002327,
          message: "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
        };
      }
      return undefined;
    }
    if (origin) {
      return {
        status: 400,
        error: "invalid_request",
        code: 9002326,
        message: `Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '${origin}'.`,
      };
    }
    const secret = form.get("client_secret") ?? parseBasicAuth(req.headers.authorization)?.secret;
    if (!secret) {
      return {
        status: 401,
        error: "invalid_client",
        code: 7000218,
        message: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      };
    }
    if (!app.clientSecret || !secretsEqual(secret, app.clientSecret)) {
      return { status: 401, error: "invalid_client", code: 7000215, message: `Invalid client secret provided for app '${app.clientId}'.` };
    }
    return undefined;
  }

  /** The token response of a user's grant: access token for the resource, id token (openid), refresh token (offline_access), client_info. */
  async #userTokens(
    g: { clientId: string; platform: "spa" | "web"; tenantId: string; objectId: string; grant: DelegatedGrant; sessionId: string },
    nonce: string | undefined,
    refreshExpiresAt: number | undefined,
  ): Promise<Record<string, unknown>> {
    const user = this.#users.get(`${g.tenantId}|${g.objectId}`);
    const tenant = this.#tenants.get(g.tenantId);
    const app = this.#apps.get(g.clientId);
    if (!user || !tenant || !app) throw new Error("the grant names a user, tenant or app that no longer exists");
    const { grant } = g;
    const now = Date.now();
    const common = {
      aio: randomOpaque(),
      name: user.displayName,
      oid: user.objectId,
      rh: `0.${randomOpaque()}.`,
      sid: g.sessionId,
      tid: tenant.tenantId,
      uti: randomOpaque().slice(0, 22),
    };
    let accessClaims: Record<string, unknown>;
    let scopeOut: string[];
    if (grant.resource.kind === "api") {
      const api = grant.resource.app;
      const roles = [...(user.roles.get(api.clientId) ?? [])].sort();
      const rolesClaim = roles.length ? { roles } : {};
      const sub = pairwiseSubject(user.objectId, api.clientId);
      accessClaims =
        api.accessTokenVersion === 2
          ? {
              aud: api.clientId,
              iss: this.issuerFor(tenant.tenantId),
              azp: app.clientId,
              azpacr: "0",
              ...common,
              preferred_username: user.userPrincipalName,
              ...rolesClaim,
              scp: grant.scopes.join(" "),
              sub,
              ver: "2.0",
            }
          : {
              aud: api.appIdUri ?? api.clientId,
              iss: this.issuerFor(tenant.tenantId, "1.0"),
              amr: ["pwd"],
              appid: app.clientId,
              appidacr: "0",
              ...common,
              ...rolesClaim,
              scp: grant.scopes.join(" "),
              sub,
              unique_name: user.userPrincipalName,
              upn: user.userPrincipalName,
              ver: "1.0",
            };
      scopeOut = grant.scopes.map((s) => `${api.appIdUri ?? api.clientId}/${s}`);
    } else {
      // Graph's user tokens are v1 and meant for Graph alone; nobody else should accept them.
      accessClaims = {
        aud: GRAPH_APP_ID,
        iss: this.issuerFor(tenant.tenantId, "1.0"),
        amr: ["pwd"],
        app_displayname: app.displayName,
        appid: app.clientId,
        appidacr: "0",
        idtyp: "user",
        ...common,
        scp: [...new Set([...grant.oidc].filter((s) => s !== "offline_access").concat(grant.scopes))].join(" "),
        sub: pairwiseSubject(user.objectId, GRAPH_APP_ID),
        unique_name: user.userPrincipalName,
        upn: user.userPrincipalName,
        ver: "1.0",
      };
      scopeOut = [...grant.oidc].filter((s) => s !== "offline_access").concat(grant.scopes);
    }
    const body: Record<string, unknown> = {
      token_type: "Bearer",
      scope: scopeOut.join(" "),
      expires_in: this.#tokenLifetime,
      ext_expires_in: this.#tokenLifetime,
      access_token: await this.#sign(accessClaims, this.#tokenLifetime, false),
    };
    if (grant.oidc.has("offline_access")) {
      for (const [rt, record] of this.#refreshTokens) if (record.expiresAt <= now) this.#refreshTokens.delete(rt);
      const refreshToken = `1.${randomOpaque()}${randomOpaque()}${randomOpaque()}`;
      const expiresAt = refreshExpiresAt ?? now + this.#refreshLifetime * 1000;
      const { clientId, platform, tenantId, objectId, sessionId } = g;
      this.#refreshTokens.set(refreshToken, { clientId, platform, tenantId, objectId, grant, sessionId, expiresAt });
      body.refresh_token = refreshToken;
      if (g.platform === "spa") body.refresh_token_expires_in = Math.max(0, Math.floor((expiresAt - now) / 1000));
    }
    if (grant.oidc.has("openid")) {
      body.id_token = await this.#sign(
        {
          aud: app.clientId,
          iss: this.issuerFor(tenant.tenantId),
          ...common,
          ...(nonce !== undefined ? { nonce } : {}),
          ...(grant.oidc.has("profile") ? { preferred_username: user.userPrincipalName } : {}),
          sub: pairwiseSubject(user.objectId, app.clientId),
          ver: "2.0",
        },
        3600,
        false,
      );
    }
    body.client_info = clientInfo(user);
    return body;
  }

  #session(req: IncomingMessage): (Session & { id: string }) | undefined {
    const cookie = req.headers.cookie ?? "";
    for (const part of cookie.split(";")) {
      const [name, value] = part.trim().split("=", 2);
      if (name === SESSION_COOKIE && value) {
        const session = this.#sessions.get(value);
        if (session) return { ...session, id: value };
      }
    }
    return undefined;
  }

  // ---- Internals -------------------------------------------------------------------------------

  #appOnlyClaims(c: {
    tenant: Tenant;
    clientId: string;
    appDisplayName: string | undefined;
    objectId: string;
    aud: string;
    roles: readonly string[];
    version: "1.0" | "2.0";
  }): Record<string, unknown> {
    const iss = this.issuerFor(c.tenant.tenantId, c.version);
    const common = {
      aio: randomOpaque(),
      idtyp: "app",
      oid: c.objectId,
      rh: `0.${randomOpaque()}.`,
      ...(c.roles.length ? { roles: [...c.roles] } : {}),
      sub: c.objectId,
      tid: c.tenant.tenantId,
      uti: randomOpaque().slice(0, 22),
      ver: c.version,
    };
    // v1 names the caller appid/appidacr (and the app's name); v2 uses azp/azpacr.
    return c.version === "1.0"
      ? {
          aud: c.aud,
          iss,
          ...(c.appDisplayName ? { app_displayname: c.appDisplayName } : {}),
          appid: c.clientId,
          appidacr: "1",
          idp: iss,
          ...common,
          tenant_region_scope: c.tenant.region,
          wids: APP_ONLY_WIDS,
          xms_tcdt: 1600000000,
        }
      : { aud: c.aud, iss, azp: c.clientId, azpacr: "1", ...common };
  }

  async #sign(claims: Record<string, unknown>, expiresInSeconds: number, forged: boolean): Promise<string> {
    const active = this.#requireStarted();
    const now = Math.floor(Date.now() / 1000);
    const exp = now + expiresInSeconds;
    // Entra backdates iat/nbf by five minutes to absorb clock skew.
    const iat = Math.min(now - 300, exp - 3600);
    return new SignJWT({ ...claims, iat, nbf: iat, exp })
      .setProtectedHeader({ typ: "JWT", alg: "RS256", x5t: active.kid, kid: active.kid })
      .sign(forged ? this.#forgeryKey! : active.privateKey);
  }

  #resolveResource(resourceId: string, tenantId: string): Resource | undefined {
    if (resourceId === GRAPH_RESOURCE || resourceId === GRAPH_APP_ID) return { kind: "graph", aud: resourceId };
    const lower = resourceId.toLowerCase();
    const app = [...this.#apps.values()].find((a) => (a.appIdUri !== undefined && a.appIdUri === resourceId) || a.clientId === lower);
    // A resource is only reachable in a tenant where it has a service principal.
    if (!app || !this.#servicePrincipals.has(spKey(tenantId, app.clientId))) return undefined;
    return { kind: "api", app, aud: resourceId };
  }

  #resolveTenant(segment: string): Tenant | undefined {
    const key = segment.toLowerCase();
    return this.#tenants.get(key) ?? this.#tenants.get(this.#domains.get(key) ?? "");
  }

  #requireTenant(tenantIdOrDomain: string): Tenant {
    const tenant = this.#resolveTenant(tenantIdOrDomain);
    if (!tenant) throw new Error(`unknown tenant ${tenantIdOrDomain}: addTenant() it first`);
    return tenant;
  }

  #requireApp(clientId: string): Application {
    const app = this.#apps.get(clientId.toLowerCase());
    if (!app) throw new Error(`unknown application ${clientId}: registerApplication() it first`);
    return app;
  }

  #ensureServicePrincipal(tenantId: string, clientId: string): ServicePrincipal {
    const key = spKey(tenantId, clientId);
    let sp = this.#servicePrincipals.get(key);
    if (!sp) {
      sp = { objectId: randomUUID(), roles: new Map() };
      this.#servicePrincipals.set(key, sp);
    }
    return sp;
  }

  #requireStarted(): PublishedKey {
    const active = this.#keys[0];
    if (!active || !this.#forgeryKey) throw new Error("EntraIdEmulator.start() has not run");
    return active;
  }

  #sendError(req: IncomingMessage, res: ServerResponse, e: EntraError): void {
    const { traceId, correlationId } = traceIds(req);
    const timestamp = entraTimestamp();
    sendJson(
      res,
      e.status,
      {
        error: e.error,
        error_description: `AADSTS${e.code}: ${e.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
        error_codes: [e.code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
        error_uri: `${this.origin}/error?code=${e.code}`,
      },
      { ...traceHeaders(req, traceId), "cache-control": "no-store, no-cache", pragma: "no-cache" },
    );
  }
}

const ROUTES: Record<string, { kind: string; method: "GET" | "POST" } | undefined> = {
  "v2.0/.well-known/openid-configuration": { kind: "discovery-v2", method: "GET" },
  ".well-known/openid-configuration": { kind: "discovery-v1", method: "GET" },
  "discovery/v2.0/keys": { kind: "keys-v2", method: "GET" },
  "discovery/keys": { kind: "keys-v1", method: "GET" },
  "oauth2/v2.0/token": { kind: "token", method: "POST" },
  "v2.0/adminconsent": { kind: "consent", method: "GET" },
  "v2.0/adminconsent/decision": { kind: "consent-decision", method: "POST" },
  "oauth2/v2.0/authorize": { kind: "authorize", method: "GET" },
  login: { kind: "login", method: "POST" },
  "oauth2/v2.0/logout": { kind: "logout", method: "GET" },
};

const SESSION_COOKIE = "ESTSAUTH";
const OIDC_SCOPES = new Set(["openid", "profile", "email", "offline_access"]);
const PROMPTS = new Set(["login", "none", "consent", "select_account"]);
/** What the account picker's form carries from the authorization request to its POST. */
const AUTHORIZE_PARAMETERS = [
  "client_id",
  "redirect_uri",
  "response_type",
  "response_mode",
  "scope",
  "state",
  "nonce",
  "code_challenge",
  "code_challenge_method",
  "prompt",
  "login_hint",
  "client-request-id",
];

function redirectUriMismatch(redirectUri: string, clientId: string): EntraError {
  return {
    status: 400,
    error: "invalid_request",
    code: 50011,
    message: `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.`,
  };
}

function resourceNotFound(resourceId: string, tenantName: string): string {
  return `The resource principal named ${resourceId} was not found in the tenant named ${tenantName}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`;
}

function invalidGrant(code: number, message: string): EntraError {
  return { status: 400, error: "invalid_grant", code, message };
}

/** The authorization response (or error) back to the app, in the query or the fragment as it asked. */
function authorizeResponseUrl(
  request: { readonly redirectUri: string; readonly responseMode: "query" | "fragment" },
  params: Record<string, string | undefined>,
): string {
  if (request.responseMode === "query") return callbackUrl(request.redirectUri, params);
  const url = new URL(request.redirectUri);
  const fragment = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) fragment.append(k, v);
  url.hash = fragment.toString();
  return url.href;
}

/** Entra's client_info: base64url JSON of the user's object id and home tenant, MSAL's home account id. */
function clientInfo(user: { readonly objectId: string; readonly tenantId: string }): string {
  return Buffer.from(JSON.stringify({ uid: user.objectId, utid: user.tenantId })).toString("base64url");
}

/** Entra's `sub` is pairwise: the same user has a different subject for each app. */
function pairwiseSubject(objectId: string, clientId: string): string {
  return createHash("sha256").update(`${objectId}|${clientId}`).digest("base64url");
}

function publicUser(u: User): EntraUser {
  return { tenantId: u.tenantId, objectId: u.objectId, userPrincipalName: u.userPrincipalName, displayName: u.displayName };
}

function tenantNotFound(segment: string, error: string): EntraError {
  return {
    status: 400,
    error,
    code: 90002,
    message: `Tenant '${segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  };
}

function appNotFound(clientId: string, directory: string, error: string): EntraError {
  return {
    status: 400,
    error,
    code: 700016,
    message: `Application with identifier '${clientId}' was not found in the directory '${directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
  };
}

function missingParameter(name: string): EntraError {
  return { status: 400, error: "invalid_request", code: 900144, message: `The request body must contain the following parameter: '${name}'.` };
}

/** The consent endpoint grants app permissions only through a `/.default` scope; anything else is refused back to the app. */
function consentScopeError(scope: string | undefined): Record<string, string> | undefined {
  if (!scope) return { error: "invalid_request", error_description: "AADSTS900144: The request body must contain the following parameter: 'scope'." };
  if (!scope.split(" ").some((s) => s.endsWith("/.default"))) {
    return {
      error: "invalid_scope",
      error_description: `AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid. Application permissions need a /.default scope.`,
    };
  }
  return undefined;
}

function callbackUrl(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v);
  return url.href;
}

/** What the consent endpoints answer: a page, or a redirect back to the app. */
type Reply = ({ readonly status: number; readonly html: string } | { readonly location: string }) & { readonly setCookie?: string };

function sendReply(res: ServerResponse, reply: Reply): void {
  if (reply.setCookie) res.setHeader("set-cookie", reply.setCookie);
  if ("location" in reply) res.writeHead(302, { location: reply.location, "cache-control": "no-store", "content-length": "0" }).end();
  else sendHtml(res, reply.status, reply.html);
}

function errorPage(e: EntraError, req?: IncomingMessage): string {
  const { traceId, correlationId } = req ? traceIds(req) : { traceId: randomUUID(), correlationId: randomUUID() };
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in to your account</title>
<style>body{margin:0;min-height:100vh;display:grid;place-items:center;background:#f2f2f2;font:15px/1.45 "Segoe UI",system-ui,sans-serif}main{width:min(440px,92vw);background:#fff;box-shadow:0 2px 6px rgba(0,0,0,.2);padding:36px 44px;box-sizing:border-box}h1{font-size:22px;font-weight:600}code{display:block;white-space:pre-wrap;font-size:12px;color:#616161;margin-top:16px}</style></head>
<body><main>
  <h1>Sorry, but we're having trouble signing you in.</h1>
  <p id="error" data-error="${esc(e.error)}" data-code="${e.code}">AADSTS${e.code}: ${esc(e.message)}</p>
  <code>Request Id: ${traceId}
Correlation Id: ${correlationId}
Timestamp: ${new Date().toISOString()}</code>
</main></body>
</html>
`;
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    // No form-action: browsers apply it to the redirect that follows a submit, which leaves this origin.
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
  });
  res.end(html);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(JSON.stringify(body));
}

/** The caller's `client-request-id` (MSAL sends it in the query, others as a header); Entra echoes it as the correlation id. */
function clientRequestId(req: IncomingMessage): string | undefined {
  const header = req.headers["client-request-id"];
  const sent = typeof header === "string" ? header : new URL(req.url ?? "/", "http://x").searchParams.get("client-request-id");
  return sent && GUID.test(sent) ? sent.toLowerCase() : undefined;
}

function traceIds(req: IncomingMessage): { traceId: string; correlationId: string } {
  return { traceId: randomUUID(), correlationId: clientRequestId(req) ?? randomUUID() };
}

function traceHeaders(req: IncomingMessage, requestId: string = randomUUID()): Record<string, string> {
  const sent = clientRequestId(req);
  return { "x-ms-request-id": requestId, ...(sent ? { "client-request-id": sent } : {}) };
}

function entraTimestamp(): string {
  return `${new Date().toISOString().slice(0, 19).replace("T", " ")}Z`;
}

class BodyTooLargeError extends Error {}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk);
  }
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  // Entra reads only form bodies; anything else arrives as "no parameters".
  return type === "application/x-www-form-urlencoded" ? new URLSearchParams(Buffer.concat(chunks).toString("utf8")) : new URLSearchParams();
}

function parseBasicAuth(header: string | undefined): { clientId: string; secret: string } | undefined {
  const m = /^Basic\s+(.+)$/i.exec(header ?? "");
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  try {
    return { clientId: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

function secretsEqual(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}

function spKey(tenantId: string, clientId: string): string {
  return `${tenantId}|${clientId}`;
}

function requireGuid(value: string, name: string): string {
  if (!GUID.test(value)) throw new Error(`${name} must be a GUID, got ${value}`);
  return value.toLowerCase();
}

/** A GUID derived from a string, so minted tokens name the same object id every time. */
function stableGuid(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function randomOpaque(): string {
  return createHash("sha256").update(randomUUID()).digest("base64url");
}

function pick(jwk: JWK, ...names: (keyof JWK)[]): JWK {
  return Object.fromEntries(names.map((n) => [n, jwk[n]])) as JWK;
}
