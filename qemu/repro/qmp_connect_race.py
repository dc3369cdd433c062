#!/usr/bin/env python3
"""QEMU's QMP monitor socket and a client that connects as soon as the socket appears.

Starts qemu-storage-daemon with a QMP socket (server=on, wait=off), connects as soon as the
socket accepts a connection, and checks that it gets one greeting and a reply to each
command. With `probe`, a first connection is closed at once and a second one is made (what
cowlab's runner did to learn that the daemon was ready); with `once`, the first connection
is kept. Measured here on QEMU 10.0.2 (docs/qemu.md), with three busy loops loading the two
cores: `probe` went wrong in 3 of 150 runs (a second greeting in place of the reply to
qmp_capabilities, or the connection closed before any greeting), `once` in 1 of 150 (the
connection closed before its greeting).

    python3 qemu/repro/qmp_connect_race.py 150 probe
    python3 qemu/repro/qmp_connect_race.py 150 once
"""
import json, os, shutil, socket, subprocess, sys, tempfile, time
d = tempfile.mkdtemp(prefix="qmp-race-")
def once(i):
    sock = f"{d}/q{i}.sock"
    p = subprocess.Popen(["qemu-storage-daemon", "--chardev", f"socket,id=qmp,path={sock},server=on,wait=off", "--monitor", "chardev=qmp"], stderr=subprocess.DEVNULL)
    try:
        while True:  # the probe: connect (and close at once, with PROBE)
            try:
                s = socket.socket(socket.AF_UNIX); s.connect(sock); break
            except OSError:
                time.sleep(0.005)
        if PROBE:
            s.close(); s = socket.socket(socket.AF_UNIX); s.connect(sock)
        s.settimeout(10)
        f = s.makefile("rwb")
        line = f.readline()
        if not line: return ("no greeting: the connection closed",)
        g = json.loads(line)
        f.write(b'{"execute":"qmp_capabilities"}\n'); f.flush()
        r = json.loads(f.readline())
        f.write(b'{"arguments":{},"execute":"query-version"}\n'); f.flush()
        r2 = json.loads(f.readline())
        bad = "QMP" in r or "error" in r or "error" in r2 or "QMP" in r2
        return (r, r2) if bad else None
    finally:
        p.kill(); p.wait()
        try: os.unlink(sock)
        except OSError: pass
n = int(sys.argv[1]); PROBE = sys.argv[2] == 'probe'; bad = 0
for i in range(n):
    try:
        r = once(i)
    except Exception as e:
        r = ("exception", repr(e))
    if r: bad += 1; print("run", i, r)
print(f"{bad} of {n} runs went wrong")
shutil.rmtree(d, ignore_errors=True)
