#!/usr/bin/env python3
"""Every example in README.md, run as a new user would run it, so the README cannot drift.

- Each fenced `ini` block is a pipeline file: `camcast check` must find no problem. The first
  one is also `my-cam.pipeline`, the file the README's `camcast` commands name.
- Each `camcast ...` line runs: a command that only prints (show, check, list, probe) must exit
  0; one that serves runs with `--port 0` until it prints where to watch, then SIGTERM must end
  it with 0. A line that names a host of the reader's own (relay.example, whip.example,
  server:8890) is resolved with `camcast show` instead, since nothing here answers for that host;
  its case says so ("not run here"), not that it publishes (tests/browser/whip.test.mjs runs the
  whip preset against a real WHIP server).
- Each `openssl ...` line runs in the test's directory (its files stand in for /etc/camcast).
- Each `gst-launch-1.0 ...` line runs for a few frames, with what this machine lacks replaced:
  the camera (libcamerasrc, v4l2src) by a live test pattern, a microphone (alsasrc) by a tone,
  the Pi's V4L2 encoders by their software equivalents (the table below), port 8080 (given or
  by default) by a free port, and RTSP's 8554 by any free one. It must reach the end of its
  frames without an error or an element's warning (a source that never ends — relaysrc — must run 3 s without one).

Usage: check_readme.py README CAMCAST_EXE    (TAP on stdout)
"""
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

README, CAMCAST = sys.argv[1], sys.argv[2]
FRAMES = 30  # per video source; a test pattern at 15-30 frames/s ends within 2 s

# What the README's Pi and camera examples use, and what stands in for it here.
STAND_INS = [
    (r'\blibcamerasrc\b', 'videotestsrc is-live=true'),
    (r'\bv4l2src\b', 'videotestsrc is-live=true'),
    (r'\balsasrc(\s+device=\S+)?', 'audiotestsrc is-live=true'),
    (r'\bv4l2convert\b', 'videoconvert'),
    (r'\bv4l2h264enc(\s+[\w-]+=("[^"]*"|\S+))*', 'x264enc tune=zerolatency speed-preset=ultrafast'),
    (r'\bv4l2jpegenc(\s+[\w-]+=("[^"]*"|\S+))*', 'jpegenc'),
]
# Hosts the reader fills in: a line naming one is resolved, not run.
FOREIGN = re.compile(r'relay\.example|whip\.example|//server:|HOST')


def blocks(text):
    """(language, [logical lines], first line number) of every fenced block."""
    out, lang, lines, start = [], None, [], 0
    for n, line in enumerate(text.split('\n'), 1):
        if line.startswith('```'):
            if lang is None:
                lang, lines, start = line[3:].strip(), [], n + 1
            else:
                out.append((lang, lines, start))
                lang = None
            continue
        if lang is not None:
            lines.append((n, line))
    return out


def commands(lines):
    """Logical shell lines (continuations joined, comments dropped) with their line numbers."""
    out, current, first = [], '', 0
    for n, line in lines:
        code = strip_comment(line)
        if not current:
            first = n
        if code.rstrip().endswith('\\'):
            current += code.rstrip()[:-1] + ' '
            continue
        current += code
        if current.strip():
            out.append((first, ' '.join(current.split())))
        current = ''
    return out


def strip_comment(line):
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in '"\'':
            quote = c
        elif c == '#' and (i == 0 or line[i - 1] in ' \t'):
            return line[:i]
    return line


results = []


def report(ok, what, detail=''):
    results.append(ok)
    # Named as the README writes it: the test's directory stands in for /etc/camcast.
    what = re.sub(r'/tmp/camcast-readme-[^/]*/', '/etc/camcast/', what)
    print(f'{"ok" if ok else "not ok"} {len(results)} - {what}')
    for line in detail.strip().split('\n')[-15:] if detail.strip() else []:
        print(f'# {line}')
    sys.stdout.flush()


def run_print_command(argv, cwd, where):
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    report(p.returncode == 0, f'{where}: {shlex.join(argv[1:])} exits 0',
           '' if p.returncode == 0 else p.stdout + p.stderr)


def stop(p, sig, seconds):
    """Sends `sig` to p if it still runs and waits `seconds` for it to end, then kills it; what
    it wrote meanwhile."""
    if p.poll() is None:
        p.send_signal(sig)
    try:
        rest, _ = p.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        p.kill()
        rest, _ = p.communicate()
    return rest


def run_serving_command(argv, cwd, where):
    """Runs until it prints an address to open; SIGTERM must then end it with 0."""
    p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    out, deadline = b'', time.time() + 30
    while time.time() < deadline and p.poll() is None:
        if select.select([p.stdout], [], [], 0.1)[0]:
            out += os.read(p.stdout.fileno(), 65536)
        text = out.decode(errors='replace')
        if re.search(r'https?://\S+', text) or 'restarting' in text:
            break
    text = out.decode(errors='replace')
    serving = p.poll() is None and re.search(r'https?://\S+', text) and 'restarting' not in text
    text += stop(p, signal.SIGTERM, 15).decode(errors='replace')
    ok = bool(serving) and p.returncode == 0
    report(ok, f'{where}: {shlex.join(argv[1:])} serves, and stops on SIGTERM',
           '' if ok else text + f'\n(exit status {p.returncode})')


def camcast_line(line, cwd, where):
    argv = shlex.split(line)
    args = argv[1:]
    args = [a.replace('/etc/camcast/', cwd + '/') for a in args]
    command = next((a for a in args if not a.startswith('-') and '=' not in a), '')
    if command in ('show', 'check', 'list', 'probe'):
        return run_print_command([CAMCAST] + args, cwd, where)
    if FOREIGN.search(line):
        names = [a for a in args if a not in ('run',)]
        return run_print_command([CAMCAST, 'show'] + names, cwd,
                                 f'{where}: its server is the reader\'s, not run here')
    if '--port' in args:
        args[args.index('--port') + 1] = '0'
    else:
        args += ['--port', '0']
    run_serving_command([CAMCAST] + args + ['--no-auth'], cwd, where)


def free_port():
    with socket.socket() as s:
        s.bind(('0.0.0.0', 0))
        return s.getsockname()[1]


def run_gst(argv_for_port, cwd, seconds):
    """Runs gst-launch-1.0 with argv_for_port(a free port) for at most `seconds`, then stops it
    with SIGINT (with -e: end of stream, then exit). Returns (output, exit status, stopped). A
    port that another socket took between its choice and the bind is chosen again, twice at
    most: the failure is the machine's, not the README's."""
    for attempt in range(3):
        argv = argv_for_port(free_port())
        p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True)
        stopped = False
        try:
            out, _ = p.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            stopped = True
            out = stop(p, signal.SIGINT, 10)
        if 'already in use' not in out or attempt == 2:
            return out + f'\n(exit status {p.returncode})\n{shlex.join(argv)}', p.returncode, \
                stopped


def launch_line(line, cwd, where):
    description = line.split('gst-launch-1.0', 1)[1]
    for pattern, replacement in STAND_INS:
        description = re.sub(pattern, replacement, description)
    # Audio buffers are some 23 ms long: three times as many last about as long.
    frames = {'videotestsrc': FRAMES, 'audiotestsrc': FRAMES * 3}
    description = re.sub(r'\b(videotestsrc|audiotestsrc) is-live=true',
                         lambda m: f'{m.group(0)} num-buffers={frames[m.group(1)]}', description)

    # Port 8080 (given, or the sinks' default) becomes a free one, the same for every sink of the
    # line, so that nothing else on this machine (a camcast someone is running) is in the way.
    def with_port(port):
        d = re.sub(r'\bport=8080\b', f'port={port}', description)
        d = re.sub(r'\b(msesink|jsmpegsink|mjpegsink|wssink|rtspsink)((?:\s+[\w-]+=\S+)*)',
                   lambda m: m.group(0) if re.search(r'(^|\s)port=', m.group(2))
                   else f'{m.group(0)} port={port}', d)
        # RTSP's port (8554, given or by default): any free one.
        d = re.sub(r'\brtsp-port=8554\b', 'rtsp-port=0', d)
        d = re.sub(r'\brtspsink((?:\s+[\w-]+=\S+)*)',
                   lambda m: m.group(0) if 'rtsp-port=' in m.group(1) else f'{m.group(0)} rtsp-port=0',
                   d)
        return ['gst-launch-1.0', '-e'] + shlex.split(d.replace('relay.example:8080',
                                                                 f'127.0.0.1:{port}'))

    endless = 'relaysrc' in description
    out, status, stopped = run_gst(with_port, cwd, 3 if endless else 30)
    # No error, and no element warning either (msesink warns of a profile browsers lack); a
    # source that never ends must still be running when stopped.
    ok = not re.search(r'ERROR|WARNING: from element', out) and \
        (stopped if endless else status == 0 and not stopped)
    report(ok, f'{where}: gst-launch-1.0{description[:60]}...', '' if ok else out)


def relay_over_tls(cwd, where):
    """The README's certificate serves a relay: relaysink trusts it with tls-ca-file and finds
    the address it connects to (127.0.0.1) in it."""
    def argv(port):
        return ['gst-launch-1.0', '-m'] + shlex.split(
            f'relaysrc port={port} secret=s3cret tls-certificate=cert.pem tls-key=key.pem ! '
            'fakesink videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120 ! '
            'x264enc tune=zerolatency ! h264parse config-interval=-1 ! mpegtsmux ! relaysink '
            f'location=https://127.0.0.1:{port}/publish/s3cret tls-ca-file=cert.pem')

    out, _, _ = run_gst(argv, cwd, 5)
    ok = 'connected=(boolean)true' in out
    report(ok, f'{where}: the certificate serves a relay at 127.0.0.1 (relaysink tls-ca-file)',
           '' if ok else out)


def main():
    text = open(README, encoding='utf-8').read()
    with tempfile.TemporaryDirectory(prefix='camcast-readme-') as cwd:
        ini = [(lines, start) for lang, lines, start in blocks(text) if lang == 'ini']
        for i, (lines, start) in enumerate(ini):
            name = 'my-cam.pipeline' if i == 0 else f'example-{start}.pipeline'
            with open(os.path.join(cwd, name), 'w') as f:
                f.write('\n'.join(line for _, line in lines) + '\n')
            run_print_command([CAMCAST, 'check', name], cwd, f'README.md:{start}')
        found = 0
        shell = [(n, line) for lang, lines, _ in blocks(text) if lang == 'sh'
                 for n, line in commands(lines)]
        # What other examples use first: the certificate.
        for n, line in shell:
            if line.startswith('openssl '):
                p = subprocess.run(shlex.split(line), cwd=cwd, capture_output=True, text=True)
                report(p.returncode == 0, f'README.md:{n}: openssl makes a certificate',
                       '' if p.returncode == 0 else p.stderr)
            if line.startswith('openssl ') and p.returncode == 0:
                relay_over_tls(cwd, f'README.md:{n}')
        for n, line in shell:
            where = f'README.md:{n}'
            if line.startswith('camcast'):
                found += 1
                camcast_line(line, cwd, where)
            elif line.startswith('gst-launch-1.0'):
                found += 1
                launch_line(line, cwd, where)
        # The README without examples would pass everything: it must have them.
        report(len(ini) > 0 and found >= 10,
               f'the README has pipeline files ({len(ini)}) and commands ({found}) to check')
    print(f'1..{len(results)}')
    return 0 if all(results) else 1


sys.exit(main())
