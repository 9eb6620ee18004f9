/** The listeners of StateMachine.onChange, called in subscription order. */
import type { StoreChange } from '../state-machine';

export class ChangeListeners {
  private readonly listeners = new Set<(change: StoreChange) => void>();

  add(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every listener; a listener that throws stops the others and the caller (fatal). */
  emit(change: StoreChange): void {
    for (const listener of this.listeners) {
      listener(change);
    }
  }
}
