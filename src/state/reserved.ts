/**
 * The key group GoferBroke keeps for its own entries (address, leave status, cluster config).
 * Applications cannot write it, it does not count against their limits, and it raises no
 * application events.
 */
export const RESERVED_GROUP = "__gb";
