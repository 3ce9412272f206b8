import { presenceStore, type PresenceSource } from '@switchboard/client';

/** How many user ids a panel lists beside its count. */
const SHOWN_USERS = 5;

/**
 * Shows who is watching a panel's channel in `target`, live (the SDK's presence store): the
 * number of users, then the first few user ids. Returns the function that stops it.
 */
export function showWatching(target: HTMLElement, source: PresenceSource): () => void {
  const store = presenceStore(source);
  const render = () => {
    const { loaded, occupancy, members } = store.getSnapshot();
    if (!loaded) {
      target.textContent = '';
      return;
    }
    const users = [...new Set(members.map((m) => m.userId ?? 'anonymous'))];
    const shown = users.slice(0, SHOWN_USERS).join(', ');
    const more = occupancy.users > SHOWN_USERS ? ` +${occupancy.users - SHOWN_USERS}` : '';
    target.textContent = `${occupancy.users} watching: ${shown}${more}`;
    target.title = `${occupancy.connections} connection(s), ${occupancy.users} user(s)`;
  };
  const stop = store.subscribe(render);
  render();
  return () => {
    stop();
    target.textContent = '';
  };
}
