import { readFileSync } from "node:fs";

/** The package's version, reported to the pool (operators see which hosts run what). */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string }).version ?? "";
  } catch {
    return "";
  }
}
