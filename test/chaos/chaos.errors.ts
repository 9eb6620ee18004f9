/**
 * Every named error of the chaos harness, in one place. A usage error is the caller's fault
 * (bad flags); a setup error means the machine could not give the harness what it needs (not
 * root, no `ip netns`, a command failed); a busy error means another chaos run holds the lock.
 */

/** Base class: every harness error is one of these. */
export class ChaosError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line flags or options. */
export class ChaosUsageError extends ChaosError {}

/** A command the harness needs (ip, iptables, mount, a member) failed or is missing. */
export class ChaosSetupError extends ChaosError {}

/** Another chaos run owns the namespaces and did not finish within the wait. */
export class ChaosBusyError extends ChaosError {}

/** The cluster did not reach a state the harness waits for (a leader, a ready member) in time. */
export class ChaosTimeoutError extends ChaosError {}

/** A child process of the harness (agent, proxy) broke its protocol or died. */
export class ChaosAgentError extends ChaosError {}
