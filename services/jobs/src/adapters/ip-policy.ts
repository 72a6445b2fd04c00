import ipaddr from 'ipaddr.js';

export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

type Parsed = ipaddr.IPv4 | ipaddr.IPv6;

/** The IPv6 global-unicast block (2000::/3); everything outside it is special-purpose or local. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/**
 * Parses an address; IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) IPv6 forms are turned
 * into the IPv4 address they carry, so ::ffff:127.0.0.1 is judged as 127.0.0.1.
 */
export function parseAddress(address: string): Parsed | null {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  // Zone ids (fe80::1%eth0) are link-local by definition.
  const withoutZone = bare.split('%')[0] ?? bare;
  if (!ipaddr.isValid(withoutZone)) return null;
  const parsed = ipaddr.parse(withoutZone);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
    const parts = v6.parts;
    // ::a.b.c.d (deprecated IPv4-compatible form), except :: and ::1 themselves.
    if (parts.slice(0, 6).every((p) => p === 0) && (parts[6] !== 0 || (parts[7] ?? 0) > 1)) {
      return ipaddr.fromByteArray(v6.toByteArray().slice(12));
    }
    // ::ffff:0:a.b.c.d (RFC 6145 translated form).
    if (parts.slice(0, 4).every((p) => p === 0) && parts[4] === 0xffff && parts[5] === 0) {
      return ipaddr.fromByteArray(v6.toByteArray().slice(12));
    }
  }
  return parsed;
}

/** True for addresses that are routable on the public internet: not loopback, private, link-local, CGNAT, … */
export function isPublicAddress(address: Parsed): boolean {
  if (address.kind() === 'ipv4') return (address as ipaddr.IPv4).range() === 'unicast';
  const v6 = address as ipaddr.IPv6;
  return v6.match(GLOBAL_UNICAST_V6) && v6.range() === 'unicast';
}

/**
 * The SSRF address policy: only public unicast addresses, unless an operator allow-listed a CIDR
 * (e.g. 10.0.0.0/8 for an internal webhook network, or 127.0.0.1/32 in tests).
 */
export function createAddressPolicy(allowedCidrs: string[]): (address: string) => AddressVerdict {
  const allowed = allowedCidrs.map((cidr) => {
    const [range, bits] = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : (() => {
      const single = ipaddr.parse(cidr);
      return [single, single.kind() === 'ipv4' ? 32 : 128] as [Parsed, number];
    })();
    const normalized = parseAddress(range.toString());
    const prefix = normalized && normalized.kind() !== range.kind() ? Math.max(0, bits - 96) : bits;
    return [normalized ?? range, prefix] as [Parsed, number];
  });
  return (raw: string) => {
    const address = parseAddress(raw);
    if (!address) return { allowed: false, reason: `not an IP address: ${raw}` };
    for (const [range, bits] of allowed) {
      if (range.kind() === address.kind() && address.match(range as never, bits)) return { allowed: true };
    }
    if (isPublicAddress(address)) return { allowed: true };
    const kind = address.kind() === 'ipv4' ? (address as ipaddr.IPv4).range() : (address as ipaddr.IPv6).range();
    return { allowed: false, reason: `${address.toString()} is a ${kind === 'unicast' ? 'non-global' : kind} address` };
  }
}
