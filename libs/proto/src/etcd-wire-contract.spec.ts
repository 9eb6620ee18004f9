/**
 * The etcd wire contract, checked against protos no one here wrote: those shipped with the
 * `etcd3` npm client (a dev dependency). Every message and field we declare in `etcdserverpb`
 * and `mvccpb` must exist there with the same number, type and label, and every method we
 * declare must exist there with the same request and response types. The `etcd3` files follow
 * etcd 3.5, a superset of 3.4: fields only they have must be on the known list of 3.5 additions
 * below, so a field we forgot cannot hide.
 *
 * Both sets of files are compiled by `buf build` into descriptor sets, offline.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..', '..');
const buf = path.join(root, 'node_modules', '.bin', 'buf');
const etcd3ProtoDir = path.join(root, 'node_modules', 'etcd3', 'proto');

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName?: string;
  oneofIndex?: number;
}
interface MessageDescriptor {
  name: string;
  field?: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
}
interface MethodDescriptor {
  name: string;
  inputType: string;
  outputType: string;
  clientStreaming?: boolean;
  serverStreaming?: boolean;
}
interface FileDescriptor {
  name: string;
  package: string;
  messageType?: MessageDescriptor[];
  service?: { name: string; method?: MethodDescriptor[] }[];
}

/** Fields etcd 3.5 added to messages we declare; we serve 3.4, which has none of them. */
const ETCD_35_ADDITIONS = new Set(['etcdserverpb.MemberListRequest.linearizable']);

function buildDescriptors(dir: string): FileDescriptor[] {
  const json = execFileSync(buf, ['build', dir, '--exclude-source-info', '-o', '-#format=json'], { cwd: root, encoding: 'utf8' });
  return (JSON.parse(json) as { file: FileDescriptor[] }).file;
}

/** Copies etcd3's protos, dropping the google.api.http options (they need imports we lack). */
function etcd3Copy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'etcd3-proto-'));
  for (const name of fs.readdirSync(etcd3ProtoDir)) {
    const text = fs
      .readFileSync(path.join(etcd3ProtoDir, name), 'utf8')
      .replace(/option \(google\.api\.http\) = \{(?:[^{}]|\{[^{}]*\})*\};/gs, '')
      .replace(/import "\.\/([\w.]+\.proto)"/g, 'import "$1"');
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function messagesByName(files: FileDescriptor[]): Map<string, MessageDescriptor> {
  const out = new Map<string, MessageDescriptor>();
  const visit = (prefix: string, message: MessageDescriptor): void => {
    const name = `${prefix}.${message.name}`;
    out.set(name, message);
    for (const nested of message.nestedType ?? []) {
      visit(name, nested);
    }
  };
  for (const file of files) {
    for (const message of file.messageType ?? []) {
      visit(file.package, message);
    }
  }
  return out;
}

function methodsByName(files: FileDescriptor[]): Map<string, MethodDescriptor> {
  const out = new Map<string, MethodDescriptor>();
  for (const file of files) {
    for (const service of file.service ?? []) {
      for (const method of service.method ?? []) {
        out.set(`${file.package}.${service.name}/${method.name}`, method);
      }
    }
  }
  return out;
}

const fieldShape = (f: FieldDescriptor): string => `${f.number} ${f.label} ${f.type} ${f.typeName ?? ''} ${f.oneofIndex ?? '-'}`;

describe('etcd wire contract (against the etcd3 client protos)', () => {
  let ours: FileDescriptor[];
  let theirs: FileDescriptor[];

  beforeAll(() => {
    ours = buildDescriptors('.').filter((f) => f.package === 'etcdserverpb' || f.package === 'mvccpb');
    const copy = etcd3Copy();
    try {
      theirs = buildDescriptors(copy);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it('declares every etcd message field with etcd field numbers, types and labels', () => {
    const theirMessages = messagesByName(theirs);
    const problems: string[] = [];
    let checked = 0;
    for (const [name, message] of messagesByName(ours)) {
      const theirMessage = theirMessages.get(name);
      if (theirMessage === undefined) {
        problems.push(`${name}: not an etcd message`);
        continue;
      }
      const theirFields = new Map((theirMessage.field ?? []).map((f) => [f.name.toLowerCase(), f]));
      for (const field of message.field ?? []) {
        const theirField = theirFields.get(field.name.toLowerCase());
        checked += 1;
        if (theirField === undefined) {
          problems.push(`${name}.${field.name}: not in etcd`);
        } else if (fieldShape(field) !== fieldShape(theirField)) {
          problems.push(`${name}.${field.name}: ours ${fieldShape(field)}, etcd ${fieldShape(theirField)}`);
        }
        theirFields.delete(field.name.toLowerCase());
      }
      for (const missing of theirFields.values()) {
        if (!ETCD_35_ADDITIONS.has(`${name}.${missing.name}`)) {
          problems.push(`${name}.${missing.name}: etcd has it, we do not`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(100);
  });

  it('declares KV, Cluster and Maintenance methods as etcd does', () => {
    const theirMethods = methodsByName(theirs);
    const ourMethods = methodsByName(ours);
    const shape = (m: MethodDescriptor): string =>
      `${m.inputType} -> ${m.outputType} ${m.clientStreaming === true} ${m.serverStreaming === true}`;
    const problems: string[] = [];
    for (const [name, method] of ourMethods) {
      const theirMethod = theirMethods.get(name);
      if (theirMethod === undefined || shape(theirMethod) !== shape(method)) {
        problems.push(`${name}: ours ${shape(method)}, etcd ${theirMethod === undefined ? 'absent' : shape(theirMethod)}`);
      }
    }
    expect(problems).toEqual([]);
    for (const required of [
      'KV/Range',
      'KV/Put',
      'KV/DeleteRange',
      'KV/Txn',
      'KV/Compact',
      'Cluster/MemberList',
      'Cluster/MemberAdd',
      'Cluster/MemberRemove',
      'Cluster/MemberUpdate',
      'Cluster/MemberPromote',
      'Maintenance/Status',
      'Maintenance/MoveLeader',
    ]) {
      expect(ourMethods.has(`etcdserverpb.${required}`)).toBe(true);
    }
  });

  it('keeps our own protos lint-clean (buf lint)', () => {
    expect(() => execFileSync(buf, ['lint'], { cwd: root, encoding: 'utf8', stdio: 'pipe' })).not.toThrow();
  });
});
