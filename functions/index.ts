/**
 * The Function app's entry (package.json `main` → dist/functions/index.js): importing each function file
 * registers it with `app.eventHub`; the appStart hook validates the app settings when the worker starts,
 * so a bad setting is reported once, by name, before any event is taken.
 */
import { app } from '@azure/functions';
import { workerConfig } from './config.js';
import './warmPath.js';
import './coldPath.js';
import './analyticsForwarder.js';

app.hook.appStart(() => {
  workerConfig();
});
