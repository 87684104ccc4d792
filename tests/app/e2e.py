#!/usr/bin/env python3
"""End to end of the desktop app: the built `mentorcast-app` under Xvfb, driven
over W3C WebDriver (tauri-driver → WebKitWebDriver), against a real private
stack (nginx-rtmp, moto as Cognito, mentorcast-server) that scripts/app-harness.sh
started. Standard library only. Every wait is on a real condition with a timeout.

Flow: wrong password → its message; a temporary password → the new-password
screen (a password the pool refuses is explained; the new one signs in); MFA →
a wrong code is refused, the authenticator's code signs in; sign in as mentor1
→ Studio with the synthetic sources, the key masked (Reveal shows it), the
preview's stream open only while the preview is on screen (one connection;
none on another tab or with the window hidden, back after) → Go Live
(Ctrl+L) → the ingest receives a stream that `mentorcast verify` passes →
simulated viewers appear in the count → the ingest drops the stream →
"Reconnecting…" → Live again → End (Ctrl+E, with the confirmation) → the
recording appears in Recordings, one for the whole class, and plays (and seeks); a wrong stream key (QA
override) → "Stream key rejected"; the app restarted → still signed in (the
stored session) → Sign out → the sign-in form, the stored tokens gone.
Screenshots of sign-in, studio live (with viewers) and recordings go to
docs/screenshots/. On a failure the page's state and a screenshot are kept.
Elements are found by their `data-testid` (tid() here, $t() in the page's scripts): the
UI's stable addresses, not its ids or classes."""
import base64, hashlib, hmac, http.client, json, os, random, re, socket, struct, subprocess, sys, time, urllib.request, urllib.error

ENV = os.environ
APP = ENV["APP_BINARY"]
STACK = ENV["STACK_DIR"]
CLI = ENV["MENTORCAST_BIN"]
RTMP_PORT = ENV["RTMP_PORT"]
HTTP_PORT = ENV.get("HTTP_PORT")
SHOTS = ENV.get("SCREENSHOTS", "docs/screenshots")
USERS = json.load(open(os.path.join(STACK, "users.json")))


def tid(name):
    """The CSS selector of the element with that `data-testid`: the UI's stable addresses for
    this test (ui/src/screens/*.ts and ui/src/shell.ts set them), not its ids or classes."""
    return f'[data-testid="{name}"]'


# Put before every script this test runs in the page: $t(name) is the element with that
# data-testid (or null).
JS_PRELUDE = "const $t = (name) => document.querySelector('[data-testid=\"' + name + '\"]');"


def log(*a):
    print("[e2e-app]", *a, file=sys.stderr, flush=True)


def free_port():
    """A free port below the ephemeral range (see scripts/app-harness.sh), not one of the stack's."""
    taken = {ENV.get(k) for k in ("RTMP_PORT", "RTMPS_PORT", "HTTP_PORT", "SERVER_PORT", "COGNITO_PORT")}
    while True:
        p = random.randrange(20000, 32000)
        if str(p) in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                pass


class Driver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.sid = None

    def req(self, method, path, body=None, timeout=20):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(3):
            r = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(r, timeout=timeout) as resp:
                    return json.loads(resp.read() or b"{}").get("value")
            except urllib.error.HTTPError as e:
                raise RuntimeError(f"{method} {path}: {e.code} {e.read()[:500]!r}") from None
            except (http.client.RemoteDisconnected, ConnectionResetError, TimeoutError, socket.timeout) as e:
                # tauri-driver drops (or never answers) our request when its pooled keep-alive
                # connection to WebKitWebDriver was closed under it (hyper "IncompleteMessage" /
                # "SendRequest"): the request did not reach WebKit, so send it again. Every step
                # after a click waits on its effect, so a repeated click is harmless here.
                if attempt == 2:
                    raise
                log(f"{method} {path}: {e}; resending")

    def start(self):
        v = self.req("POST", "/session", {"capabilities": {"alwaysMatch": {"tauri:options": {"application": APP}}}}, timeout=120)
        self.sid = v["sessionId"]

    def stop(self):
        if self.sid:
            try:
                self.req("DELETE", f"/session/{self.sid}")
            except Exception as e:  # the session may already be gone
                log("session delete:", e)
            self.sid = None

    def s(self, path):
        return f"/session/{self.sid}{path}"

    def js(self, script, *args):
        return self.req("POST", self.s("/execute/sync"), {"script": JS_PRELUDE + script, "args": list(args)})

    def js_async(self, script, *args):
        return self.req("POST", self.s("/execute/async"), {"script": JS_PRELUDE + script, "args": list(args)}, timeout=30)

    def find(self, css):
        v = self.req("POST", self.s("/element"), {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def click(self, css):
        el = self.find(css)
        # as a user scrolls to it: WebKitWebDriver does not scroll an inner scrolling column
        self.js(f"const e = document.querySelector({json.dumps(css)}); if (e) e.scrollIntoView({{block: 'nearest'}});")
        self.req("POST", self.s(f"/element/{el}/click"), {})

    def type(self, css, text):
        el = self.find(css)
        self.req("POST", self.s(f"/element/{el}/clear"), {})
        if text:
            self.req("POST", self.s(f"/element/{el}/value"), {"text": text})

    def keys(self, *chords):
        """Presses each chord (e.g. ("ctrl", "l")) as real key events through WebDriver actions."""
        mods = {"ctrl": "\ue009", "shift": "\ue008", "alt": "\ue00a"}
        acts = []
        for chord in chords:
            ks = [mods.get(k, k) for k in chord]
            acts += [{"type": "keyDown", "value": k} for k in ks] + [{"type": "keyUp", "value": k} for k in reversed(ks)]
        self.req("POST", self.s("/actions"), {"actions": [{"type": "key", "id": "keyboard", "actions": acts}]})
        self.req("DELETE", self.s("/actions"))

    def dump(self):
        """What the page shows, for a failure's report (never raises)."""
        try:
            state = self.js(
                "const t = (name) => { const e = $t(name); return e ? e.textContent : null; };"
                "const b = $t('go-live');"
                "return {url: location.href, screen: [...document.querySelectorAll('[data-testid^=\"screen-\"]')].map(e => e.dataset.testid).join(),"
                " status: t('status-title'), detail: t('status-detail'), hint: t('source-hint'), error: t('signin-error'),"
                " golive: b ? {text: b.textContent, disabled: b.disabled} : null,"
                " camera: ($t('camera') || {}).value, mic: ($t('microphone') || {}).value,"
                " toasts: [...document.querySelectorAll('[data-testid=\"toast\"]')].map(e => e.textContent)};"
            )
            log("page state:", json.dumps(state))
            png = base64.b64decode(self.req("GET", self.s("/screenshot"), timeout=10))
            path = os.path.join(ENV.get("FAILURE_DIR", "target"), "app-e2e-failure.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(png)
            log("failure screenshot", path)
        except Exception as e:  # the session may be gone
            log("no page state:", e)

    def text(self, css):
        return self.js("const e=document.querySelector(arguments[0]); return e ? e.textContent : null;", css)

    def wait(self, what, fn, timeout=30, every=0.2):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            try:
                last = fn()
                if last:
                    return last
            except RuntimeError as e:
                last = e
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

    def wait_text(self, css, pred, timeout=30):
        seen = []

        def check():
            t = self.text(css)
            if not seen or seen[-1] != t:
                seen.append(t)
            return t if t is not None and pred(t) else None

        try:
            return self.wait(f"{css} text", check, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}; texts seen: {seen[-6:]!r}") from None

    def screenshot(self, name):
        # two animation frames, so the screenshot shows the current DOM (WebKit paints in software here)
        self.js_async("const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")
        png = base64.b64decode(self.req("GET", self.s("/screenshot")))
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, name)
        with open(path, "wb") as f:
            f.write(png)
        log("screenshot", path)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def start_driver():
    """tauri-driver, once it and the WebKitWebDriver it starts both accept connections."""
    port, native = free_port(), free_port()
    proc = subprocess.Popen(["tauri-driver", "--port", str(port), "--native-port", str(native)], stdout=sys.stderr, stderr=sys.stderr)
    d = Driver(port)
    d.wait("tauri-driver and WebKitWebDriver to listen", lambda: listening(port) and listening(native), timeout=30)
    return d, proc


def cli(*args, **kw):
    env = dict(ENV, MENTORCAST_CONFIG=os.path.join(STACK, "config.toml"))  # the stack's own config (the app's differs in auth_flow)
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, **kw)


def totp(secret, at=None, step=30):
    """RFC 6238 code (SHA-1, 6 digits) for a base32 secret: what an authenticator app shows."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int((at or time.time()) // step)), hashlib.sha1).digest()
    o = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def sign_in_form(d):
    d.wait("the sign-in form", lambda: d.js("return !!$t('username') && !$t('username').disabled"), timeout=30)


def submit_credentials(d, username, password):
    sign_in_form(d)
    d.type(tid("username"), username)
    d.type(tid("password"), password)
    d.click(tid("signin-submit"))


def sign_out(d):
    d.click(tid("sign-out"))
    sign_in_form(d)


def new_password_challenge(d):
    """A temporary password leads to the new-password screen; the pool's rules are checked first."""
    submit_credentials(d, "newmentor", USERS["newmentor"]["password"])
    d.wait("the new-password form", lambda: d.js("return !!$t('new-password')"), timeout=30)
    rules = d.text(tid("new-password-rules"))
    assert "at least 10 characters" in rules, rules
    assert d.text(tid("signin-error")) == "", "a stale error on the new-password screen"
    d.type(tid("new-password"), "short")
    d.type(tid("new-password-again"), "short")
    d.click(tid("new-password-submit"))
    msg = d.wait_text(tid("signin-error"), lambda t: t.strip() != "", timeout=15)
    assert "at least 10 characters" in msg and "password policy" in msg, msg
    d.screenshot("sign-in-new-password.png")
    fresh = f"Fresh-{os.getpid()}-Pw9!"
    d.type(tid("new-password"), fresh)
    d.type(tid("new-password-again"), fresh)
    d.click(tid("new-password-submit"))
    d.wait_text(tid("whoami"), lambda t: t == "newmentor", timeout=30)
    sign_out(d)
    # the new password is the password now
    submit_credentials(d, "newmentor", fresh)
    d.wait_text(tid("whoami"), lambda t: t == "newmentor", timeout=30)
    sign_out(d)
    log("new-password challenge: ok")


def mfa_challenge(d):
    """TOTP MFA: a wrong code is refused with its message, the authenticator's code signs in."""
    secret = USERS["mfamentor"]["totp_secret"]
    submit_credentials(d, "mfamentor", USERS["mfamentor"]["password"])
    d.wait("the MFA form", lambda: d.js("return !!$t('mfa-code')"), timeout=30)
    now = time.time()
    wrong = next(c for c in (f"{(int(totp(secret, now)) + k) % 1_000_000:06d}" for k in range(1, 10))
                 if c not in {totp(secret, now + dt) for dt in (-60, -30, 0, 30, 60)})
    d.type(tid("mfa-code"), wrong)
    d.click(tid("mfa-submit"))
    msg = d.wait_text(tid("signin-error"), lambda t: t.strip() != "", timeout=15)
    assert msg.lower().startswith("wrong mfa code"), msg
    d.screenshot("sign-in-mfa.png")
    if d.js("return !!$t('mfa-code')"):
        d.type(tid("mfa-code"), totp(secret))
        d.click(tid("mfa-submit"))
    else:  # the pool ended that sign-in: the app is back at the credentials, saying why
        log("MFA: the challenge ended after the wrong code; signing in again:", d.text(tid("signin-error")))
        submit_credentials(d, "mfamentor", USERS["mfamentor"]["password"])
        d.wait("the MFA form", lambda: d.js("return !!$t('mfa-code')"), timeout=30)
        d.type(tid("mfa-code"), totp(secret))
        d.click(tid("mfa-submit"))
    d.wait_text(tid("whoami"), lambda t: t == "mfamentor", timeout=30)
    sign_out(d)
    log("MFA challenge: ok")


def set_override(d, url, key=None):
    """Settings → the QA ingest override (an empty URL removes it) → Saved."""
    d.click(tid("tab-settings"))
    d.wait("settings", lambda: d.js("return !!$t('override-url')"), timeout=20)
    d.type(tid("override-url"), url)
    if key is not None:
        d.type(tid("override-key"), key)
    d.click(tid("save-settings"))
    d.wait_text(tid("settings-msg"), lambda t: t == "Saved.", timeout=10)


def open_studio(d):
    """Studio, once Go Live is usable and the channel card has loaded (nothing moves after)."""
    d.click(tid("tab-studio"))
    d.wait("the studio, loaded", lambda: d.js("const b=$t('go-live'); return b && !b.disabled && !!$t('channel-app')"), timeout=20)


def preview_connections(port):
    """Established TCP connections to 127.0.0.1:port (the preview stream's), from /proc/net/tcp."""
    n = 0
    for line in open("/proc/net/tcp").readlines()[1:]:
        f = line.split()
        if f[3] == "01" and int(f[2].split(":")[1], 16) == port:  # ESTABLISHED, remote port
            n += 1
    return n


def preview_follows_the_screen(d):
    """WebKit keeps reading a multipart <img> load after the image is gone: the app must end
    the stream itself. One connection while shown; none on another tab or with the window
    hidden (the visibilitychange the window gets when minimised); frames again after."""
    port = int(d.js("return new URL($t('preview').src).port"))
    d.wait("one preview connection", lambda: preview_connections(port) == 1, timeout=10)
    d.click(tid("tab-recordings"))
    d.wait("no preview connection on Recordings", lambda: preview_connections(port) == 0, timeout=10)
    open_studio(d)
    d.wait("preview frames again", lambda: d.js("const i=$t('preview'); return i.classList.contains('has-frame') && i.naturalWidth > 0"), timeout=30)
    d.wait("one preview connection after the tab switch", lambda: preview_connections(port) == 1, timeout=10)
    hide = "Object.defineProperty(document, 'hidden', {configurable: true, get: () => %s}); document.dispatchEvent(new Event('visibilitychange'));"
    d.js(hide % "true")
    d.wait("no preview connection while hidden", lambda: preview_connections(port) == 0, timeout=10)
    d.js("$t('preview').classList.remove('has-frame');" + hide % "false")
    d.wait("preview frames after showing", lambda: d.js("const i=$t('preview'); return i.classList.contains('has-frame') && i.naturalWidth > 0"), timeout=30)
    assert preview_connections(port) == 1, preview_connections(port)


def watch_titles(d):
    """Records every status title the page shows from now on (a transient one such as
    "Reconnecting…" may last less than one WebDriver round trip)."""
    d.js("window.__titles = []; const el = $t('status-title');"
         "window.__titlesObs && window.__titlesObs.disconnect();"
         "window.__titlesObs = new MutationObserver(() => window.__titles.push(el.textContent));"
         "window.__titlesObs.observe(el, {childList: true, characterData: true, subtree: true});")


def main():
    # WebDriver screenshots hang when WebKit draws without accelerated compositing (what it
    # chooses by itself with no GPU, as under Xvfb): keep compositing on for this test.
    os.environ.setdefault("WEBKIT_DISABLE_COMPOSITING_MODE", "0")
    d, driver_proc = start_driver()
    sim = None
    try:
        t0 = time.time()
        d.start()
        sign_in_form(d)
        log(f"session + sign-in form in {time.time() - t0:.2f}s")
        d.screenshot("sign-in.png")

        # wrong password: the sign-in message the CLI gives too
        submit_credentials(d, "mentor1", "not-the-password-1A!")
        msg = d.wait_text(tid("signin-error"), lambda t: t.strip() != "", timeout=30)
        assert msg == "Wrong username or password.", msg
        d.screenshot("sign-in-wrong-password.png")

        new_password_challenge(d)
        mfa_challenge(d)

        # sign in
        submit_credentials(d, "mentor1", USERS["mentor1"]["password"])
        d.wait_text(tid("whoami"), lambda t: t == "mentor1", timeout=30)
        app = d.wait_text(tid("channel-app"), lambda t: t.startswith("room-"), timeout=30)
        log("channel", app)
        # the key: masked with nothing of the secret shown; Reveal shows it, Hide masks it again
        key_masked = d.text(tid("stream-key"))
        assert key_masked == "sk_" + "•" * 12, key_masked
        d.click(tid("reveal-key"))
        key = d.wait_text(tid("stream-key"), lambda t: "•" not in t, timeout=10)
        assert key.startswith("sk_") and len(key) >= 20, "revealed key looks wrong"
        d.click(tid("reveal-key"))
        d.wait_text(tid("stream-key"), lambda t: t == key_masked, timeout=10)
        assert key not in d.js("return document.body.innerHTML"), "the key stays in the page after Hide"
        d.wait("preview frames", lambda: d.js("const i=$t('preview'); return i.classList.contains('has-frame') && i.naturalWidth > 0"), timeout=30)
        assert d.js("return $t('camera').value") == "synthetic"
        preview_follows_the_screen(d)
        assert d.js("return $t('microphone').value") == "synthetic"
        d.wait("mic level", lambda: d.js("const m = /scaleX\\(([0-9.]+)\\)/.exec($t('meter-fill').style.transform); return !!m && parseFloat(m[1]) > 0"), timeout=10)

        # Test connection (through the ingest's test application; nothing goes on air): on
        # loopback the top preset is recommended, and "Use this" puts it in the form
        d.click(tid("test-connection"))
        result = d.wait_text(tid("connection-result"), lambda t: t.startswith("Upload"), timeout=20)
        log("connection test:", result)
        assert "Recommended: 1080p30" in result, result
        d.click(tid("apply-recommendation"))
        d.wait("the recommendation applied", lambda: d.js("return $t('preset').value") == "p1080p30", timeout=5)
        # back to 720p30 for the broadcast below
        d.js("const p=$t('preset'); p.value='p720p30'; p.dispatchEvent(new Event('change', {bubbles: true}))")
        d.wait("720p30 again", lambda: d.js("return $t('preset').value + ' ' + $t('bitrate').value") == "p720p30 3000", timeout=5)

        # go live with the keyboard shortcut
        d.keys(("ctrl", "l"))
        d.wait_text(tid("status-title"), lambda t: t.startswith("Live"), timeout=40)
        live_at = time.time()
        log("live")

        # the ingest receives a stream that verify passes
        url = f"rtmp://127.0.0.1:{RTMP_PORT}/{app}/{app}"
        v = cli("verify", url, "--max-duration", "8", "--json", timeout=90)
        log("verify exit", v.returncode, v.stdout.strip()[-400:], v.stderr.strip()[-400:])
        assert v.returncode == 0, f"verify failed: {v.stdout}\n{v.stderr}"

        # simulated viewers appear in the count (pushed over SSE)
        sim = subprocess.Popen([CLI, "simulate-viewers", "--app", app, "--count", "5", "--duration", "60"], env=dict(ENV, MENTORCAST_CONFIG=os.path.join(STACK, "config.toml")), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        d.wait_text(tid("viewers-active"), lambda t: t.isdigit() and int(t) >= 5, timeout=20)
        peak = int(d.text(tid("viewers-peak")))
        assert peak >= 5, peak
        d.wait("health figures", lambda: d.text(tid("health-fps")) not in (None, "–") and d.text(tid("health-bitrate")) not in (None, "–"), timeout=10)
        d.screenshot("studio-live.png")

        # the ingest drops the stream: "Reconnecting…", then live again by itself
        watch_titles(d)
        with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/control/drop/publisher?app={app}", timeout=10) as r:
            dropped = r.read().decode().strip()
        assert dropped == "1", f"nginx dropped {dropped!r} publishers"
        d.wait("Reconnecting… then Live", lambda: (lambda t: any(x.startswith("Reconnecting") for x in t) and t[-1].startswith("Live"))(d.js("return window.__titles")), timeout=40)
        log("reconnected; titles seen:", d.js("return window.__titles"))
        # what is sent after the reconnect reaches the ingest and verifies too
        v = cli("verify", url, "--max-duration", "3", "--json", timeout=60)
        assert v.returncode == 0, f"verify after the reconnect failed: {v.stdout}\n{v.stderr}"

        # end with the keyboard shortcut, which asks for the confirmation too
        d.keys(("ctrl", "e"))
        d.wait("the end confirmation", lambda: d.js("return !!$t('confirm-end')"), timeout=5)
        d.screenshot("studio-end-confirm.png")
        d.click(tid("confirm-end"))
        d.wait_text(tid("status-title"), lambda t: t == "Ended", timeout=30)
        class_s = time.time() - live_at
        if sim:
            sim.terminate()
            sim.wait(10)
            sim = None

        # the recording appears and plays
        d.click(tid("tab-recordings"))

        def recording_listed():
            if d.js("return document.querySelectorAll('[data-testid=\"recording\"]').length") > 0:
                return True
            d.click(tid("refresh-recordings"))
            time.sleep(1.5)  # one refresh per 1.5 s while the server remuxes (the wait is bounded below)
            return False

        d.wait("a recording in the list", recording_listed, timeout=120, every=0.1)

        # the class was cut once (the dropped publisher) and is still one recording:
        # it grows to the whole class when the ingest's second piece is joined
        def whole_class():
            n = d.js("return document.querySelectorAll('[data-testid=\"recording\"]').length")
            assert n == 1, f"{n} recordings of one class"
            d.click(tid("recording"))
            time.sleep(1.0)  # metadata of the clicked recording (the wait is bounded below)
            dur = d.js("const v=$t('player-video'); return v ? v.duration : null") or 0
            if dur >= class_s - 4:
                log(f"one recording of {dur:.1f} s for a {class_s:.1f} s class")
                return True
            d.click(tid("refresh-recordings"))
            time.sleep(1.0)
            return False

        d.wait("one recording of the whole class", whole_class, timeout=90, every=0.1)
        d.wait("the thumbnail", lambda: d.js("const i=$t('recording-thumb'); return i && i.complete && i.naturalWidth > 0"), timeout=20)
        d.click(tid("recording"))
        def video_loaded():
            st = d.js("const v=$t('player-video'); return v ? {ready: v.readyState, dur: v.duration, err: v.error && v.error.code, net: v.networkState} : null")
            if st and st.get("err"):
                raise AssertionError(f"the video failed to load: {st}")
            return st and st["ready"] >= 2 and (st["dur"] or 0) > 1

        d.wait("the video to load", video_loaded, timeout=30)
        d.js_async(
            "const done = arguments[arguments.length-1]; const v=$t('player-video');"
            "v.muted = true; v.play().catch(()=>{});"
            "v.addEventListener('seeked', () => done(v.currentTime), {once: true}); v.currentTime = Math.min(3, v.duration / 2);"
        )
        d.wait("playback to advance", lambda: d.js("const v=$t('player-video'); return v.currentTime > 0.5 && !v.error"), timeout=20)
        d.screenshot("recordings.png")

        # the broadcast's local copy (on by default, in the videos folder) is listed under
        # "On this computer" and plays: verify decodes it, every frame the encoder made
        d.wait("a local copy", lambda: d.js("return document.querySelectorAll('[data-testid=\"local-copy-item\"]').length") > 0, timeout=20)
        copy = d.js("return $t('local-copy-item').dataset.path")
        assert copy.startswith(os.path.join(ENV["HOME"], "Videos", "Mentorcast") + "/"), copy
        meta = d.text(tid("local-copy-meta"))
        assert not meta.startswith("–"), meta
        v = cli("verify", copy, "--json", timeout=120)
        assert v.returncode == 0, f"verify of the local copy failed: {v.stdout}\n{v.stderr}"
        rep = json.loads(v.stdout)
        log("local copy", copy, meta, "frames", rep["frames_received"], "lost", rep["frames_lost"], "duration", rep["duration_s"])
        assert rep["duration_s"] > 10 and rep["frames_lost"] <= rep["frames_expected"] * 0.02, rep

        # wrong key: through the QA override to the same ingest
        set_override(d, f"rtmp://127.0.0.1:{RTMP_PORT}/{app}", "sk_wrong-key")
        d.screenshot("settings.png")
        open_studio(d)
        d.click(tid("go-live"))
        d.wait_text(tid("status-title"), lambda t: t == "Stream key rejected", timeout=40)
        detail = d.text(tid("status-detail"))
        assert "refused the stream key" in detail, detail
        d.screenshot("studio-key-rejected.png")

        # a slow link: through the CLI's fault proxy, throttled to 650 kbit/s under the 3 Mb/s
        # broadcast, the Studio says the quality was lowered (bitrate and a smaller picture);
        # when the link is clear again the quality comes back and the notice goes
        proxy = subprocess.Popen([CLI, "fault-proxy", "--upstream", f"127.0.0.1:{RTMP_PORT}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            listening = proxy.stdout.readline().strip()
            assert listening.startswith("listening "), listening
            set_override(d, f"rtmp://{listening.split(' ', 1)[1]}/{app}", key)
            open_studio(d)
            d.click(tid("go-live"))
            d.wait_text(tid("status-title"), lambda t: t.startswith("Live"), timeout=40)
            proxy.stdin.write("throttle 650\n")
            proxy.stdin.flush()
            # down to a bitrate under the link, at a smaller picture than the 720p asked for
            def stepped_down(t):
                m = re.fullmatch(r"Your connection is slow — quality lowered to .+ at (\d+)p", t or "")
                return bool(m) and int(m.group(1)) < 720
            notice = d.wait_text(tid("slow-notice"), stepped_down, timeout=20)
            log("slow link:", notice)
            d.screenshot("studio-slow-connection.png")
            proxy.stdin.write("clear\n")
            proxy.stdin.flush()
            d.wait("the notice to clear", lambda: d.js("return $t('slow-notice').hidden"), timeout=60)
            d.click(tid("go-live"))
            d.wait("the end confirmation", lambda: d.js("return !!$t('confirm-end')"), timeout=5)
            d.click(tid("confirm-end"))
            d.wait_text(tid("status-title"), lambda t: t == "Ended", timeout=30)
        finally:
            proxy.kill()
            proxy.wait(10)
        # leave the override empty again
        set_override(d, "")

        # the session is remembered across a restart of the app; Sign out forgets it
        d.stop()
        d.start()
        d.wait_text(tid("whoami"), lambda t: t == "mentor1", timeout=30)
        tokens = os.path.join(ENV["HOME"], ".config", "mentorcast", "tokens.json")
        assert os.path.exists(tokens), "no stored session"
        sign_out(d)
        d.wait_text(tid("signin-notice"), lambda t: t.startswith("Signed out"), timeout=10)
        assert d.text(tid("signin-error")) == "", d.text(tid("signin-error"))
        assert not os.path.exists(tokens) or "refresh" not in open(tokens).read().lower(), "tokens left after sign-out"
        log("PASS")
        print("1 passed, 0 failed")
    except Exception:
        if d.sid:
            d.dump()
        raise
    finally:
        if sim:
            sim.terminate()
        d.stop()
        driver_proc.terminate()
        try:
            driver_proc.wait(10)
        except subprocess.TimeoutExpired:
            driver_proc.kill()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        log("FAIL:", e)
        print("0 passed, 1 failed")
        sys.exit(1)
