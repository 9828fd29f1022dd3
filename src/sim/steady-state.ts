// When max staleness is back in steady state after an overload: the definition that the
// flow-control benchmark (scripts/bench/flow.ts) reports and test/flow-control.test.ts asserts.
//
// The steady state is what the same cluster shows under the same writes without the overload: a
// control run with the same seed, identical up to the overload and kept at the steady load after
// it. Max staleness is compared as a 3-round average, in both runs. The band is the highest
// average the control run reaches over the whole window (from the settled steady state to the end
// of the window). A run is back in steady state from the first round after the overload from
// which the average stays inside the band up to the end of the window: it must come back and
// stay, not dip in once.
//
// Why a control run, not the rounds before the overload: max staleness is the worst of every
// (replica, origin, key) mapping, so it jumps by a second or two from round to round even in
// steady state, and ten rounds before the overload are too few to know its range. In the
// benchmark's rounds 75-90, runs that never had an overload went above the maximum of their own
// rounds 16-25 in 10 of 14 runs (several seeds, two versions of the controller): "stays under the
// pre-overload maximum" fails a cluster that never left steady state, so it measures noise.
// Why an average: one round's figure is often a single straggler (one replica lacking one quiet
// origin's value for a few rounds, as the control run has too); three rounds smooth that while a
// level that stays high, as when the cluster runs above its steady load, still shows.

import type { RoundRecord } from "./flow-experiment.ts";

/** Rounds in the moving average of max staleness. */
export const AVERAGED_ROUNDS = 3;

export interface SteadyStateWindow {
  /** Seconds after which the steady state has settled (warm-up over). */
  steadyFromS: number;
  /** Seconds at which the overload ends. */
  overloadEndS: number;
  /** Seconds up to which the run must stay in the band (the next disturbance). */
  untilS: number;
}

export interface SteadyReturn {
  /** Upper edge of the band, ms: the control run's highest averaged max staleness in the window. */
  bandMs: number;
  /** Rounds after overloadEndS until the average is first inside the band; null if not by untilS. */
  firstInBand: number | null;
  /** Rounds after overloadEndS from which the average stays inside the band up to untilS; null if it does not. */
  backForGood: number | null;
}

export function steadyReturn(run: readonly RoundRecord[], control: readonly RoundRecord[], window: SteadyStateWindow): SteadyReturn {
  const { steadyFromS, overloadEndS, untilS } = window;
  const reference = averagedStaleness(control, steadyFromS + AVERAGED_ROUNDS, untilS, "control run");
  const bandMs = reference.reduce((worst, point) => Math.max(worst, point.ms), 0);
  const after = averagedStaleness(run, overloadEndS, untilS, "run");
  const first = after.find((point) => point.ms <= bandMs);
  // The last point outside the band; the run is back for good from the point after it.
  let lastOut = -1;
  after.forEach((point, i) => {
    if (point.ms > bandMs) lastOut = i;
  });
  const back = after[lastOut + 1];
  return {
    bandMs,
    firstInBand: first ? first.seconds - overloadEndS : null,
    backForGood: back ? back.seconds - overloadEndS : null,
  };
}

/** Max staleness averaged over the AVERAGED_ROUNDS rounds ending at each second in [fromS, toS]. */
export function averagedStaleness(rounds: readonly RoundRecord[], fromS: number, toS: number, label = "run"): { seconds: number; ms: number }[] {
  const bySecond = new Map(rounds.map((round) => [round.seconds, round.staleness.maxReplicaMs]));
  const points: { seconds: number; ms: number }[] = [];
  for (let seconds = fromS; seconds <= toS; seconds++) {
    let sum = 0;
    for (let back = 0; back < AVERAGED_ROUNDS; back++) {
      const ms = bySecond.get(seconds - back);
      if (ms === undefined) throw new Error(`steadyReturn: the ${label} has no round at t = ${seconds - back} s`);
      sum += ms;
    }
    points.push({ seconds, ms: sum / AVERAGED_ROUNDS });
  }
  return points;
}
