#!/usr/bin/env python3
"""A WebSocket viewer for the idle and ladder benchmarks: reads a stream (answering pings) until
killed; with RUNG, on that rung of a ladder (it sends "rung RUNG" first).

  viewer.py PORT PATH [RUNG]
"""
import os
import socket
import struct
import sys

port, path = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(('127.0.0.1', port))
s.sendall((f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n'
           'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'
           'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n').encode())
buf = b''
while b'\r\n\r\n' not in buf:
    buf += s.recv(4096)
head, buf = buf.split(b'\r\n\r\n', 1)
if b' 101 ' not in head.split(b'\r\n')[0]:
    sys.exit(f'no upgrade: {head.decode(errors="replace")}')


def send_text(text):
    data = text.encode()
    mask = os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(data)]) + mask +
              bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


if len(sys.argv) > 3:
    send_text(f'rung {sys.argv[3]}')


def need(n):
    global buf
    while len(buf) < n:
        chunk = s.recv(1 << 16)
        if not chunk:
            sys.exit(0)
        buf += chunk


while True:
    need(2)
    opcode, length = buf[0] & 0x0f, buf[1] & 0x7f
    at = 2
    if length == 126:
        need(4)
        length, at = struct.unpack('>H', buf[2:4])[0], 4
    elif length == 127:
        need(10)
        length, at = struct.unpack('>Q', buf[2:10])[0], 10
    need(at + length)
    payload, buf = buf[at:at + length], buf[at + length:]
    if opcode == 0x9:  # ping: a masked pong with the same payload
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        s.sendall(bytes([0x8a, 0x80 | len(payload)]) + mask + masked)
    elif opcode == 0x8:
        sys.exit(0)
