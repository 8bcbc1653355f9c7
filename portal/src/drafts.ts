import { useEffect, useRef } from "react";

/**
 * What the user was typing, kept across a sign-in. A sign-in that has ended (an expired or
 * refused token) sends the browser to Entra ID and back, which reloads the app: each open
 * form's fields go to session storage first (this tab only, gone with it) and the form takes
 * them back when it shows again, once.
 */
const PREFIX = "opencvi.draft.";
const open = new Map<string, () => Readonly<Record<string, string>>>();

/** Registers a form's current fields (by the form's name) for keepDrafts() to save. */
export function useKeptDraft(form: string, fields: Readonly<Record<string, string>>): void {
  const latest = useRef(fields);
  latest.current = fields;
  useEffect(() => {
    open.set(form, () => latest.current);
    return () => {
      open.delete(form);
    };
  }, [form]);
}

/** Saves every open form that has something typed in it: called just before the sign-in redirect. */
export function keepDrafts(): void {
  for (const [form, fields] of open) {
    const current = fields();
    if (Object.values(current).some((v) => v !== "")) sessionStorage.setItem(PREFIX + form, JSON.stringify(current));
  }
}

/** The fields kept for this form, if any, taken out of storage (a draft comes back once). */
export function takeDraft(form: string): Readonly<Record<string, string>> | undefined {
  const kept = sessionStorage.getItem(PREFIX + form);
  if (kept === null) return undefined;
  sessionStorage.removeItem(PREFIX + form);
  try {
    const parsed = JSON.parse(kept) as unknown;
    if (typeof parsed !== "object" || parsed === null) return undefined;
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === "string"));
  } catch {
    return undefined;
  }
}
