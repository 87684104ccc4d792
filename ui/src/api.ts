// The generated bindings, with command results unwrapped (errors thrown as UiError).
import { commands, events } from "./bindings";
import type { ErrorKindDto, UiError } from "./bindings";
import { errorText } from "./state";

export type Result<T, E> = { status: "ok"; data: T } | { status: "error"; error: E };

/** The app's commands (the generated `commands`; tests pass fakes of the same type). */
export type Api = typeof commands;

export class CommandError extends Error {
  constructor(public readonly error: UiError) {
    super(error.message);
  }
}

export async function call<T>(p: Promise<Result<T, UiError>>): Promise<T> {
  const r = await p;
  if (r.status === "error") throw new CommandError(r.error);
  return r.data;
}

/** A failure as the sentence to show. */
export function errorOf(e: unknown): string {
  return e instanceof CommandError ? e.error.message : errorText(e);
}

/** A command failure's kind (null for anything else, e.g. a thrown exception). */
export function kindOf(e: unknown): ErrorKindDto | null {
  return e instanceof CommandError ? e.error.kind : null;
}

export { commands, events };
