import { type AccountInfo, InteractionRequiredAuthError, PublicClientApplication } from "@azure/msal-browser";
import { SignInNeeded } from "./api";
import type { PortalConfig } from "./config";

/**
 * Sign-in with Entra ID through MSAL.js: authorization code with PKCE, redirect flow (no
 * pop-ups to be blocked), tokens kept in session storage (gone with the tab). A token that
 * cannot be renewed silently, or that the API refuses, is SignInNeeded: the admin API client
 * keeps what the user typed and calls signInAgain().
 */
export class Auth {
  readonly #msal: PublicClientApplication;
  readonly #scopes: string[];

  private constructor(msal: PublicClientApplication, scopes: readonly string[]) {
    this.#msal = msal;
    this.#scopes = [...scopes];
  }

  static async start(config: PortalConfig): Promise<Auth> {
    const msal = new PublicClientApplication({
      auth: {
        clientId: config.clientId,
        authority: config.authority,
        knownAuthorities: [...(config.knownAuthorities ?? [])],
        redirectUri: `${window.location.origin}/`,
        postLogoutRedirectUri: `${window.location.origin}/`,
      },
      cache: { cacheLocation: "sessionStorage" },
    });
    await msal.initialize();
    const result = await msal.handleRedirectPromise();
    if (result?.account) msal.setActiveAccount(result.account);
    else if (!msal.getActiveAccount()) {
      const [first] = msal.getAllAccounts();
      if (first) msal.setActiveAccount(first);
    }
    return new Auth(msal, config.scopes);
  }

  get account(): AccountInfo | null {
    return this.#msal.getActiveAccount();
  }

  /**
   * The app roles of the signed-in user (CVI.Admin: the operator; CVI.TenantAdmin: one tenant's
   * admin), read from the access token, to show only what they may do. The API enforces it anyway.
   */
  async roles(): Promise<string[]> {
    const payload = (await this.token()).split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const roles = (JSON.parse(json) as { roles?: unknown }).roles;
    return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === "string") : [];
  }

  signIn(): Promise<void> {
    return this.#msal.loginRedirect({ scopes: this.#scopes });
  }

  /** Forgets the tokens the API refused (else the cache would hand them out again) and signs in, back to this page. */
  async signInAgain(): Promise<void> {
    const account = this.account;
    await this.#msal.clearCache();
    await this.#msal.loginRedirect({
      scopes: this.#scopes,
      prompt: "select_account",
      redirectStartPage: window.location.href,
      ...(account ? { loginHint: account.username } : {}),
    });
  }

  signOut(): Promise<void> {
    return this.#msal.logoutRedirect();
  }

  /** An access token for the admin API; SignInNeeded when none can be had silently. */
  async token(): Promise<string> {
    const account = this.account;
    if (!account) throw new SignInNeeded("not signed in");
    try {
      return (await this.#msal.acquireTokenSilent({ scopes: this.#scopes, account })).accessToken;
    } catch (e) {
      if (e instanceof InteractionRequiredAuthError) throw new SignInNeeded("the sign-in has ended: sign in again");
      throw e;
    }
  }
}
