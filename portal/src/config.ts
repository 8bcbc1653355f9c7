/** Where the portal finds the admin API and Entra ID: served as /config.json next to the app (one build, every environment). */
export interface PortalConfig {
  /** The admin API's base, e.g. https://cvi.example.net/api/v1 (no trailing slash). */
  readonly apiBaseUrl: string;
  /** Entra ID's authority, e.g. https://login.microsoftonline.com/organizations. */
  readonly authority: string;
  /** The portal's own app registration (a single-page app with this page as redirect URI). */
  readonly clientId: string;
  /** The admin API's scopes the portal asks for. */
  readonly scopes: readonly string[];
  /** Hosts MSAL may trust as authorities besides Microsoft's (the Entra emulator locally). */
  readonly knownAuthorities?: readonly string[];
}

export async function loadConfig(): Promise<PortalConfig> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`the portal's configuration (/config.json) could not be read: HTTP ${response.status}`);
  const config = (await response.json()) as Partial<PortalConfig>;
  for (const key of ["apiBaseUrl", "authority", "clientId"] as const)
    if (typeof config[key] !== "string" || !config[key]) throw new Error(`/config.json has no ${key}`);
  if (!Array.isArray(config.scopes) || config.scopes.length === 0) throw new Error("/config.json has no scopes");
  return config as PortalConfig;
}
