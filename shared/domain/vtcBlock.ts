import { escapeHtml } from "../html.js";
import { formatVtcId, normalizeVtcId } from "./vtcId.js";

/**
 * The "Join with a video conferencing device" block of a Teams invite, as HTML.
 * Ours is fenced by comment markers so that it can be found, replaced and removed
 * exactly, however often an update is applied.
 */
export interface VtcCoordinates {
  readonly tenantKey: string;
  readonly vtcId: string;
  /** The provider's InstructionUri with {ConfId} already filled in; null when none. */
  readonly instructionUri: string | null;
}

const BEGIN = "<!-- opencvi:vtc-block:begin -->";
const END = "<!-- opencvi:vtc-block:end -->";
/** A fence and its content; the content holds no begin marker, so a stray one (its end lost) never swallows a later block. */
const FENCED = /<!-- opencvi:vtc-block:begin -->(?:(?!<!-- opencvi:vtc-block:begin -->)[\s\S])*?<!-- opencvi:vtc-block:end -->/g;

export function fillInstructionUri(instructionUri: string | null, vtcId: string): string | null {
  return instructionUri === null ? null : instructionUri.replaceAll("{ConfId}", encodeURIComponent(vtcId));
}

export function renderVtcBlock(coordinates: VtcCoordinates): string {
  const key = escapeHtml(coordinates.tenantKey);
  const lines = [
    `<div style="font-family:'Segoe UI',sans-serif;font-size:14px;margin-top:12px">`,
    `<div style="font-weight:600">Join with a video conferencing device</div>`,
    `<div>${key}&nbsp;&nbsp;Video Conference ID: ${escapeHtml(formatVtcId(coordinates.vtcId))}</div>`,
  ];
  if (coordinates.instructionUri) {
    const uri = escapeHtml(coordinates.instructionUri);
    lines.push(`<div><a href="${uri}">Alternate VTC instructions</a></div>`);
  }
  lines.push("</div>");
  return `${BEGIN}${lines.join("")}${END}`;
}

/** Removes every block of ours (all of them, should a client have copied one). */
export function removeVtcBlocks(html: string): string {
  // Until nothing changes: removing a block can join what surrounded it into another one.
  let previous: string;
  let current = html;
  do {
    previous = current;
    current = previous.replace(FENCED, "");
  } while (current !== previous);
  return current;
}

/** The body with exactly one block, carrying these coordinates; idempotent. */
export function upsertVtcBlock(html: string, coordinates: VtcCoordinates): string {
  const stripped = removeVtcBlocks(html);
  const block = renderVtcBlock(coordinates);
  const closing = stripped.search(/<\/body\s*>/i);
  return closing >= 0 ? `${stripped.slice(0, closing)}${block}${stripped.slice(closing)}` : `${stripped}${block}`;
}

export function countVtcBlocks(html: string): number {
  return (html.match(/Join with a video conferencing device/gi) ?? []).length;
}

/**
 * Reads coordinates from an invite's text or HTML — ours, Teams' own, or another
 * provider's ("Video Conference ID: 112 718 073 9" or the older "VTC Conference ID: 017920684").
 */
export function findVtcCoordinates(htmlOrText: string): { tenantKey: string; vtcId: string } | undefined {
  // Tags become line breaks, so that an ID never runs on into digits in the next element.
  const text = htmlOrText
    .replace(/<[^>]*>/g, "\n")
    .replaceAll("&nbsp;", " ")
    .replaceAll("&amp;", "&");
  const match = /([A-Za-z0-9._+-]+@[A-Za-z0-9.-]+)\s+(?:Video|VTC) Conference ID:\s*([0-9][0-9 ]{4,30}[0-9])/i.exec(text);
  if (!match?.[1] || !match[2]) return undefined;
  const vtcId = normalizeVtcId(match[2].trim());
  return vtcId ? { tenantKey: match[1].toLowerCase(), vtcId } : undefined;
}
