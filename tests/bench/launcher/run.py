#!/usr/bin/env python3
"""Launcher timings (issue: camcast launcher), each repeated and reported as p50 and max:

  start    camcast start (the default preset, test pattern, 1280x720) to the first keyframe
           fragment at a WebSocket viewer of /video                       target <= 1.5 s
  demand   an on-demand pipeline in READY: viewer connects -> first keyframe  target <= 1 s
  restart  a pipeline failing every 1.5 s (back-off 100 ms): its error -> the first keyframe
           of the new pipeline at the viewer that stayed connected, minus the back-off
                                                                          target <= 1 s

  python3 tests/bench/launcher/run.py [RUNS]      (after a build in build/)
"""
import base64, os, signal, socket, statistics, subprocess, sys, threading, time

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
CAMCAST = os.path.join(ROOT, 'build', 'launcher', 'camcast')
FIXTURES = os.path.join(ROOT, 'tests', 'launcher', 'fixtures')
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Viewer:
    """A WebSocket client of msesink: reads messages, tells text from binary."""

    def __init__(self, port, path='/video', timeout=10):
        # Until the stream is there: the port may not listen yet, or serve other paths first.
        deadline = time.monotonic() + timeout
        while not self._handshake(port, path):
            if time.monotonic() > deadline:
                raise RuntimeError(f'no stream at {path} on port {port}')
            time.sleep(0.005)

    def _handshake(self, port, path):
        try:
            self.sock = socket.create_connection(('127.0.0.1', port), timeout=5)
        except OSError:
            return False
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'
                           f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
                           'Sec-WebSocket-Version: 13\r\n\r\n').encode())
        self.buf = b''
        try:
            while b'\r\n\r\n' not in self.buf:
                self.buf += self._recv()
        except (OSError, EOFError):
            self.sock.close()
            return False
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        if b' 101 ' not in head.split(b'\r\n')[0]:
            self.sock.close()
            return False
        self.sock.settimeout(60)  # a back-off step may be long
        return True

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError('closed')
        return data

    def message(self):
        while True:
            if len(self.buf) >= 2:
                n, at = self.buf[1] & 0x7F, 2
                if n == 126 and len(self.buf) >= 4:
                    n, at = int.from_bytes(self.buf[2:4], 'big'), 4
                elif n == 127 and len(self.buf) >= 10:
                    n, at = int.from_bytes(self.buf[2:10], 'big'), 10
                if n < 126 or at > 2:
                    if len(self.buf) >= at + n:
                        op, payload = self.buf[0] & 0x0F, self.buf[at:at + n]
                        self.buf = self.buf[at + n:]
                        return op, payload
            self.buf += self._recv()

    def first_keyframe(self):
        """Reads until a keyframe fragment (after the description and init segment)."""
        while True:
            op, payload = self.message()
            if op == 2 and b'moof' in payload and b'\x02\x00\x00\x00' in payload:
                return time.monotonic()

    def close(self):
        self.sock.close()


class Camcast:
    def __init__(self, *args):
        self.lines = []
        self.proc = subprocess.Popen([CAMCAST, *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def report(name, values, target):
    values = sorted(values)
    print(f'{name:8} p50 {statistics.median(values) * 1000:7.0f} ms   max {values[-1] * 1000:7.0f} ms'
          f'   runs {len(values)}   target <= {target * 1000:.0f} ms')


def bench_start():
    times = []
    for _ in range(RUNS):
        port = free_port()
        t0 = time.monotonic()
        c = Camcast('--port', str(port), '--no-auth')
        v = Viewer(port)
        times.append(v.first_keyframe() - t0)
        v.close()
        c.stop()
    report('start', times, 1.5)


def bench_demand():
    port = free_port()
    c = Camcast('run', os.path.join(FIXTURES, 'on-demand.pipeline'), '--port', str(port),
                '--no-auth')
    times = []
    time.sleep(1)
    for _ in range(RUNS):
        t0 = time.monotonic()
        v = Viewer(port)
        times.append(v.first_keyframe() - t0)
        v.close()
        time.sleep(1.5)  # on-demand-linger is 1 s: the camera is off again
    c.stop()
    report('demand', times, 1.0)


def bench_restart():
    port = free_port()
    c = Camcast('run', os.path.join(FIXTURES, 'fails.pipeline'), '--port', str(port),
                '--no-auth')
    v = Viewer(port)
    v.first_keyframe()
    times = []
    # The back-off doubles with each failure (100 ms, 200 ms, …): six steps is enough.
    while len(times) < min(RUNS, 6):
        while True:  # the new pipeline's description
            op, payload = v.message()
            if op == 1:
                break
        got = v.first_keyframe()
        errors = [t for t, line in c.lines if 'restarting in' in line]
        # The back-off doubles after each failure and resets after 10 healthy seconds: read it.
        line = [line for t, line in c.lines if 'restarting in' in line][-1]
        backoff = int(line.rsplit('restarting in ', 1)[1].split()[0]) / 1000
        times.append(got - errors[-1] - backoff)
    v.close()
    c.stop()
    report('restart', times, 1.0)


if __name__ == '__main__':
    if not os.path.exists(CAMCAST):
        sys.exit('build first: meson setup build && ninja -C build')
    bench_start()
    bench_demand()
    bench_restart()
