#!/usr/bin/env python3
"""A tiny UDS tester for the ecuup-sim end-to-end tests (stdlib only).

  uds_client.py doip --port P --ecu 0x0010 [--tester 0x0E00] [--timeout MS]
  uds_client.py can  --bus udp:LOCAL:REMOTE --tx 0x7E0 --rx 0x7E8 [--timeout MS]

Reads requests from stdin, one hex line each ("sleep MS" pauses). Prints every answer as lower-case
hex on its own line, 0x78 responsePending answers included; "-" when nothing came within the
timeout, "drop" when the DoIP connection was closed (the next request reconnects).
DoIP is ISO 13400-2 (routing activation 0005/0006, diagnostic message 8001 with 8002 ACK); CAN is
ISO 15765-2 over the UDP virtual bus: one datagram = one Linux struct can_frame (16 bytes).
"""
import argparse
import socket
import struct
import sys
import time

PENDING_TIMEOUT_S = 6.0  # P2* (5 s) plus margin after a 0x78


def is_pending(msg):
    return len(msg) == 3 and msg[0] == 0x7F and msg[2] == 0x78


class Doip:
    VERSION = 0x02

    def __init__(self, port, ecu, tester):
        self.port, self.ecu, self.tester = port, ecu, tester
        self.sock = None
        self.buf = b""

    def header(self, ptype, payload):
        return struct.pack(">BBHI", self.VERSION, self.VERSION ^ 0xFF, ptype, len(payload)) + payload

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.sock.sendall(self.header(0x0005, struct.pack(">HB4x", self.tester, 0)))
        ptype, payload = self.read_message(5)
        if ptype != 0x0006 or len(payload) < 5 or payload[4] != 0x10:
            raise RuntimeError("routing activation refused: %04x %s" % (ptype, payload.hex()))

    def read_message(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 8:
                _, _, ptype, length = struct.unpack(">BBHI", self.buf[:8])
                if len(self.buf) >= 8 + length:
                    payload = self.buf[8:8 + length]
                    self.buf = self.buf[8 + length:]
                    return ptype, payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buf += data

    def send(self, msg):
        if self.sock is None:
            self.connect()
        self.sock.sendall(self.header(0x8001, struct.pack(">HH", self.tester, self.ecu) + msg))

    def receive(self, timeout):
        while True:
            ptype, payload = self.read_message(timeout)
            if ptype == 0x8001:
                return payload[4:]
            if ptype == 0x8003:
                raise RuntimeError("diagnostic NACK %s" % payload.hex())
            # 0x8002 ACKs and alive checks are not answers

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None


class UdpIsoTp:
    PAD = 0xCC

    def __init__(self, bus, tx, rx):
        kind, local, remote = bus.split(":")
        if kind != "udp":
            raise SystemExit("only udp:LOCAL:REMOTE buses")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", int(local)))
        self.remote = ("127.0.0.1", int(remote))
        self.tx, self.rx = tx, rx

    def frame(self, data):
        data = bytes(data) + bytes([self.PAD]) * (8 - len(data))
        self.sock.sendto(struct.pack("<IB3x", self.tx, 8) + data, self.remote)

    def read_frame(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            self.sock.settimeout(left)
            image, _ = self.sock.recvfrom(128)
            if len(image) < 16:
                continue
            can_id, length = struct.unpack("<IB", image[:5])
            if can_id & 0x1FFFFFFF == self.rx:
                return image[8:8 + length]

    def send(self, msg):
        if len(msg) <= 7:
            self.frame(bytes([len(msg)]) + msg)
            return
        self.frame(bytes([0x10 | (len(msg) >> 8), len(msg) & 0xFF]) + msg[:6])
        pos, sn, budget = 6, 1, 0
        while pos < len(msg):
            if budget == 0:
                while True:
                    fc = self.read_frame(time.monotonic() + 1.0)
                    if fc[0] & 0xF0 != 0x30:
                        continue
                    if fc[0] == 0x31:
                        continue  # WAIT
                    if fc[0] == 0x32:
                        raise RuntimeError("FC overflow")
                    break
                budget = fc[1] or -1
                st = fc[2]
                st_s = st / 1000.0 if st <= 0x7F else (0.0001 * (st - 0xF0) if 0xF1 <= st <= 0xF9 else 0.127)
            self.frame(bytes([0x20 | sn]) + msg[pos:pos + 7])
            pos += 7
            sn = (sn + 1) & 0x0F
            if budget > 0:
                budget -= 1
            if st_s:
                time.sleep(st_s)

    def receive(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(deadline)
            kind = f[0] >> 4
            if kind == 0:
                return bytes(f[1:1 + (f[0] & 0x0F)])
            if kind == 1:
                total = ((f[0] & 0x0F) << 8) | f[1]
                data = bytearray(f[2:8])
                self.frame(bytes([0x30, 0x00, 0x00]))
                sn = 1
                while len(data) < total:
                    cf = self.read_frame(time.monotonic() + 1.0)
                    if cf[0] >> 4 != 2 or cf[0] & 0x0F != sn:
                        raise RuntimeError("bad consecutive frame %s" % cf.hex())
                    data += cf[1:]
                    sn = (sn + 1) & 0x0F
                return bytes(data[:total])

    def close(self):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("transport", choices=["doip", "can"])
    ap.add_argument("--port", type=int, default=13400)
    ap.add_argument("--ecu", type=lambda s: int(s, 0), default=0x10)
    ap.add_argument("--tester", type=lambda s: int(s, 0), default=0x0E00)
    ap.add_argument("--bus")
    ap.add_argument("--tx", type=lambda s: int(s, 0))
    ap.add_argument("--rx", type=lambda s: int(s, 0))
    ap.add_argument("--timeout", type=int, default=1000, help="ms to wait for an answer")
    a = ap.parse_args()
    link = Doip(a.port, a.ecu, a.tester) if a.transport == "doip" else UdpIsoTp(a.bus, a.tx, a.rx)
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("sleep"):
            time.sleep(int(line.split()[1]) / 1000.0)
            continue
        try:
            link.send(bytes.fromhex(line))
            timeout = a.timeout / 1000.0
            while True:
                msg = link.receive(timeout)
                print(msg.hex(), file=out, flush=True)
                if not is_pending(msg):
                    break
                timeout = PENDING_TIMEOUT_S
        except TimeoutError:
            print("-", file=out, flush=True)
        except (ConnectionError, OSError) as e:
            if isinstance(e, socket.timeout):
                print("-", file=out, flush=True)
            else:
                link.close()
                print("drop", file=out, flush=True)


if __name__ == "__main__":
    main()
