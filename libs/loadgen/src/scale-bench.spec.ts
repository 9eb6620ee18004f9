import { counterSum, parseScaleArgs, scaleKey, scaleValue } from './scale-bench';

describe('bench:scale', () => {
  it('parses its flags and says what is wrong with a bad one', () => {
    expect(parseScaleArgs(['--target', 'both', '--keys', '5000', '--txn-ops', '50'])).toMatchObject({ targets: ['keyval', 'etcd'], keys: 5000, txnOps: 50, valueBytes: 256 });
    expect(() => parseScaleArgs(['--txn-ops', '129'])).toThrow(/at most 128/);
    expect(() => parseScaleArgs(['--keys', '0'])).toThrow('--keys takes a whole number of at least 1, not "0"');
    expect(() => parseScaleArgs(['--keys'])).toThrow('--keys takes a whole number of at least 1, not undefined');
    expect(() => parseScaleArgs(['--target', 'zk'])).toThrow(/--target takes keyval, etcd, both/);
    expect(() => parseScaleArgs(['--big'])).toThrow(/unknown flag --big/);
  });

  it('makes fixed-width keys and values that are the same every run but do not compress', () => {
    expect(scaleKey(42).toString()).toBe('scale/00000042');
    expect(scaleValue(7, 256).equals(scaleValue(7, 256))).toBe(true);
    expect(scaleValue(7, 256).equals(scaleValue(8, 256))).toBe(false);
    const distinct = new Set(scaleValue(1, 4096));
    expect(distinct.size).toBeGreaterThan(200);
  });

  it('sums a counter family across its labels, ignoring other families', () => {
    const text = ['# TYPE keyval_install_snapshot_sent_total counter', 'keyval_install_snapshot_sent_total{result="ok"} 2', 'keyval_install_snapshot_sent_total{result="failed"} 1', 'keyval_install_snapshot_sent_bytes_total 99', 'etcd_network_snapshot_send_success{To="x"} 3'].join('\n');
    expect(counterSum(text, 'keyval_install_snapshot_sent_total')).toBe(3);
    expect(counterSum(text, 'etcd_network_snapshot_send_success')).toBe(3);
    expect(counterSum(text, 'absent')).toBe(0);
  });
});
