#!/usr/bin/env python3
"""Tagged DHCP the way a phone does it without a kernel VLAN device: a DISCOVER with an 802.1Q
header built in user space, sent on the untagged interface through an AF_PACKET socket.

Usage (inside the client namespace):  dhcp_tagged_probe.py IFACE VID [--timeout S]
VID 0 sends a priority-tagged frame (PCP 5, VID 0). Prints `offer yiaddr=... vid=... opt242=...`
and exits 0 when an OFFER arrives, 1 otherwise.

How the tagged OFFER arrives (worth knowing for a raw-socket client): veth hands the 802.1Q tag
to the kernel as metadata, so the AF_PACKET socket gets the frame WITHOUT the tag and the VID in
PACKET_AUXDATA (tp_vlan_tci, TP_STATUS_VLAN_VALID). An inline 0x8100 header is handled too.
"""
import os, select, socket, struct, sys, time

ETH_P_ALL, SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 3, 263, 8, 1 << 4

iface, vid = sys.argv[1], int(sys.argv[2])
timeout = float(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 5.0
mac = bytes.fromhex(open(f"/sys/class/net/{iface}/address").read().strip().replace(":", ""))
xid = int.from_bytes(os.urandom(4), "big")

bootp = struct.pack("!BBBBIHHIIII", 1, 1, 6, 0, xid, 0, 0, 0, 0, 0, 0)
bootp += mac + b"\0" * 10 + b"\0" * 192 + b"\x63\x82\x53\x63"
bootp += bytes([53, 1, 1, 55, 4, 1, 3, 28, 242, 61, 7, 1]) + mac + b"\xff"
bootp += b"\0" * max(0, 300 - len(bootp))
udp_len = 8 + len(bootp)
udp = struct.pack("!HHHH", 68, 67, udp_len, 0) + bootp          # UDP checksum 0 = none (RFC 768)
ip_hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0x10, 20 + udp_len, 0, 0, 64, 17, 0,
                     b"\0\0\0\0", b"\xff\xff\xff\xff")
csum = sum(struct.unpack("!10H", ip_hdr))
csum = (csum & 0xFFFF) + (csum >> 16)
csum = ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF
ip_hdr = ip_hdr[:10] + struct.pack("!H", csum) + ip_hdr[12:]
tci = (5 << 13) | vid if vid == 0 else vid
frame = b"\xff" * 6 + mac + struct.pack("!HH", 0x8100, tci) + b"\x08\x00" + ip_hdr + udp

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
s.bind((iface, ETH_P_ALL))
s.send(frame)
end = time.monotonic() + timeout
while time.monotonic() < end:
    if not select.select([s], [], [], max(0.0, end - time.monotonic()))[0]:
        break
    data, anc, _f, addr = s.recvmsg(65535, socket.CMSG_SPACE(32))
    if addr[2] == 4:                      # PACKET_OUTGOING: our own DISCOVER
        continue
    fvid = None
    for level, typ, c in anc:
        if level == SOL_PACKET and typ == PACKET_AUXDATA:
            st, _l, _sl, _m, _n, t, _tp = struct.unpack("IIIHHHH", c[:20])
            if st & TP_STATUS_VLAN_VALID:
                fvid = t & 0xFFF
    if data[12:14] == b"\x81\x00":
        fvid, data = struct.unpack("!H", data[14:16])[0] & 0xFFF, data[:12] + data[16:]
    if data[12:14] != b"\x08\x00" or data[23] != 17:
        continue
    ihl = (data[14] & 0xF) * 4
    u = data[14 + ihl:]
    if struct.unpack("!H", u[2:4])[0] != 68:
        continue
    b = u[8:]
    if struct.unpack("!I", b[4:8])[0] != xid:
        continue
    yiaddr = socket.inet_ntoa(b[16:20])
    opts, i, o242, mtype = b[240:], 0, None, None
    while i < len(opts) and opts[i] != 255:
        if opts[i] == 0:
            i += 1; continue
        code, ln = opts[i], opts[i + 1]
        if code == 242: o242 = opts[i + 2:i + 2 + ln].decode(errors="replace")
        if code == 53: mtype = opts[i + 2]
        i += 2 + ln
    if mtype == 2:
        print(f"offer yiaddr={yiaddr} vid={fvid} opt242={o242}")
        sys.exit(0)
print("no offer")
sys.exit(1)
