import { afterEach, describe, expect, it, vi } from "vitest";
import { mountSignIn } from "./signin";
import type { SignInStepDto } from "../bindings";
import { el, fail, fakeCtx, flush, me, ok, pending, text } from "../testing";
import type { SignInState } from "../store";

let root: HTMLElement;
afterEach(() => document.body.replaceChildren());

function mount(signIn?: Partial<SignInState>, api: NonNullable<Parameters<typeof fakeCtx>[0]>["api"] = {}) {
  root = document.createElement("div");
  document.body.append(root);
  const base = { stage: { view: "credentials" as const }, busy: false, error: "", notice: "" };
  const ctx = fakeCtx({ api, state: { session: { phase: "signed-out" }, signIn: { ...base, ...signIn } } });
  const screen = mountSignIn(root, ctx);
  return { ctx, screen };
}

function type(id: string, value: string) {
  el<HTMLInputElement>(root, id).value = value;
}
function signInAs(user = "mentor1", password = "pw") {
  type("username", user);
  type("password", password);
  submit();
}
function submit() {
  el<HTMLFormElement>(root, "signin-form").requestSubmit();
}

describe("Sign in: rendering each state", () => {
  it("credentials: username, password, Sign in; no error, no notice; the username focused", () => {
    mount();
    expect(el(root, "screen-signin").tagName).toBe("MAIN");
    expect(el<HTMLInputElement>(root, "username").type).toBe("text");
    expect(el<HTMLInputElement>(root, "password").type).toBe("password");
    expect(text(root, "signin-submit")).toBe("Sign in");
    expect(text(root, "signin-error")).toBe("");
    expect(text(root, "signin-notice")).toBe("");
    expect(root.querySelector('[data-testid="signin-back"]')).toBeNull();
    expect(document.activeElement).toBe(el(root, "username"));
    // labels point at their inputs
    expect(root.querySelector('label[for="username"]')).not.toBeNull();
    expect(document.getElementById("username")).toBe(el(root, "username"));
  });

  it("error and notice: shown as given", () => {
    mount({ error: "Wrong username or password.", notice: "Signed out. Your stored session was removed." });
    expect(text(root, "signin-error")).toBe("Wrong username or password.");
    expect(text(root, "signin-notice")).toBe("Signed out. Your stored session was removed.");
  });

  it("busy: every input and button disabled", () => {
    mount({ busy: true });
    for (const id of ["username", "password", "signin-submit"]) expect(el<HTMLInputElement>(root, id).disabled).toBe(true);
  });

  it("new password: the pool's rules, two fields, Set password, Back; no notice", () => {
    mount({ stage: { view: "new-password", rules: "At least 10 characters, with a digit." } });
    expect(text(root, "new-password-rules")).toBe("Your account has a temporary password. At least 10 characters, with a digit.");
    expect(el<HTMLInputElement>(root, "new-password").type).toBe("password");
    expect(el<HTMLInputElement>(root, "new-password-again").type).toBe("password");
    expect(text(root, "new-password-submit")).toBe("Set password and sign in");
    expect(text(root, "signin-back")).toBe("Back");
    expect(root.querySelector('[data-testid="username"]')).toBeNull();
    expect(root.querySelector('[data-testid="signin-notice"]')).toBeNull();
  });

  it("MFA: a 6-digit code field, Verify, Back", () => {
    mount({ stage: { view: "mfa" } });
    const code = el<HTMLInputElement>(root, "mfa-code");
    expect(code.getAttribute("maxlength")).toBe("6");
    expect(code.getAttribute("autocomplete")).toBe("one-time-code");
    expect(text(root, "mfa-submit")).toBe("Verify");
    expect(text(root, "signin-back")).toBe("Back");
    expect(document.activeElement).toBe(code);
  });
});

describe("Sign in: flows", () => {
  it("sends the credentials; the form is disabled while waiting; a refusal shows its message", async () => {
    const answer = pending<SignInStepDto>();
    const signIn = vi.fn(() => answer.promise);
    const { ctx } = mount({ notice: "Signed out." }, { signIn });
    type("username", "mentor1");
    type("password", "not-the-password");
    submit();
    expect(signIn).toHaveBeenCalledWith("mentor1", "not-the-password");
    expect(el<HTMLInputElement>(root, "username").disabled).toBe(true);
    expect(el<HTMLButtonElement>(root, "signin-submit").disabled).toBe(true);
    expect(text(root, "signin-notice")).toBe("");
    answer.resolve({ step: "signed_in", me: me() });
    await flush();
    expect(ctx.store.get().session).toEqual({ phase: "signed-in", me: me() });

    const m2 = mount({}, { signIn: () => fail("wrong_credentials", "Wrong username or password.") });
    signInAs();
    await flush();
    expect(text(root, "signin-error")).toBe("Wrong username or password.");
    expect(el<HTMLInputElement>(root, "username").disabled).toBe(false);
    expect(el<HTMLInputElement>(root, "username").value).toBe("mentor1"); // the form is not rebuilt
    expect(m2.ctx.store.get().session.phase).toBe("signed-out");
  });

  it("new password: mismatch is caught here; the policy's message; then signed in", async () => {
    const answerNewPassword = vi.fn((pw: string) => (pw === "short" ? fail("password_policy", "The password does not meet the password policy: at least 10 characters.") : ok({ step: "signed_in" as const, me: me("newmentor") })));
    const { ctx } = mount({}, { signIn: () => ok({ step: "new_password_required" as const, rules: "At least 10 characters." }), answerNewPassword });
    signInAs("newmentor");
    await flush();
    expect(text(root, "new-password-rules")).toContain("At least 10 characters.");
    expect(document.activeElement).toBe(el(root, "new-password"));
    type("new-password", "abcdefghijk1");
    type("new-password-again", "abcdefghijk2");
    submit();
    expect(text(root, "signin-error")).toBe("The two passwords differ.");
    expect(answerNewPassword).not.toHaveBeenCalled();
    type("new-password", "short");
    type("new-password-again", "short");
    submit();
    await flush();
    expect(answerNewPassword).toHaveBeenCalledWith("short");
    expect(text(root, "signin-error")).toContain("password policy");
    type("new-password", "Fresh-123-Pw9!");
    type("new-password-again", "Fresh-123-Pw9!");
    submit();
    await flush();
    expect(ctx.store.get().session).toEqual({ phase: "signed-in", me: me("newmentor") });
  });

  it("MFA: a wrong code is refused and the code field stays; an expired challenge returns to the credentials saying why", async () => {
    let n = 0;
    const answerMfa = vi.fn(() => (++n === 1 ? fail("wrong_mfa_code", "Wrong MFA code: try the current one.") : fail("signed_out", "The sign-in expired: sign in again.")));
    mount({}, { signIn: () => ok({ step: "mfa_required" as const }), answerMfa });
    signInAs("mfamentor");
    await flush();
    type("mfa-code", "123456");
    submit();
    await flush();
    expect(answerMfa).toHaveBeenCalledWith("123456");
    expect(text(root, "signin-error")).toBe("Wrong MFA code: try the current one.");
    expect(root.querySelector('[data-testid="mfa-code"]')).not.toBeNull();
    submit();
    await flush();
    expect(root.querySelector('[data-testid="mfa-code"]')).toBeNull();
    expect(root.querySelector('[data-testid="username"]')).not.toBeNull();
    expect(text(root, "signin-error")).toBe("The sign-in expired: sign in again.");
  });

  it("Back returns to the credentials without the challenge's error", async () => {
    mount({ stage: { view: "mfa" }, error: "Wrong MFA code." });
    el(root, "signin-back").click();
    expect(root.querySelector('[data-testid="username"]')).not.toBeNull();
    expect(text(root, "signin-error")).toBe("");
  });

  it("unmounted: no longer follows the state", () => {
    const { ctx, screen } = mount();
    screen.unmount();
    ctx.store.dispatch({ type: "signin/failed", message: "late", kind: null });
    expect(text(root, "signin-error")).toBe("");
  });
});
