// Operator actions: each answers with a message (202 accepted, or the API's reason: a 403
// for a role that may not, shown as a message, never a broken page).
import { post } from './api.js';
import { say } from './store.js';

async function act(path, body, done) {
  try {
    await post(path, body);
    say(done, 'info');
    return true;
  } catch (err) {
    say(err.message);
    return false;
  }
}

const alarmPath = (id, verb) => `/api/alarms/${encodeURIComponent(id)}/${verb}`;

export const acknowledge = (id, comment = '') =>
  act(alarmPath(id, 'acknowledge'), { comment }, `Acknowledgement of ${id} sent.`);

export const shelve = (id, durationS, comment) =>
  act(alarmPath(id, 'shelve'), { duration_s: durationS, comment }, `${id} shelved for ${Math.round(durationS / 60)} min.`);

export const unshelve = (id) => act(alarmPath(id, 'unshelve'), {}, `Unshelve of ${id} sent.`);

export const command = (machineId, body) =>
  act(`/api/machines/${encodeURIComponent(machineId)}/commands`, body, `Command ${body.action} sent to machine ${machineId}.`);

// For scripts and tests in the browser's console: the same paths the buttons take.
window.millstreamConsole = { ...(window.millstreamConsole || {}), acknowledge, shelve, unshelve, command };
