import { escapeHtml } from "./graphHttp.js";

/** What the operator page shows; the emulator builds it from its state. */
export interface OperatorMeetingView {
  readonly id: string;
  readonly tenantId: string;
  readonly subject: string | null;
  readonly organizer: string;
  readonly videoTeleconferenceId: string | null;
  readonly joinMeetingId: string;
  readonly lobbyScope: string;
  readonly cancelled: boolean;
  readonly humans: readonly { readonly id: string; readonly displayName: string }[];
}

export interface OperatorCallView {
  readonly id: string;
  readonly meetingId: string;
  readonly displayName: string;
  readonly appId: string;
  readonly state: string;
  readonly inLobby: boolean;
  readonly callChainId: string;
}

const form = (action: string, label: string, extra = "") =>
  `<form method="post" action="${escapeHtml(action)}" style="display:inline">${extra}<button type="submit">${escapeHtml(label)}</button></form>`;

/**
 * The page a person using the local stack opens to play the Teams side: admit a
 * waiting device, remove it, end the meeting, add or remove people. Plain forms, no script.
 */
export function renderOperatorPage(
  meetings: readonly OperatorMeetingView[],
  calls: readonly OperatorCallView[],
  lobbyScopes: readonly string[],
): string {
  const enc = encodeURIComponent;
  const meetingRows = meetings
    .map((m) => {
      const live = calls.filter((c) => c.meetingId === m.id);
      const callRows = live
        .map(
          (c) =>
            `<li><code>${escapeHtml(c.id)}</code> ${escapeHtml(c.displayName || c.appId)} — <strong>${escapeHtml(c.state)}${c.inLobby ? " (in lobby)" : ""}</strong> ` +
            `callChainId <code>${escapeHtml(c.callChainId)}</code> ` +
            (c.inLobby ? form(`/_emulator/calls/${enc(c.id)}/admit`, "Admit") : "") +
            form(`/_emulator/calls/${enc(c.id)}/remove`, "Remove") +
            "</li>",
        )
        .join("");
      const humanRows = m.humans
        .map((h) => `<li>${escapeHtml(h.displayName)} ${form(`/_emulator/meetings/${enc(m.id)}/participants/${enc(h.id)}/remove`, "Remove")}</li>`)
        .join("");
      const scopeOptions = lobbyScopes
        .map((s) => `<option value="${escapeHtml(s)}"${s === m.lobbyScope ? " selected" : ""}>${escapeHtml(s)}</option>`)
        .join("");
      return `<section>
<h2>${escapeHtml(m.subject ?? "(no subject)")}${m.cancelled ? " — cancelled" : ""}</h2>
<p>Tenant <code>${escapeHtml(m.tenantId)}</code>, organizer ${escapeHtml(m.organizer)}, VTC id <code>${escapeHtml(m.videoTeleconferenceId ?? "none")}</code>, meeting ID <code>${escapeHtml(m.joinMeetingId)}</code></p>
<p>${form(`/_emulator/meetings/${enc(m.id)}/lobby`, "Set lobby", `<select name="scope">${scopeOptions}</select> `)} ${form(`/_emulator/meetings/${enc(m.id)}/end`, "End meeting for everyone")}</p>
<h3>Bot calls</h3><ul>${callRows || "<li>none</li>"}</ul>
<h3>People</h3><ul>${humanRows || "<li>none</li>"}</ul>
<p>${form(`/_emulator/meetings/${enc(m.id)}/participants`, "Add person", '<input name="displayName" placeholder="Display name" required> ')}</p>
</section>`;
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Graph emulator</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}section{border:1px solid #ccc;border-radius:6px;padding:0 1rem;margin-bottom:1rem}form{margin-right:.5rem}</style>
</head><body>
<h1>Microsoft Graph emulator</h1>
<p>Meetings and live bot calls. Actions here behave like the Teams client of an organizer. <a href="/_emulator/state.json">state.json</a></p>
${meetingRows || "<p>No meetings yet.</p>"}
</body></html>`;
}
