#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal of a given width and prints the screen it leaves behind.

usage: tty_screen.py COLUMNS RAW_OUT SCREEN_OUT -- CMD...
Writes the raw byte stream to RAW_OUT and the final screen (one line per terminal line, trailing
blanks stripped) to SCREEN_OUT; exits with CMD's exit status. The screen is interpreted for what
ecuup's progress output uses: printable ASCII (wrapping at COLUMNS), \\r, \\n, ESC[K, ESC[J and
ESC[nA.
"""
import fcntl, os, pty, re, struct, sys, termios


def run(columns, argv):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    raw = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    _, status = os.waitpid(pid, 0)
    return raw, os.waitstatus_to_exitcode(status)


def screen(raw, columns):
    lines, row, col = [[]], 0, 0
    tokens = re.finditer(rb"\x1b\[(\d*)([A-Za-z])|(.)", raw, re.S)
    for t in tokens:
        if t.group(2):
            n = int(t.group(1) or 1)
            cmd = t.group(2)
            if cmd == b"A":
                row = max(0, row - n)
            elif cmd == b"K":
                del lines[row][col:]
            elif cmd == b"J":
                del lines[row][col:]
                del lines[row + 1:]
            else:
                raise SystemExit(f"unexpected escape sequence {t.group(0)!r}")
            continue
        c = t.group(3)
        if c == b"\r":
            col = 0
        elif c == b"\n":
            row, col = row + 1, 0
            while len(lines) <= row:
                lines.append([])
        else:
            if col >= columns:  # autowrap, as a terminal does
                row, col = row + 1, 0
                while len(lines) <= row:
                    lines.append([])
            line = lines[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = c.decode()
            else:
                line.append(c.decode())
            col += 1
    return ["".join(l).rstrip() for l in lines]


def main():
    columns, raw_out, screen_out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    argv = sys.argv[5:] if sys.argv[4] == "--" else sys.argv[4:]
    raw, code = run(columns, argv)
    with open(raw_out, "wb") as f:
        f.write(raw)
    with open(screen_out, "w") as f:
        f.write("\n".join(screen(raw, columns)).rstrip("\n") + "\n")
    sys.exit(code)


main()
