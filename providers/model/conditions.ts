// Condition types and reasons of a routing domain (a Network's status), set by its provider
// controller: machine-readable and stable, like the Cluster conditions in the contract. They belong
// in controlplane/api/conditions.ts once the hub writes them; they live here until then.

export const NetworkConditionType = {
  /** The provider could not be made to match the plan: reason and message name the object. */
  Degraded: 'Degraded',
} as const;

export const NetworkReason = {
  /** Everything Causeway owns in the domain matches the plan. */
  Reconciled: 'Reconciled',
  /** A route table is full: the message names the table, the quota and the prefixes left out. */
  RouteQuotaExceeded: 'RouteQuotaExceeded',
  /** A planned route would take traffic from a route Causeway does not own: left alone, reported. */
  RouteConflict: 'RouteConflict',
  /** A link names nothing a route can point at (a missing transit gateway or Cloud Router field). */
  LinkUnresolved: 'LinkUnresolved',
  /** No route table matches the Network's selector. */
  NoRouteTables: 'NoRouteTables',
  /** The VPC, route table, transit gateway or security group the Network names does not exist. */
  ProviderObjectNotFound: 'ProviderObjectNotFound',
  /** The provider refused the credentials or the call (missing permission). */
  ProviderForbidden: 'ProviderForbidden',
  /** The provider throttled, failed or did not answer; retried with backoff. */
  ProviderUnavailable: 'ProviderUnavailable',
  /** A provider quota other than the route table's refused a change (rules per security group). */
  ProviderQuotaExceeded: 'ProviderQuotaExceeded',
  /** The provider refused a change as invalid or conflicting (a duplicate, a bad parameter). */
  ProviderRefused: 'ProviderRefused',
  /** The call budget of this reconcile ran out; the rest follows on the next one. */
  CallBudgetExhausted: 'CallBudgetExhausted',
  /** On-prem: a BGP session to one of the site's peers is not established; the message names the peer and its state. */
  BgpSessionDown: 'BgpSessionDown',
  /** On-prem: gobgpd runs with another AS than the Network's; the message names both. Nothing is changed. */
  BgpAsnMismatch: 'BgpAsnMismatch',
  /** On-prem: gobgpd has no global config and Causeway has no router id to start it with. */
  BgpNotConfigured: 'BgpNotConfigured',
  /** On-prem: a neighbor at a peer's address is configured outside Causeway and differs from the Network: left alone. */
  BgpPeerConflict: 'BgpPeerConflict',
  /** On-prem: a planned announcement failed validation (prefix, family, next hop, community); never sent to gobgpd. */
  AnnouncementRefused: 'AnnouncementRefused',
  /** On-prem: a planned prefix is already originated by gobgpd outside Causeway (by hand, another Network): left alone. */
  AnnouncementConflict: 'AnnouncementConflict',
} as const;
export type NetworkReason = (typeof NetworkReason)[keyof typeof NetworkReason];
