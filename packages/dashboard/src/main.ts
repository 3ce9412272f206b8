// Switchboard dashboard: the operations view (/api/status), live statistics (/ws/analytics), the error feed and job progress
// (Socket.IO), and an application's logs (/ws/logs), all through @switchboard/client. Bundled
// into public/dashboard.js at build time: the page runs no inline script (the CSP forbids it).
import { AnalyticsPanel } from './analytics-panel.js';
import { $, NAME, field, readName } from './dom.js';
import { ErrorsPanel } from './errors-panel.js';
import { JobsPanel } from './jobs-panel.js';
import { LogsPanel } from './logs-panel.js';
import { OpsPanel } from './ops-panel.js';
import { authProblem, fragment, setToken } from './session.js';

const analytics = new AnalyticsPanel();
const errors = new ErrorsPanel();
const jobs = new JobsPanel();
const logs = new LogsPanel();

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken(field('token').value.trim());
  analytics.restart();
  errors.restart();
  jobs.restart();
  const appId = logs.following;
  if (appId) logs.start(appId);
});

$('job-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const jobId = readName('job-id');
  if (jobId === undefined) return;
  jobs.follow(jobId);
  field('job-id').value = '';
});

$('logs-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const appId = readName('log-app');
  if (appId !== undefined) logs.start(appId);
});

$('logs-stop').addEventListener('click', () => {
  logs.stop();
  authProblem('logs');
});

new OpsPanel().start();
analytics.restart();
errors.restart();
jobs.restart();
const startApp = fragment.get('app');
if (startApp && NAME.test(startApp)) {
  field('log-app').value = startApp;
  logs.start(startApp);
}
const startJob = fragment.get('job');
if (startJob && NAME.test(startJob)) jobs.follow(startJob);
