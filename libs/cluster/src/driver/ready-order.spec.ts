/** ReadyOrder: each stage of a Ready, out of the order ready.ts prescribes, is a RaftInvariantError. */
import { RaftInvariantError } from '@keyval/raft';
import type { Entry, LogIndex, Message, Ready, Term } from '@keyval/raft';
import { ReadyOrder } from './ready-order';

const entry = (index: number): Entry => ({ index: index as LogIndex, term: 1 as Term, type: 0, data: new Uint8Array() }) as unknown as Entry;
const message = { type: 'Heartbeat' } as unknown as Message;

function ready(parts: Partial<Ready> = {}): Ready {
  return { entries: [], committedEntries: [], messages: [], earlyMessages: [], readStates: [], failedReads: [], mustSync: false, ...parts } as unknown as Ready;
}

describe('ReadyOrder', () => {
  it('accepts the documented order: persist, send, apply, advance', () => {
    const order = new ReadyOrder();
    const r = ready({ entries: [entry(3), entry(4)], committedEntries: [entry(2)], messages: [message] });
    order.begin(r);
    order.persisted(4);
    order.sending();
    order.applying(r.committedEntries, 4);
    order.advancing();
    // The next Ready may begin once this one was advanced.
    order.begin(ready());
    order.persisted(4);
    order.sending();
    order.advancing();
  });

  it.each([
    ['sending before the writes are durable', (o: ReadyOrder) => o.sending()],
    ['applying before the writes are durable', (o: ReadyOrder) => o.applying([entry(2)], 4)],
    ['advancing before the writes are durable', (o: ReadyOrder) => o.advancing()],
  ])('refuses %s', (_what, stage) => {
    const order = new ReadyOrder();
    order.begin(ready({ entries: [entry(3)], committedEntries: [entry(2)], messages: [message] }));
    expect(() => stage(order)).toThrow(RaftInvariantError);
  });

  it('refuses a store that does not hold what was persisted or is applied', () => {
    const order = new ReadyOrder();
    order.begin(ready({ entries: [entry(3), entry(4)] }));
    expect(() => order.persisted(3)).toThrow(/ends at 3 after persisting entries up to 4/);
    const applying = new ReadyOrder();
    applying.begin(ready({ committedEntries: [entry(5)] }));
    applying.persisted(4);
    expect(() => applying.applying([entry(5)], 4)).toThrow(/applying entry 5/);
  });

  it('refuses a Ready advanced without sending its messages or applying its entries', () => {
    const unsent = new ReadyOrder();
    unsent.begin(ready({ messages: [message] }));
    unsent.persisted(0);
    expect(() => unsent.advancing()).toThrow(/without sending its messages/);
    const unapplied = new ReadyOrder();
    unapplied.begin(ready({ committedEntries: [entry(1)] }));
    unapplied.persisted(1);
    unapplied.sending();
    expect(() => unapplied.advancing()).toThrow(/without applying its committed entries/);
  });

  it('refuses two Readies in flight, stages twice, and stages with no Ready', () => {
    const order = new ReadyOrder();
    expect(() => order.sending()).toThrow(/with no Ready in flight/);
    order.begin(ready());
    expect(() => order.begin(ready())).toThrow(/before the previous one was advanced/);
    order.persisted(0);
    expect(() => order.persisted(0)).toThrow(/persisted twice/);
    order.sending();
    expect(() => order.sending()).toThrow(/sent twice/);
    expect(() => new ReadyOrder().begin(ready({ entries: [entry(3), entry(5)] }))).toThrow(/not consecutive/);
  });

  it('allows a Ready with nothing to write to skip persistence', () => {
    const order = new ReadyOrder();
    order.begin(ready({ messages: [message] }));
    order.sending();
    order.advancing();
  });
});
