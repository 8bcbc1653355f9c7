import type { HttpRequest } from "@azure/functions";
import { ValidationError } from "../../shared/errors.js";
import type { ListOptions } from "../ports.js";

/** `?top=N&continuationToken=…` as repository list options. */
export function pageOptions(request: HttpRequest): ListOptions {
  const top = request.query.get("top");
  const continuationToken = request.query.get("continuationToken") ?? undefined;
  let maxItemCount: number | undefined;
  if (top !== null) {
    maxItemCount = Number(top);
    if (!Number.isInteger(maxItemCount) || maxItemCount < 1 || maxItemCount > 1000) {
      throw new ValidationError([{ field: "top", message: "top must be a whole number from 1 to 1000" }]);
    }
  }
  if (continuationToken !== undefined && continuationToken.length > 4096) {
    throw new ValidationError([{ field: "continuationToken", message: "continuationToken is not one this API issued" }]);
  }
  return { ...(maxItemCount ? { maxItemCount } : {}), ...(continuationToken ? { continuationToken } : {}) };
}
