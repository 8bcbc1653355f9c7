// The emulator's interactive pages (account picker, signed-out page): plain HTML forms, no
// script, so a test can drive them with fetch or a real browser alike.

export interface SignInAccount {
  readonly objectId: string;
  readonly displayName: string;
  readonly userPrincipalName: string;
  readonly tenantDisplayName: string;
}

export interface SignInPageOptions {
  readonly tenantSegment: string;
  readonly appDisplayName: string;
  readonly redirectUri: string;
  /** The authorization request's parameters, carried through the form as hidden fields. */
  readonly request: ReadonlyMap<string, string>;
  readonly accounts: readonly SignInAccount[];
  /** The account to preselect (the browser's current session). */
  readonly selected?: string;
  readonly problem?: string;
}

const STYLE = `
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f2f2f2; font: 15px/1.45 "Segoe UI", system-ui, sans-serif; color: #1b1b1b; }
  main { width: min(440px, 92vw); background: #fff; box-shadow: 0 2px 6px rgba(0,0,0,.2); padding: 36px 44px; box-sizing: border-box; }
  .brand { font-weight: 600; color: #737373; margin: 0 0 16px; } .brand em { font-style: normal; font-weight: 400; font-size: 12px; border: 1px solid #ccc; padding: 0 4px; margin-left: 6px; }
  h1 { font-size: 24px; font-weight: 600; margin: 0 0 12px; } .muted { color: #616161; font-size: 13px; }
  fieldset { border: 0; padding: 0; margin: 12px 0; } legend { padding: 0; margin-bottom: 8px; font-weight: 600; }
  .account { display: flex; gap: 10px; align-items: flex-start; padding: 10px 4px; border-bottom: 1px solid #eee; }
  .account input { margin-top: 4px; } .account span { display: flex; flex-direction: column; }
  .problem { color: #a80000; font-weight: 600; }
  .actions { display: flex; flex-direction: row-reverse; margin-top: 20px; }
  button { min-width: 108px; padding: 6px 12px; font: inherit; border: 1px solid #0067b8; background: #0067b8; color: #fff; cursor: pointer; }
  :focus-visible { outline: 2px solid #1b1b1b; outline-offset: 2px; }
`;

/** The account picker: one radio button per account the tenant has, then "Sign in". */
export function signInPageHtml(o: SignInPageOptions): string {
  const hidden = [...o.request].map(([name, value]) => `<input type="hidden" name="${esc(name)}" value="${esc(value)}">`).join("\n    ");
  const accounts = o.accounts.length
    ? o.accounts
        .map(
          (a, i) => `<label class="account" for="account-${i}">
        <input type="radio" id="account-${i}" name="account" value="${esc(a.objectId)}" required${a.objectId === o.selected ? " checked" : ""}>
        <span><strong>${esc(a.displayName)}</strong><span class="muted">${esc(a.userPrincipalName)} · ${esc(a.tenantDisplayName)}</span></span>
      </label>`,
        )
        .join("\n      ")
    : `<p class="muted">This organization has no accounts in the emulator.</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to your account</title>
<style>${STYLE}</style>
</head>
<body>
<main>
  <p class="brand">Microsoft Entra ID<em>emulator</em></p>
  <h1>Pick an account</h1>
  <p class="muted">to continue to <strong id="app-name">${esc(o.appDisplayName)}</strong> (replies to ${esc(safeHost(o.redirectUri))})</p>
  <form method="post" action="/${esc(encodeURIComponent(o.tenantSegment))}/login">
    ${hidden}
    ${o.problem ? `<p class="problem" role="alert">${esc(o.problem)}</p>` : ""}
    <fieldset>
      <legend>Accounts</legend>
      ${accounts}
    </fieldset>
    <div class="actions"><button type="submit">Sign in</button></div>
  </form>
</main>
</body>
</html>
`;
}

export function signedOutPageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Signed out</title><style>${STYLE}</style></head>
<body><main>
  <p class="brand">Microsoft Entra ID<em>emulator</em></p>
  <h1 id="signed-out">You signed out of your account</h1>
  <p>It's a good idea to close all browser windows.</p>
</main></body>
</html>
`;
}

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function safeHost(uri: string): string {
  try {
    return new URL(uri).host;
  } catch {
    return uri;
  }
}
