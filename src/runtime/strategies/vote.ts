/**
 * `vote`: the voters (every agent but the judge) answer the run input at the same time, and a
 * rule picks the answer:
 *
 * - `majority`: identical answers (outer whitespace ignored) form one group; the heaviest group wins.
 * - `normalized`: answers equal up to case, whitespace and punctuation form one group.
 * - `judge`: the judge agent reads the numbered answers and picks one.
 *
 * Each vote weighs its agent's `weight` (default 1). With a quorum `k` the vote ends as soon as
 * one group weighs `k` (the voters still running are cancelled) and fails with `no_quorum` once no
 * group can reach `k`. Without a quorum every voter answers and the heaviest group wins; a tie
 * goes to the group whose first voter comes first in the council. A failed voter is left out;
 * when every voter fails the vote fails. Confidence = the winning group's weight / the weight of
 * every voter that did not fail. Ties and group texts follow the council's agent order, not the
 * order answers arrive in, so the same answers always give the same result.
 */
import { HarnessError } from '../../errors.ts';
import type { Agent } from '../agent.ts';
import type { VoteSettings } from '../council.ts';
import { excerpt, mentions, step } from './shared.ts';
import type { AgentStepResult, CouncilContext, Decision, JsonValue, StrategyResult } from './types.ts';

/** The recorded outcome of a vote (the decision's value). */
interface VoteOutcome {
  [key: string]: JsonValue;
  output: string;
  confidence: number;
  /** The voters whose answers won. */
  winners: string[];
}

interface Group {
  key: string;
  weight: number;
  /** Voters in the group with their answers, in council order. */
  members: Array<{ agent: Agent; output: string }>;
}

/** How answers are grouped: the key two answers share when they count as the same vote. */
export function voteKey(rule: 'majority' | 'normalized', output: string): string {
  if (rule === 'majority') return output.trim();
  return output
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

export async function vote(ctx: CouncilContext): Promise<StrategyResult> {
  const settings: VoteSettings = ctx.council.vote ?? { rule: 'majority' };
  const outcome = await ctx.decide<VoteOutcome>('vote', 'vote', () => collect(ctx, settings));
  return { output: outcome.output, confidence: outcome.confidence };
}

const weightOf = (agent: Agent) => agent.spec.weight ?? 1;

async function collect(ctx: CouncilContext, settings: VoteSettings): Promise<Decision<VoteOutcome>> {
  const { council } = ctx;
  const voters = council.agents.filter((agent) => settings.rule !== 'judge' || agent.name !== settings.judge);
  const order = new Map(voters.map((agent, i) => [agent.name, i]));
  const groupRule = settings.rule === 'majority' ? 'majority' : 'normalized';
  const quorum = settings.quorum;
  const answers = new Map<string, string>();
  const failed: Array<{ agent: string; error: HarnessError }> = [];
  const controllers = new Map(voters.map((agent) => [agent.name, new AbortController()]));
  let pendingWeight = voters.reduce((sum, agent) => sum + weightOf(agent), 0);
  let runFailure: unknown;

  const groups = (): Group[] => {
    const byKey = new Map<string, Group>();
    for (const agent of voters) {
      const output = answers.get(agent.name);
      if (output === undefined) continue;
      const key = voteKey(groupRule, output);
      const group = byKey.get(key) ?? { key, weight: 0, members: [] };
      group.weight += weightOf(agent);
      group.members.push({ agent, output });
      byKey.set(key, group);
    }
    // Heaviest first; ties to the group whose first voter comes first in the council.
    return [...byKey.values()].sort(
      (a, b) =>
        b.weight - a.weight ||
        (order.get(a.members[0]?.agent.name ?? '') ?? 0) - (order.get(b.members[0]?.agent.name ?? '') ?? 0),
    );
  };

  // Resolves once the vote is decided: quorum reached, quorum out of reach, or every voter done.
  let decided: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    decided = resolve;
  });
  const check = () => {
    if (runFailure !== undefined) return decided();
    if (quorum === undefined) {
      if (pendingWeight === 0) decided();
      return;
    }
    const top = groups()[0]?.weight ?? 0;
    if (top >= quorum || top + pendingWeight < quorum || pendingWeight === 0) decided();
  };

  const running = voters.map((agent) => {
    const controller = controllers.get(agent.name) as AbortController;
    return step(ctx, agent, ctx.input, { signal: controller.signal }).then(
      (result: AgentStepResult) => {
        pendingWeight -= weightOf(agent);
        if (!controller.signal.aborted) answers.set(agent.name, result.output);
        check();
      },
      (error: unknown) => {
        pendingWeight -= weightOf(agent);
        // A voter cancelled because the vote was decided is not a failure.
        if (!controller.signal.aborted) {
          if (ctx.signal.aborted || (HarnessError.isInstance(error) && error.code === 'limit_exceeded')) {
            runFailure ??= error;
          } else {
            failed.push({ agent: agent.name, error: error as HarnessError });
          }
        }
        check();
      },
    );
  });
  check();
  await done;
  const aborted: string[] = [];
  for (const agent of voters) {
    if (answers.has(agent.name) || failed.some((f) => f.agent === agent.name)) continue;
    aborted.push(agent.name);
    controllers.get(agent.name)?.abort(new HarnessError('aborted', 'the vote was decided'));
  }
  // Steps never outlive their council: wait for the cancelled voters to stop.
  await Promise.all(running);
  if (runFailure !== undefined) throw runFailure;

  const ranked = groups();
  const failedWeight = failed.reduce((sum, f) => sum + weightOf(council.agent(f.agent)), 0);
  const total = voters.reduce((sum, agent) => sum + weightOf(agent), 0) - failedWeight;
  const detail: Record<string, JsonValue> = {
    rule: settings.rule,
    ...(quorum === undefined ? {} : { quorum }),
    votes: Object.fromEntries([...answers].map(([agent, output]) => [agent, excerpt(output, 60)])),
    ...(aborted.length === 0 ? {} : { cancelled: aborted }),
    ...(failed.length === 0 ? {} : { failed: failed.map((f) => ({ agent: f.agent, code: f.error.code })) }),
  };

  if (ranked.length === 0 || (quorum !== undefined && (ranked[0]?.weight ?? 0) < quorum)) {
    throw noQuorum(council.name, voters.length, failed, quorum, ranked[0]?.weight ?? 0);
  }

  if (settings.rule === 'judge' && settings.judge !== undefined && answers.size > 1) {
    return judge(ctx, settings.judge, voters, answers, ranked, total, detail);
  }
  const winner = ranked[0] as Group;
  return outcome(winner, total, detail, {
    reason:
      quorum !== undefined && aborted.length > 0
        ? `quorum ${quorum} reached by ${winner.members.map((m) => m.agent.name).join(', ')}; ${aborted.length} voter${aborted.length === 1 ? '' : 's'} cancelled`
        : `${winner.weight} of ${total} weighted votes (${groupRule === 'majority' ? 'exact' : 'normalized'} match)`,
  });
}

function outcome(
  winner: Group,
  total: number,
  detail: Record<string, JsonValue>,
  why: { reason: string },
): Decision<VoteOutcome> {
  const first = winner.members[0] as { agent: Agent; output: string };
  const confidence = total > 0 ? winner.weight / total : 0;
  return {
    value: { output: first.output, confidence, winners: winner.members.map((m) => m.agent.name) },
    chosen: excerpt(first.output, 60),
    reason: why.reason,
    detail: { ...detail, weight: winner.weight, total, confidence },
  };
}

async function judge(
  ctx: CouncilContext,
  judgeName: string,
  voters: readonly Agent[],
  answers: ReadonlyMap<string, string>,
  ranked: readonly Group[],
  total: number,
  detail: Record<string, JsonValue>,
): Promise<Decision<VoteOutcome>> {
  const listed = voters.filter((agent) => answers.has(agent.name));
  const prompt = [
    ctx.input,
    'Answers to choose from:',
    ...listed.map((agent, i) => `[${i + 1}] (${agent.name}) ${answers.get(agent.name)}`),
    'Reply with the number of the best answer.',
  ].join('\n\n');
  const reply = await step(ctx, ctx.council.agent(judgeName), prompt);
  const picked = parsePick(reply.output, listed);
  if (picked === undefined) {
    // An unreadable verdict should not waste the answers: the normalized majority decides instead.
    return outcome(
      ranked[0] as Group,
      total,
      { ...detail, judge: judgeName, verdict: excerpt(reply.output, 60) },
      {
        reason: `${judgeName}'s reply names no answer; the normalized majority decides`,
      },
    );
  }
  const group = ranked.find((g) => g.members.some((m) => m.agent.name === picked.name)) as Group;
  // The picked voter's own text, first among the answers that agree with it.
  const members = [
    { agent: picked, output: answers.get(picked.name) as string },
    ...group.members.filter((m) => m.agent !== picked),
  ];
  return outcome(
    { ...group, members },
    total,
    { ...detail, judge: judgeName },
    {
      reason: `${judgeName} picked the answer of ${picked.name}`,
    },
  );
}

/** The voter a judge's reply points at: `2`, `[2]`, `Answer 2`, or a voter's name. */
function parsePick(reply: string, listed: readonly Agent[]): Agent | undefined {
  const number = /\d+/.exec(reply);
  if (number !== null) {
    const agent = listed[Number(number[0]) - 1];
    if (agent !== undefined) return agent;
  }
  const named = listed.filter((agent) => mentions(reply, agent.name));
  return named.length === 1 ? named[0] : undefined;
}

function noQuorum(
  council: string,
  voters: number,
  failed: ReadonlyArray<{ agent: string; error: HarnessError }>,
  quorum: number | undefined,
  best: number,
): HarnessError {
  const failures = failed.map((f) => `${f.agent}: ${f.error.code}`).join(', ');
  const message =
    quorum === undefined || failed.length === voters
      ? `council "${council}": every voter failed (${failures})`
      : `council "${council}": no answer reached the quorum of ${quorum} (best: ${best})${failed.length > 0 ? `; failed voters: ${failures}` : ''}`;
  return new HarnessError('no_quorum', message, {
    cause: failed[0]?.error,
    isRetryable: failed.length > 0 && failed.every((f) => f.error.isRetryable),
    hint:
      failed.length > 0
        ? 'see the failed voters’ errors; lower the quorum or add voters to tolerate failures'
        : 'the voters disagree: lower the quorum, use rule normalized, or add voters',
    details: {
      quorum: quorum ?? null,
      best,
      failed: failed.map((f) => ({ agent: f.agent, code: f.error.code, message: f.error.message })),
    },
  });
}
