// The HTTP edge's size limits, shared by the server's options and its error bodies.

/** Request bodies: larger applies are split by the client. */
export const BODY_LIMIT = 1024 * 1024;

/** A path segment (a name): a DNS-1123 subdomain is at most 253 characters. */
export const MAX_PATH_SEGMENT = 253;
