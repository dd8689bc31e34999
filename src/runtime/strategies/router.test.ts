import { describe, expect, it } from 'vitest';
import { Council, type CouncilOptions } from '../council.ts';
import { type FakeAnswer, FakeCouncilContext } from './fake-context.ts';
import { pickAgent, router, routerAgent, routerAgentName } from './router.ts';

function support(routerOptions: NonNullable<CouncilOptions['router']>): Council {
  return new Council({
    name: 'Support',
    strategy: 'router',
    router: routerOptions,
    agents: [
      { name: 'General', model: 'sim', description: 'Anything else' },
      { name: 'Billing', model: 'sim', description: 'Invoices, refunds and payments' },
      { name: 'Account', model: 'sim', instructions: 'Logins and passwords.\nBe careful.' },
    ],
  });
}

const echo =
  (routerReply: string): FakeAnswer =>
  ({ agent, input }) =>
    agent === routerAgentName ? routerReply : `${agent}: ${input}`;

describe('router', () => {
  it('a matching rule routes without asking the model', async () => {
    const ctx = new FakeCouncilContext({
      council: support({ routes: [{ when: 'refund|invoice', agent: 'Billing' }], model: 'fast' }),
      input: 'Where is my INVOICE?',
      answer: echo('Account'),
    });
    expect(await router(ctx)).toEqual({ output: 'Billing: Where is my INVOICE?' });
    expect(ctx.calls.map((call) => call.agent)).toEqual(['Billing']);
    expect(ctx.decisions).toEqual([
      {
        key: 'route',
        kind: 'route',
        decision: {
          value: 'Billing',
          chosen: 'Billing',
          reason: 'route 1 (/refund|invoice/i) matched the input',
          detail: { by: 'rule', route: 0 },
        },
      },
    ]);
  });

  it('else the model picks an agent from their descriptions', async () => {
    const ctx = new FakeCouncilContext({
      council: support({ routes: [{ when: 'refund', agent: 'Billing' }], model: 'fast' }),
      input: 'I forgot my password',
      answer: echo('"Account."'),
    });
    expect(await router(ctx)).toEqual({ output: 'Account: I forgot my password' });
    const pick = ctx.calls[0];
    expect(pick).toMatchObject({
      agent: routerAgentName,
      key: routerAgentName,
      input: 'I forgot my password',
    });
    expect(ctx.decisions[0]?.decision).toMatchObject({
      value: 'Account',
      reason: 'no route matched; the router model fast picked Account',
      detail: { by: 'model', model: 'fast', reply: '"Account."' },
    });
  });

  it('a model reply that names no agent goes to the default', async () => {
    const ctx = new FakeCouncilContext({
      council: support({ model: 'fast', default: 'General' }),
      input: 'Hello',
      answer: echo('I cannot decide'),
    });
    expect(await router(ctx)).toEqual({ output: 'General: Hello' });
    expect(ctx.decisions[0]?.decision).toMatchObject({ value: 'General', detail: { by: 'default' } });
  });

  it('without a model an unmatched input goes to the default, the first agent unless set', async () => {
    const first = new FakeCouncilContext({
      council: support({ routes: [{ when: 'refund', agent: 'Billing' }] }),
      input: 'Hi',
      answer: echo(''),
    });
    expect(await router(first)).toEqual({ output: 'General: Hi' });
    const set = new FakeCouncilContext({
      council: support({ routes: [{ when: 'refund', agent: 'Billing' }], default: 'Account' }),
      input: 'Hi',
      answer: echo(''),
    });
    expect(await router(set)).toEqual({ output: 'Account: Hi' });
    expect(set.decisions[0]?.decision.reason).toBe('no route matched; the default agent answers');
  });

  it('a resumed run takes the recorded route without asking the model', async () => {
    const ctx = new FakeCouncilContext({
      council: support({ model: 'fast' }),
      input: 'Hi',
      answer: echo('General'),
      replay: { route: 'Billing' },
    });
    expect(await router(ctx)).toEqual({ output: 'Billing: Hi' });
    expect(ctx.calls.map((call) => call.agent)).toEqual(['Billing']);
  });
});

describe('router agent', () => {
  it('lists the agents with their descriptions (else the first line of their instructions)', () => {
    const agent = routerAgent(support({ model: 'fast' }), 'fast');
    expect(agent.model).toBe('fast');
    expect(agent.spec.instructions).toBe(
      [
        'You route a request to the agent best suited to answer it. The agents:',
        '- General: Anything else',
        '- Billing: Invoices, refunds and payments',
        '- Account: Logins and passwords.',
        'Reply with the name of exactly one agent and nothing else.',
      ].join('\n'),
    );
  });
});

describe('pickAgent', () => {
  const names = ['Billing', 'General', 'Account'];
  it.each([
    ['Billing', 'Billing'],
    ['  billing.\n', 'Billing'],
    ['"Account"', 'Account'],
    ['Agent: General', 'General'],
    ['I would send this to Billing, since it is about money.', 'Billing'],
    ['Billing or Account', undefined],
    ['Billings', undefined],
    ['nobody', undefined],
    ['', undefined],
  ])('%j → %s', (reply, expected) => {
    expect(pickAgent(reply, names)).toBe(expected);
  });
});
