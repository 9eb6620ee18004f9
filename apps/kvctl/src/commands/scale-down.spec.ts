import type { admin } from '@keyval/proto';
import { planScaleDown, scaleDownProblem } from './scale-down';

const member = (name: string, id: bigint, isLearner = false): admin.Member => ({ id, name, peerUrls: [], clientUrls: [], isLearner }) as unknown as admin.Member;
const five = [member('keyval-0', 1n), member('keyval-1', 2n), member('keyval-2', 3n), member('keyval-3', 4n), member('keyval-4', 5n)];
const all = new Set([1n, 2n, 3n, 4n, 5n]);

describe('planScaleDown', () => {
  it('removes the ordinals at and beyond the new replica count, highest first', () => {
    const plan = planScaleDown(five, 'keyval', 3, all);
    expect(plan.remove.map((m) => m.name)).toEqual(['keyval-4', 'keyval-3']);
    expect(plan.keep.map((m) => m.name)).toEqual(['keyval-0', 'keyval-1', 'keyval-2']);
    expect(scaleDownProblem(plan)).toBeUndefined();
  });

  it('orders by number, not text (keyval-10 before keyval-9), and keeps members of other names', () => {
    const members = [member('keyval-9', 1n), member('keyval-10', 2n), member('other-7', 3n), member('keyval-0', 4n)];
    const plan = planScaleDown(members, 'keyval', 1, new Set([3n, 4n]));
    expect(plan.remove.map((m) => m.name)).toEqual(['keyval-10', 'keyval-9']);
    expect(plan.keep.map((m) => m.name)).toEqual(['other-7', 'keyval-0']);
  });

  it('refuses when the voters kept would not have a live quorum', () => {
    const plan = planScaleDown(five, 'keyval', 3, new Set([1n, 4n, 5n]));
    expect(plan).toMatchObject({ keptVoters: 3, keptVotersLive: 1 });
    expect(scaleDownProblem(plan)).toBe('the 3 voters kept would have 1 running, fewer than the quorum of 2');
  });

  it('does not count kept learners as voters', () => {
    const members = [member('keyval-0', 1n), member('keyval-1', 2n, true), member('keyval-2', 3n)];
    expect(scaleDownProblem(planScaleDown(members, 'keyval', 2, all))).toBeUndefined();
    expect(planScaleDown(members, 'keyval', 2, all)).toMatchObject({ keptVoters: 1, keptVotersLive: 1 });
    expect(scaleDownProblem(planScaleDown([member('keyval-0', 1n, true), member('keyval-1', 2n)], 'keyval', 1, all))).toBe('no voter would be left');
  });
});
