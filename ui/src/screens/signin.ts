// Sign in: credentials, then the challenges Cognito may ask for (a new password, an MFA code).
import { call, errorOf, kindOf } from "../api";
import type { SignInStepDto } from "../bindings";
import type { Ctx, Mounted } from "../context";
import { clear, h, setText } from "../dom";
import type { SignInStage, SignInState } from "../store";
import { unreachable } from "../state";

export function mountSignIn(root: HTMLElement, ctx: Ctx): Mounted {
  const { store, api } = ctx;
  const err = h("p", { class: "error", role: "alert", "data-testid": "signin-error" });
  const note = h("p", { class: "notice", role: "status", "data-testid": "signin-notice" });
  const form = h("form", { class: "card signin", "data-testid": "signin-form" });
  const input = (id: string, attrs: Record<string, string | number | boolean>) => h("input", { id, name: id, "data-testid": id, required: true, ...attrs });

  /** Sends one answer; the reducer moves the form on (or back, saying why). */
  const send = async (request: () => Promise<SignInStepDto>) => {
    store.dispatch({ type: "signin/submitted" });
    try {
      store.dispatch({ type: "signin/step", step: await request() });
    } catch (e) {
      store.dispatch({ type: "signin/failed", message: errorOf(e), kind: kindOf(e) });
    }
  };
  const back = () => h("button", { type: "button", class: "ghost", "data-testid": "signin-back", onclick: () => store.dispatch({ type: "signin/back" }) }, "Back");

  const build = (stage: SignInStage) => {
    switch (stage.view) {
      case "credentials": {
        const user = input("username", { autocomplete: "username", autofocus: true });
        const pass = input("password", { type: "password", autocomplete: "current-password" });
        clear(
          form,
          h("h1", {}, "Sign in to Mentorcast"),
          h("p", { class: "muted" }, "Use your mentor account to broadcast your classes."),
          h("label", { for: "username" }, "Username"),
          user,
          h("label", { for: "password" }, "Password"),
          pass,
          err,
          h("button", { type: "submit", class: "primary", "data-testid": "signin-submit" }, "Sign in"),
          note,
        );
        form.onsubmit = (ev) => {
          ev.preventDefault();
          const u = user.value, p = pass.value;
          void send(() => call(api.signIn(u, p)));
        };
        return;
      }
      case "new-password": {
        const a = input("new-password", { type: "password", autocomplete: "new-password", autofocus: true });
        const b = input("new-password-again", { type: "password", autocomplete: "new-password" });
        clear(
          form,
          h("h1", {}, "Choose a new password"),
          h("p", { class: "muted", "data-testid": "new-password-rules" }, `Your account has a temporary password. ${stage.rules}`),
          h("label", { for: "new-password" }, "New password"),
          a,
          h("label", { for: "new-password-again" }, "New password again"),
          b,
          err,
          h("button", { type: "submit", class: "primary", "data-testid": "new-password-submit" }, "Set password and sign in"),
          back(),
        );
        form.onsubmit = (ev) => {
          ev.preventDefault();
          const pw = a.value;
          if (pw !== b.value) return store.dispatch({ type: "signin/invalid", message: "The two passwords differ." });
          void send(() => call(api.answerNewPassword(pw)));
        };
        return;
      }
      case "mfa": {
        const code = input("mfa-code", { inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6, autofocus: true });
        clear(
          form,
          h("h1", {}, "Two-step verification"),
          h("p", { class: "muted" }, "Enter the 6-digit code from your authenticator app."),
          h("label", { for: "mfa-code" }, "Code"),
          code,
          err,
          h("button", { type: "submit", class: "primary", "data-testid": "mfa-submit" }, "Verify"),
          back(),
        );
        form.onsubmit = (ev) => {
          ev.preventDefault();
          const c = code.value;
          void send(() => call(api.answerMfa(c)));
        };
        return;
      }
      default:
        return unreachable(stage);
    }
  };

  let shown: SignInStage | null = null;
  const render = (s: SignInState) => {
    if (s.stage !== shown) {
      shown = s.stage;
      build(s.stage);
      form.querySelector<HTMLInputElement>("input")?.focus();
    }
    setText(err, s.error);
    setText(note, s.notice);
    form.querySelectorAll<HTMLInputElement | HTMLButtonElement>("input,button").forEach((el) => {
      if (el.disabled !== s.busy) el.disabled = s.busy;
    });
  };

  clear(root, h("main", { class: "center", "data-testid": "screen-signin" }, form));
  render(store.get().signIn);
  const off = store.subscribe((s, prev) => {
    if (s.signIn !== prev.signIn) render(s.signIn);
  });
  return { unmount: off };
}
