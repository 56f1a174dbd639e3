#!/usr/bin/env python3
"""Records the raw output of a full-screen program driven by keystrokes.

    python3 capture.py OUT COLS ROWS KEYS -- PROGRAM ARGS...

KEYS is a Python string literal of keystrokes; '~' in it pauses 0.3 s.
The program runs under a fresh pty with TERM=xterm-256color. Used to make
vim.raw (see screen_test.go):

    printf 'line one\\nline two\\n' > /tmp/capture.txt
    python3 capture.py vim.raw 80 24 \\
      '~~~:set number\\r~ihello \\x1b[1mworld\\x1b[0m~\\x1b~yyp~Go\\tnew line\\x1b~:split\\r~:set hlsearch\\r~/line\\r~:q!\\r~:q!\\r~~' \\
      -- vim -u NONE -N -i NONE /tmp/capture.txt
"""
import ast, fcntl, os, pty, select, struct, sys, termios, time

def main():
    out, cols, rows, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), ast.literal_eval("'" + sys.argv[4] + "'")
    argv = sys.argv[sys.argv.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    data = bytearray()

    def drain(seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return False
                if not chunk:
                    return False
                data.extend(chunk)
        return True

    drain(0.5)
    for k in keys:
        if k == "~":
            if not drain(0.3):
                break
        else:
            os.write(fd, k.encode())
            drain(0.02)
    drain(1.0)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    with open(out, "wb") as f:
        f.write(data)

main()
