/**
 * No response carries a raw IP address or user agent: IPs are cut to their network (/24 for IPv4,
 * /48 for IPv6), which keeps geography and abuse analysis possible without naming a household.
 */

/** The network prefix of an IP address, or `null` for anything that is not one. */
export function redactIp(ip: string | null | undefined): string | null {
  if (!ip) return null;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  if (!ip.includes(":")) return null;
  const [head = "", tail] = ip.split("::");
  const headParts = head === "" ? [] : head.split(":");
  const tailParts = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - headParts.length - tailParts.length;
  const groups = tail === undefined
    ? headParts
    : [...headParts, ...Array(Math.max(0, missing)).fill("0"), ...tailParts];
  if (groups.length < 3) return null;
  const prefix = groups.slice(0, 3).map((g) => (parseInt(g, 16) || 0).toString(16)).join(":");
  return `${prefix}::/48`;
}
