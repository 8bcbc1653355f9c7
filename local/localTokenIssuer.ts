import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

export interface IssueTokenOptions {
  readonly roles?: readonly string[];
  readonly audience?: string;
  readonly subject?: string;
  readonly expiresInSeconds?: number;
  /** Sign with a key the issuer does not publish (a forged token, for tests). */
  readonly forged?: boolean;
}

/**
 * The local stack's stand-in for Entra ID as far as the admin API needs one: an
 * issuer with an OpenID configuration and a JWKS, minting RS256 access tokens with
 * `roles`. The identity issue replaces it with the full Entra ID emulator.
 */
export class LocalTokenIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly defaultAudience: string;
  readonly #pathPrefix: string;
  readonly #keyId = randomUUID();
  #keys: { privateKey: SigningKey; publicJwk: JWK; forgeryKey: SigningKey } | undefined;

  constructor(origin: string, defaultAudience: string, pathPrefix = "/local-issuer") {
    this.#pathPrefix = pathPrefix;
    this.issuer = `${origin}${pathPrefix}/v2.0`;
    this.jwksUri = `${origin}${pathPrefix}/discovery/v2.0/keys`;
    this.defaultAudience = defaultAudience;
  }

  async start(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    const { privateKey: forgeryKey } = await generateKeyPair("RS256");
    this.#keys = { privateKey, forgeryKey, publicJwk: { ...(await exportJWK(publicKey)), kid: this.#keyId, use: "sig", alg: "RS256" } };
  }

  async issueToken(options: IssueTokenOptions = {}): Promise<string> {
    const keys = this.#requireKeys();
    const subject = options.subject ?? "local-operator";
    return new SignJWT({ roles: [...(options.roles ?? ["CVI.Admin"])], oid: subject, ver: "2.0" })
      .setProtectedHeader({ alg: "RS256", kid: this.#keyId, typ: "JWT" })
      .setIssuer(this.issuer)
      .setAudience(options.audience ?? this.defaultAudience)
      .setSubject(subject)
      .setIssuedAt()
      .setNotBefore("0s")
      .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600))
      .sign(options.forged ? keys.forgeryKey : keys.privateKey);
  }

  /** Serves the OpenID configuration and the JWKS; returns false for paths that are not the issuer's. */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    if (!path.startsWith(`${this.#pathPrefix}/`)) return false;
    const keys = this.#requireKeys();
    let body: unknown;
    if (path === `${this.#pathPrefix}/v2.0/.well-known/openid-configuration`) {
      body = {
        issuer: this.issuer,
        jwks_uri: this.jwksUri,
        id_token_signing_alg_values_supported: ["RS256"],
        token_endpoint_auth_methods_supported: [],
      };
    } else if (path === `${this.#pathPrefix}/discovery/v2.0/keys`) {
      body = { keys: [keys.publicJwk] };
    }
    response.writeHead(body ? 200 : 404, { "content-type": "application/json" });
    response.end(JSON.stringify(body ?? { error: "not_found" }));
    return true;
  }

  #requireKeys() {
    if (!this.#keys) throw new Error("LocalTokenIssuer.start() has not run");
    return this.#keys;
  }
}
