import { BlockList, isIP } from 'node:net';

/**
 * An address in one canonical text form: IPv4 dotted (also for IPv4-mapped IPv6, as uWS reports
 * IPv4 peers on a dual-stack socket), IPv6 compressed (uWS prints all eight groups). Anything
 * that is not an IP address is returned trimmed.
 */
export function normalizeAddress(text: string): string {
  const address = text.trim();
  if (isIP(address) !== 6) return address;
  const compressed = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
  if (!mapped) return compressed;
  const [high, low] = [parseInt(mapped[1] as string, 16), parseInt(mapped[2] as string, 16)];
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * Who the client is, for per-address limits: the peer of the TCP connection, unless that peer is
 * a trusted proxy (TRUSTED_PROXIES), in which case `X-Forwarded-For` is read from the right,
 * skipping trusted hops, and the first address not trusted is the client. Anyone else's
 * `X-Forwarded-For` is ignored: a client could write anything there.
 */
export class ClientAddresses {
  private readonly trusted = new BlockList();
  private readonly anyTrusted: boolean;

  constructor(trustedProxies: string[]) {
    for (const entry of trustedProxies) {
      const [address = '', prefix] = entry.split('/');
      const normalized = normalizeAddress(address);
      const family = isIP(normalized) === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) this.trusted.addAddress(normalized, family);
      else this.trusted.addSubnet(normalized, Number(prefix), family);
    }
    this.anyTrusted = trustedProxies.length > 0;
  }

  isTrusted(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.trusted.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** The client's address, from the socket's peer and the request's `X-Forwarded-For`. */
  resolve(peer: string, forwardedFor: string): string {
    let client = normalizeAddress(peer);
    if (!this.anyTrusted || forwardedFor === '' || !this.isTrusted(client)) return client;
    const hops = forwardedFor.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeAddress(hops[i] as string);
      // A malformed entry cannot be trusted or keyed on: the last good hop is the answer.
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.isTrusted(hop)) break;
    }
    return client;
  }
}

/**
 * The key limits are counted under: the address itself for IPv4, its /64 network for IPv6 (one
 * subscriber usually holds a whole /64, and picking a new address in it costs nothing).
 */
export function limitKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  // Expand "::" so the first four groups can be read.
  const [head = '', tail = ''] = groups.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = groups.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const full = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return `${full.slice(0, 4).join(':')}::/64`;
}
