// The member list a node reports (members()): every node its state holds but probationary names,
// with membership's verdict and phi, and the words its log uses for each transition.

import type { Membership, Transition } from "../membership/membership.ts";
import type { ClusterState } from "../state/index.ts";
import type { MemberInfo } from "./types.ts";

export function memberList(state: ClusterState, membership: Membership | null, running: boolean, addressOf: (name: string) => string | undefined): MemberInfo[] {
  const views = new Map(membership?.members().map((view) => [view.name, view]));
  const list: MemberInfo[] = [];
  for (const node of state.nodes.values()) {
    // A probationary name is held, not a member (state/probation.ts): nodes() lists it, this does not.
    if (state.isProbationary(node.name)) continue;
    const isSelf = node.name === state.selfName;
    const view = views.get(node.name);
    list.push({
      name: node.name,
      address: addressOf(node.name),
      state: isSelf ? (running ? "alive" : "left") : (view?.status ?? "alive"),
      phi: isSelf ? 0 : (view?.phi ?? 0),
      generation: node.generation,
      heartbeat: state.heartbeatOf(node.name),
      heartbeatAgeMs: isSelf ? 0 : (view?.lastHeartbeatAgeMs ?? 0),
      maxVersion: node.maxVersion,
    });
  }
  return list;
}

export const transitionVerbs: Record<Transition["kind"], string> = {
  joined: "joined",
  suspect: "is suspected of failure",
  alive: "is alive again",
  dead: "is dead",
  left: "left",
  removed: "was removed",
};
