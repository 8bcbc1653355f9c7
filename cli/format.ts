/**
 * Human output in the cmdlets' style: one record as "Property : value" lines
 * (Format-List), several as an aligned table with underlined headers (Format-Table).
 * Values from the API are shown with control characters replaced, so that no stored
 * string can move the cursor or recolour the terminal.
 */

export type Cell = string | number | boolean | null | undefined | readonly string[];

/** A value as text: booleans as True/False, lists joined with ";" (as -AadApplicationIds takes them). */
export function cell(value: Cell): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (Array.isArray(value)) return value.map((v) => clean(String(v))).join(";");
  return clean(String(value));
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Replaces control characters (escape sequences, newlines) with "?". */
export function clean(text: string): string {
  return text.replace(CONTROL, "?");
}

/** One line of at most `max` characters, for quoting foreign text in messages. */
export function oneLine(text: string, max: number): string {
  const flat = clean(text.replace(/\s+/g, " ").trim());
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** "Label : value" lines with the colons aligned. */
export function formatList(entries: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(0, ...entries.map(([label]) => label.length));
  return entries.map(([label, value]) => `${label.padEnd(width)} : ${cell(value)}`.trimEnd()).join("\n") + (entries.length > 0 ? "\n" : "");
}

/** An aligned table: a header row, a row of dashes under each header, then one row per record. */
export function formatTable<R>(rows: readonly R[], columns: readonly (readonly [string, (row: R) => Cell])[]): string {
  const texts = rows.map((row) => columns.map(([, get]) => cell(get(row))));
  const widths = columns.map(([header], i) => Math.max(header.length, ...texts.map((t) => (t[i] ?? "").length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(columns.map(([header]) => header)), line(columns.map(([header]) => "-".repeat(header.length))), ...texts.map(line)]
    .map((l) => `${l}\n`)
    .join("");
}

/** A span of time as an operator reads it at a glance: "4 s", "12 min", "3 h", "2 d" (rounded; never negative). */
export function span(ms: number): string {
  const abs = Math.max(0, ms);
  const seconds = Math.round(abs / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.round(abs / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(abs / 3_600_000);
  return hours < 48 ? `${hours} h` : `${Math.round(abs / 86_400_000)} d`;
}

/** When `time` (ISO) is, seen from `now`: "in 30 min" or "4 s ago" (the time itself if it is no time). */
export function relative(time: string, now: Date): string {
  const at = Date.parse(time);
  if (Number.isNaN(at)) return time;
  return at > now.getTime() ? `in ${span(at - now.getTime())}` : `${span(now.getTime() - at)} ago`;
}

export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
