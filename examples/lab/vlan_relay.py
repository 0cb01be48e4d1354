#!/usr/bin/env python3
"""User-space 802.1Q port for kernels built without VLAN support (CONFIG_VLAN_8021Q unset).

Usage: vlan_relay.py TRUNK VID INNER

TRUNK carries tagged frames (the lab's veth). INNER is one end of a veth pair whose other end is
the "VLAN interface" (`TRUNK.VID`) that servers or clients use like a kernel VLAN device.
  TRUNK -> INNER: incoming frames tagged VID (tag inline, or in PACKET_AUXDATA when the kernel
                  moved it to skb metadata) are sent untagged into INNER.
  INNER -> TRUNK: frames the kernel sent out of TRUNK.VID get an 802.1Q tag (PCP 0, VID) inserted
                  and go out of TRUNK.
Untagged and priority-tagged (VID 0) frames are left to the kernel, which handles them as untagged.
Prints "ready" once both sockets are bound; runs until SIGTERM. Sets its process name to
"plab-vlan" so `lab` can check a recorded PID before signalling it.
"""
import ctypes
import select
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
ETH_P_8021Q = 0x8100
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 1 << 4


def main():
    trunk, vid, inner = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if not 1 <= vid <= 4094:
        sys.exit("VID must be 1..4094")
    try:
        ctypes.CDLL(None).prctl(15, b"plab-vlan", 0, 0, 0)   # PR_SET_NAME
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def sock(ifname):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((ifname, ETH_P_ALL))
        return s

    st, si = sock(trunk), sock(inner)
    tag = struct.pack("!HH", ETH_P_8021Q, vid & 0x0FFF)
    anc_size = socket.CMSG_SPACE(32)
    print(f"ready: {trunk} <-> {inner} VID {vid}", flush=True)
    counts = {"in": 0, "out": 0}
    while True:
        r, _, _ = select.select([st, si], [], [])
        for s in r:
            try:
                data, anc, _flags, addr = s.recvmsg(65600, anc_size)
            except OSError:
                continue
            if addr[2] == PACKET_OUTGOING or len(data) < 14:
                continue
            if s is st:
                fvid = None
                for level, typ, cdata in anc:
                    if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
                        status, _l, _sl, _m, _n, tci, _tpid = struct.unpack("IIIHHHH", cdata[:20])
                        if status & TP_STATUS_VLAN_VALID:
                            fvid = tci & 0x0FFF
                if fvid is None and struct.unpack("!H", data[12:14])[0] == ETH_P_8021Q and len(data) >= 18:
                    fvid = struct.unpack("!H", data[14:16])[0] & 0x0FFF
                    data = data[:12] + data[16:]
                if fvid != vid:
                    continue
                try:
                    si.send(data)
                    counts["in"] += 1
                except OSError as e:
                    print(f"drop {len(data)} B to {inner}: {e}", flush=True)
            else:
                try:
                    st.send(data[:12] + tag + data[12:])
                    counts["out"] += 1
                except OSError as e:
                    print(f"drop {len(data)} B to {trunk}: {e}", flush=True)


if __name__ == "__main__":
    main()
