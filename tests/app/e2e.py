#!/usr/bin/env python3
"""End to end of the desktop app: the built `mentorcast-app` under Xvfb, driven
over W3C WebDriver (tauri-driver → WebKitWebDriver), against a real private
stack (nginx-rtmp, moto as Cognito, mentorcast-server) that scripts/test-app.sh
started. Standard library only. Every wait is on a real condition with a timeout.

Flow: wrong password → its message; sign in as mentor1 → Studio with the
synthetic sources → Go Live → the ingest receives a stream that
`mentorcast verify` passes → simulated viewers appear in the count → End (with
the confirmation) → the recording appears in Recordings and plays (and seeks);
a wrong stream key (QA override) → "Stream key rejected". Screenshots of
sign-in, studio live (with viewers) and recordings go to docs/screenshots/."""
import base64, http.client, json, os, socket, subprocess, sys, time, urllib.request, urllib.error

ENV = os.environ
APP = ENV["APP_BINARY"]
STACK = ENV["STACK_DIR"]
CLI = ENV["MENTORCAST_BIN"]
RTMP_PORT = ENV["RTMP_PORT"]
SHOTS = ENV.get("SCREENSHOTS", "docs/screenshots")
USERS = json.load(open(os.path.join(STACK, "users.json")))


def log(*a):
    print("[e2e-app]", *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


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
        return self.req("POST", self.s("/execute/sync"), {"script": script, "args": list(args)})

    def js_async(self, script, *args):
        return self.req("POST", self.s("/execute/async"), {"script": script, "args": list(args)}, timeout=30)

    def find(self, css):
        v = self.req("POST", self.s("/element"), {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def click(self, css):
        self.req("POST", self.s(f"/element/{self.find(css)}/click"), {})

    def type(self, css, text):
        el = self.find(css)
        self.req("POST", self.s(f"/element/{el}/clear"), {})
        if text:
            self.req("POST", self.s(f"/element/{el}/value"), {"text": text})

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
        # two animation frames, so the screenshot shows the current DOM (CONTEXT §5)
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


def main():
    d, driver_proc = start_driver()
    sim = None
    try:
        t0 = time.time()
        d.start()
        d.wait("the sign-in form", lambda: d.js("return !!document.getElementById('username')"), timeout=30)
        log(f"session + sign-in form in {time.time() - t0:.2f}s")
        d.screenshot("sign-in.png")

        # wrong password: issue 3's message
        d.type("#username", "mentor1")
        d.type("#password", "not-the-password-1A!")
        d.click("#signin-submit")
        msg = d.wait_text("#signin-error", lambda t: t.strip() != "", timeout=30)
        assert msg == "Wrong username or password.", msg
        d.screenshot("sign-in-wrong-password.png")

        # sign in
        d.type("#password", USERS["mentor1"]["password"])
        d.click("#signin-submit")
        d.wait_text("#whoami", lambda t: t == "mentor1", timeout=30)
        app = d.wait_text("#channel-app", lambda t: t.startswith("room-"), timeout=30)
        log("channel", app)
        key_masked = d.text("#stream-key")
        assert "•" in key_masked, key_masked
        d.wait("preview frames", lambda: d.js("const i=document.getElementById('preview'); return i.classList.contains('has-frame') && i.naturalWidth > 0"), timeout=30)
        assert d.js("return document.getElementById('camera').value") == "synthetic"
        assert d.js("return document.getElementById('mic').value") == "synthetic"
        d.wait("mic level", lambda: d.js("return parseFloat(document.getElementById('meter-fill').style.width || '0') > 0"), timeout=10)

        # go live
        d.click("#golive")
        d.wait_text("#status-title", lambda t: t.startswith("Live"), timeout=40)
        log("live")

        # the ingest receives a stream that verify passes
        url = f"rtmp://127.0.0.1:{RTMP_PORT}/{app}/{app}"
        v = cli("verify", url, "--max-duration", "8", "--json", timeout=90)
        log("verify exit", v.returncode, v.stdout.strip()[-400:], v.stderr.strip()[-400:])
        assert v.returncode == 0, f"verify failed: {v.stdout}\n{v.stderr}"

        # simulated viewers appear in the count (pushed over SSE)
        sim = subprocess.Popen([CLI, "simulate-viewers", "--app", app, "--count", "5", "--duration", "30"], env=dict(ENV, MENTORCAST_CONFIG=os.path.join(STACK, "config.toml")), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        d.wait_text("#viewers-active", lambda t: t.isdigit() and int(t) >= 5, timeout=20)
        peak = int(d.text("#viewers-peak"))
        assert peak >= 5, peak
        d.wait("health figures", lambda: d.text("#health-fps") not in (None, "–") and d.text("#health-bitrate") not in (None, "–"), timeout=10)
        d.screenshot("studio-live.png")

        # end, with the confirmation
        d.click("#golive")
        d.wait("the end confirmation", lambda: d.js("return !!document.getElementById('confirm-end')"), timeout=5)
        d.screenshot("studio-end-confirm.png")
        d.click("#confirm-end")
        d.wait_text("#status-title", lambda t: t == "Ended", timeout=30)
        if sim:
            sim.terminate()
            sim.wait(10)
            sim = None

        # the recording appears and plays
        d.click("#nav-recordings")

        def recording_listed():
            if d.js("return document.querySelectorAll('.recording').length") > 0:
                return True
            d.click("#refresh-recordings")
            time.sleep(1.5)  # one refresh per 1.5 s while the server remuxes (the wait is bounded below)
            return False

        d.wait("a recording in the list", recording_listed, timeout=120, every=0.1)
        d.wait("the thumbnail", lambda: d.js("const i=document.querySelector('.recording img'); return i && i.complete && i.naturalWidth > 0"), timeout=20)
        d.click(".recording")
        def video_loaded():
            st = d.js("const v=document.getElementById('player-video'); return v ? {ready: v.readyState, dur: v.duration, err: v.error && v.error.code, net: v.networkState} : null")
            if st and st.get("err"):
                raise AssertionError(f"the video failed to load: {st}")
            return st and st["ready"] >= 2 and (st["dur"] or 0) > 1

        d.wait("the video to load", video_loaded, timeout=30)
        d.js_async(
            "const done = arguments[arguments.length-1]; const v=document.getElementById('player-video');"
            "v.muted = true; v.play().catch(()=>{});"
            "v.addEventListener('seeked', () => done(v.currentTime), {once: true}); v.currentTime = Math.min(3, v.duration / 2);"
        )
        d.wait("playback to advance", lambda: d.js("const v=document.getElementById('player-video'); return v.currentTime > 0.5 && !v.error"), timeout=20)
        d.screenshot("recordings.png")

        # wrong key: through the QA override to the same ingest
        d.click("#nav-settings")
        d.wait("settings", lambda: d.js("return !!document.getElementById('override-url')"), timeout=20)
        d.type("#override-url", f"rtmp://127.0.0.1:{RTMP_PORT}/{app}")
        d.type("#override-key", "sk_wrong-key")
        d.click("#save-settings")
        d.wait_text("#settings-msg", lambda t: t == "Saved.", timeout=10)
        d.screenshot("settings.png")
        d.click("#nav-studio")
        d.wait("studio", lambda: d.js("return !!document.getElementById('golive') && !document.getElementById('golive').disabled"), timeout=20)
        d.click("#golive")
        d.wait_text("#status-title", lambda t: t == "Stream key rejected", timeout=40)
        detail = d.text("#status-detail")
        assert "refused the stream key" in detail, detail
        d.screenshot("studio-key-rejected.png")
        # leave the override empty again
        d.click("#nav-settings")
        d.wait("settings", lambda: d.js("return !!document.getElementById('override-url')"), timeout=20)
        d.type("#override-url", "")
        d.click("#save-settings")
        d.wait_text("#settings-msg", lambda t: t == "Saved.", timeout=10)
        log("PASS")
        print("1 passed, 0 failed")
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
