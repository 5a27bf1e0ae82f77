// Which outbound.routes entry a recipient domain takes: the domain itself first, then `.parent` entries from
// the nearest parent up (as Postfix's transport_maps: `.example.com` is every subdomain, not example.com).

/** The route for `domain` in `routes` (keys lower-case, `.suffix` for subdomains), or undefined. */
export function matchRoute<T>(routes: ReadonlyMap<string, T>, domain: string): T | undefined {
  const name = domain.toLowerCase().replace(/\.$/, '');
  const exact = routes.get(name);
  if (exact !== undefined) return exact;
  for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
    const parent = routes.get(name.slice(dot));
    if (parent !== undefined) return parent;
  }
  return undefined;
}
