// The generated bindings, with command results unwrapped (errors thrown as UiError).
import { commands, events } from "./bindings";
import type { UiError } from "./bindings";

export type Result<T, E> = { status: "ok"; data: T } | { status: "error"; error: E };

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

export { commands, events };
