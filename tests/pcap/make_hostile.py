#!/usr/bin/env python3
"""Write the hostile regression captures of tests/pcap/ (run from anywhere;
the files are committed, this script says how they were made).

Each file mixes a few well-formed TCP frames of the lab's addresses
(client 100.64.0.2:40001, server 203.0.113.2:993; on the IPv6 path
2001:db8:64::2 and 2001:db8:113::2) with frames that lie about their
lengths, stop in the middle of a header, chain IPv6 extension headers
without end, or stack VLAN tags: test_pcap.c checks that every frame parses
or is refused and that nothing crashes.
"""
import os
import struct
import sys

CLI = bytes([100, 64, 0, 2])
SRV = bytes([203, 0, 113, 2])
LO6 = bytes(15) + b"\x01"
CLI6 = bytes.fromhex("20010db8006400000000000000000002")
SRV6 = bytes.fromhex("20010db8011300000000000000000002")


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


def sll2(payload, proto=0x86DD):
    # Protocol, reserved, interface index, ARPHRD_ETHER, packet type,
    # address length, 8 address bytes.
    return struct.pack(">HHIHBB8s", proto, 0, 2, 1, 0, 6, bytes(8)) + payload


def ext(nh, n=0, kind="opt"):
    """An extension header: 8 * (n + 1) bytes (AH: 4 * (n + 2))."""
    size = 4 * (n + 2) if kind == "ah" else 8 * (n + 1)
    return struct.pack(">BB", nh, n) + bytes(size - 2)


def frames_sll2_ipv6():
    v6 = dict(src=SRV6, dst=CLI6)
    good = sll2(ipv6(tcp(flags=0x18, payload=b"* 1 EXISTS\r\n"), **v6))
    rst = sll2(ipv6(tcp(flags=0x04), hlim=64, **v6))                   # the firewall's RST
    done = sll2(ipv6(tcp(sport=40001, dport=993, flags=0x18, payload=b"DONE\r\n"), hlim=64, src=CLI6, dst=SRV6))
    chained = sll2(ipv6(ext(43) + ext(60) + ext(44) + ext(51) + ext(6, 1, "ah") + tcp(), nh=0, **v6))
    out = [good, done, rst, chained]
    out += [good[:n] for n in (0, 1, 19, 20, 21, 59, 60, 61, 79)]      # cut in every header
    out += [chained[:n] for n in (61, 67, 68, 75, 84, 91, 99, 103, 104, 123)]  # cut in the extensions
    out.append(sll2(ipv6(tcp(), plen=3, **v6)))                        # payload < TCP header
    out.append(sll2(ipv6(ext(6, 3) + tcp(), nh=60, plen=16, **v6)))    # ext ends past payload
    out.append(sll2(ipv6(ext(6, 255, "ah")[:40] + tcp(), nh=51, **v6)))  # AH longer than the packet
    out.append(sll2(ipv6(b"".join(ext(0) for _ in range(30)) + tcp(), nh=0, **v6)))  # endless hop-by-hop
    out.append(sll2(ipv6(tcp(), nh=59, **v6)))                         # no next header
    out.append(sll2(ipv6(tcp(), nh=58, **v6)))                         # ICMPv6
    out.append(sll2(ipv4(tcp())))                                      # IPv4 behind the IPv6 type
    out.append(sll2(ipv6(tcp(), **v6), proto=0x0806))                 # ARP type
    out.append(sll2(ipv6(tcp(doff=15), **v6)))                         # data offset > segment
    out.append(sll2(ipv6(tcp(), plen=0, **v6)))                        # jumbo / TSO length
    return out


def fuzz_seeds():
    """IPv6 seeds for tests/fuzz/corpus/fuzz_pcap: a link-type byte (the index
    into fuzz_pcap.c's list) and frames with a 2-byte length each, of the
    connection the fuzz target watches over the lab's IPv6 path (port 40003)."""
    v6 = dict(src=SRV6, dst=CLI6)
    up = dict(hlim=64, src=CLI6, dst=SRV6)
    push = ipv6(tcp(dport=40003, seq=100, flags=0x18, payload=b"+ idling\r\n"), **v6)
    ack = ipv6(tcp(sport=40003, dport=993, seq=50, ack=110), **up)
    done = ipv6(tcp(sport=40003, dport=993, seq=50, ack=110, flags=0x18, payload=b"DONE\r\n"), **up)
    rst = ipv6(tcp(dport=40003, seq=110, flags=0x04), hlim=64, **v6)
    chained = ipv6(ext(43) + ext(60) + ext(44) + ext(51) + ext(6, 1, "ah") + tcp(dport=40003, seq=110), nh=0, **v6)
    frag = [ipv6(struct.pack(">BB2sI", 6, 0, off, 7) + tcp(dport=40003), nh=44, **v6) for off in (b"\x00\x09", b"\xff\xf9")]
    return {
        # The reset lab on Ethernet: push, ACK, DONE twice, the firewall's RST.
        "ipv6-reset-en10mb": (0, [eth(x, 0x86DD) for x in (push, ack, done, done, rst)]),
        # Cooked v2 ("any"): the same exchange and the hostile IPv6 frames.
        "ipv6-sll2": (2, [sll2(x) for x in (push, ack, done, rst)] + frames_sll2_ipv6()),
        # Raw IP: extension header chains, fragments, cut headers.
        "ipv6-raw-ext": (5, [chained, chained[:70], chained[:90]] + frag + [ipv6(tcp(dport=40003), plen=0, **v6), push[:50]]),
    }


def write(path, linktype, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(fr), len(fr)) + fr)


def main():
    here = os.path.dirname(os.path.abspath(__file__)) if len(sys.argv) < 2 else sys.argv[1]
    write(os.path.join(here, "hostile-en10mb.pcap"), 1, frames_en10mb())
    write(os.path.join(here, "hostile-raw.pcap"), 101, frames_raw())
    write(os.path.join(here, "hostile-sll2-ipv6.pcap"), 276, frames_sll2_ipv6())
    corpus = os.path.join(here, "..", "fuzz", "corpus", "fuzz_pcap")
    for name, (dlt_index, frames) in fuzz_seeds().items():
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(bytes([dlt_index]) + b"".join(struct.pack(">H", len(fr)) + fr for fr in frames))


if __name__ == "__main__":
    main()
