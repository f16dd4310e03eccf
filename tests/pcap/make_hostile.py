#!/usr/bin/env python3
"""Write the hostile regression captures of tests/pcap/ (run from anywhere;
the files are committed, this script says how they were made).

Each file mixes a few well-formed TCP frames of the lab's addresses
(client 100.64.0.2:40001, server 203.0.113.2:993) with frames that lie about
their lengths, stop in the middle of a header, chain IPv6 extension headers
without end, or stack VLAN tags: test_pcap.c checks that every frame parses
or is refused and that nothing crashes.
"""
import os
import struct
import sys

CLI = bytes([100, 64, 0, 2])
SRV = bytes([203, 0, 113, 2])
LO6 = bytes(15) + b"\x01"


def tcp(sport=993, dport=40001, seq=1, ack=1, flags=0x10, doff=5, payload=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, 65535, 0, 0) + payload


def ipv4(seg, ttl=63, ihl=5, total=None, frag=0x4000, proto=6, src=SRV, dst=CLI):
    total = 20 + len(seg) if total is None else total
    opts = bytes((ihl - 5) * 4) if ihl > 5 else b""
    return struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, total, 0, frag, ttl, proto, 0, src, dst) + opts + seg


def ipv6(seg, nh=6, plen=None, hlim=63, src=LO6, dst=LO6):
    plen = len(seg) if plen is None else plen
    return struct.pack(">IHBB16s16s", 0x60000000, plen, nh, hlim, src, dst) + seg


def eth(payload, ethertype=0x0800):
    return bytes(12) + struct.pack(">H", ethertype) + payload


def frames_en10mb():
    good = eth(ipv4(tcp(payload=b"* 1 EXISTS\r\n")))
    out = [good, eth(ipv4(tcp(sport=40001, dport=993, flags=0x18, payload=b"DONE\r\n"), ttl=64, src=CLI, dst=SRV))]
    out += [good[:n] for n in (0, 1, 13, 14, 15, 33, 34, 40, 53)]        # cut in every header
    out.append(eth(ipv4(tcp(), ihl=0)))                                  # IHL 0
    out.append(eth(ipv4(tcp(), ihl=15)[:60]))                            # IHL past the capture
    out.append(eth(ipv4(tcp(), total=3)))                                # total < header
    out.append(eth(ipv4(tcp(), total=65535)))                            # total > frame (accepted)
    out.append(eth(ipv4(tcp(doff=0))))                                   # data offset 0
    out.append(eth(ipv4(tcp(doff=15))))                                  # data offset > segment
    out.append(eth(ipv4(tcp(), frag=0x0001)))                            # later fragment
    out.append(eth(ipv4(tcp(), proto=17)))                               # UDP
    vlan = bytes(12) + b"\x81\x00\x00\x01" * 3 + b"\x08\x00" + ipv4(tcp())
    out.append(vlan)                                                     # three VLAN tags
    out.append(bytes(12) + b"\x81\x00\x00\x01")                          # a tag and nothing
    loop = b"".join(struct.pack(">BB6x", 60, 0) for _ in range(40))
    out.append(eth(ipv6(loop + tcp(), nh=60), 0x86DD))                   # endless options
    out.append(eth(ipv6(struct.pack(">BB6x", 6, 255) + tcp(), nh=0), 0x86DD))  # ext > payload
    out.append(eth(ipv6(tcp(), plen=0), 0x86DD))                         # jumbo / TSO length
    out.append(eth(b"\x45" + bytes(3)))                                  # 4 bytes of IPv4
    return out


def frames_raw():
    out = [ipv4(tcp(payload=b"+ idling\r\n")), ipv6(tcp(sport=993, dport=40001))]
    out += [out[0][:n] for n in (0, 1, 19, 20, 21, 39)]
    out.append(b"\x00" * 60)                                             # version 0
    out.append(b"\xff" * 60)                                             # version 15
    out.append(ipv6(struct.pack(">BB2sI", 6, 0, b"\xff\xf9", 0) + tcp(), nh=44))  # v6 later fragment
    out.append(ipv6(struct.pack(">BB6x", 51, 0) + tcp(), nh=51))         # AH chained to itself
    out.append(ipv6(b"", nh=6, plen=40))                                 # no TCP header at all
    return out


def write(path, linktype, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(fr), len(fr)) + fr)


def main():
    here = os.path.dirname(os.path.abspath(__file__)) if len(sys.argv) < 2 else sys.argv[1]
    write(os.path.join(here, "hostile-en10mb.pcap"), 1, frames_en10mb())
    write(os.path.join(here, "hostile-raw.pcap"), 101, frames_raw())


if __name__ == "__main__":
    main()
