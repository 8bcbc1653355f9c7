import { app, type TimerHandler } from "@azure/functions";

export interface TimerDefinition {
  readonly name: string;
  /** NCRONTAB, as the Functions host reads it. */
  readonly schedule: string;
  /** How often the local stack runs it (it has no NCRONTAB scheduler). */
  readonly localIntervalInMs: number;
  readonly handler: TimerHandler;
}

const definitions: TimerDefinition[] = [];

/** Every timer Function registered in this process, for the local stack's scheduler. */
export const timerFunctions: readonly TimerDefinition[] = definitions;

export function registerTimer(definition: TimerDefinition): void {
  app.timer(definition.name, { schedule: definition.schedule, handler: definition.handler });
  definitions.push(definition);
}
