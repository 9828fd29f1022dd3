// What a node name may be, here and on the wire alike: 1 to 64 characters from A-Z a-z 0-9 . _ -.
// Names show up in logs, metrics labels, the dashboard and peers' address books, so one from a
// peer is held to exactly the rule a local one is; otherwise "", "a\nb" or a right-to-left
// override would become members. This is the lowest layer that reads names, so the rule lives here
// and every other layer (state, config) uses it.

/** The longest node name, in characters (all ASCII, so also in bytes). */
export const MAX_NODE_NAME_LENGTH = 64;

export const NODE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** The rule in words, for error messages. */
export const NODE_NAME_RULE = `1 to ${MAX_NODE_NAME_LENGTH} characters from A-Z a-z 0-9 . _ -`;

export function isValidNodeName(name: string): boolean {
  return NODE_NAME_PATTERN.test(name);
}

/** Why `name` is not a valid node name, or null when it is. */
export function nodeNameProblem(name: string): string | null {
  return isValidNodeName(name) ? null : `node name ${printableName(name)} is not ${NODE_NAME_RULE}`;
}

/**
 * A name from a peer, safe to print: quoted, everything outside printable ASCII escaped as \u{…}
 * (control characters, bidi overrides), and cut after 64 characters.
 */
export function printableName(name: string): string {
  const escaped = name.slice(0, MAX_NODE_NAME_LENGTH).replace(/[^\x20-\x7e]|["\\]/g, (char) => `\\u{${char.charCodeAt(0).toString(16)}}`);
  return name.length > MAX_NODE_NAME_LENGTH ? `"${escaped}"... (${name.length} characters)` : `"${escaped}"`;
}
