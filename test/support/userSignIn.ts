import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { LocalStack } from "../../local/stack.js";

const unescapeHtml = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replaceAll("&amp;", "&");

/**
 * Signs a user in on the stack's Entra ID emulator the way the portal (MSAL.js) does it —
 * authorize on `organizations`, pick the account on the emulator's page, redeem the code
 * with its PKCE verifier from the portal's origin — and returns the admin API access token.
 */
export async function signInAs(stack: LocalStack, userObjectId: string): Promise<string> {
  const { clientId, redirectUris, authority, scopes } = stack.portalSignIn;
  const redirectUri = redirectUris[0]!;
  const verifier = randomBytes(32).toString("base64url");
  const authorize = new URL(`${authority}/oauth2/v2.0/authorize`);
  for (const [name, value] of Object.entries({
    client_id: clientId,
    scope: [...scopes, "openid", "profile", "offline_access"].join(" "),
    redirect_uri: redirectUri,
    response_mode: "fragment",
    response_type: "code",
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    nonce: randomUUID(),
    state: randomUUID(),
  }))
    authorize.searchParams.set(name, value);
  const page = await fetch(authorize, { redirect: "manual" });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`the sign-in page answered ${page.status}: ${html.slice(0, 300)}`);
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error("the sign-in page has no form");
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) form.append(unescapeHtml(m[1]!), unescapeHtml(m[2]!));
  form.set("account", userObjectId);
  const picked = await fetch(new URL(unescapeHtml(action), authorize), { method: "POST", body: form, redirect: "manual" });
  const location = picked.headers.get("location");
  if (picked.status !== 302 || !location) throw new Error(`signing in answered ${picked.status}: ${(await picked.text()).slice(0, 300)}`);
  const back = new URL(location);
  const code = new URLSearchParams(back.hash.slice(1)).get("code") ?? back.searchParams.get("code");
  if (!code) throw new Error(`no code in the redirect: ${back.hash || back.search}`);
  const token = await fetch(`${authority}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { origin: new URL(redirectUri).origin },
    body: new URLSearchParams({
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: [...scopes, "openid", "profile", "offline_access"].join(" "),
      code,
      code_verifier: verifier,
      grant_type: "authorization_code",
    }),
  });
  const body = (await token.json()) as { access_token?: string; error_description?: string };
  if (!body.access_token) throw new Error(`the token endpoint refused the code: ${body.error_description}`);
  return body.access_token;
}
