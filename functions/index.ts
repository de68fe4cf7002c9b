/**
 * The Function app's entry (package.json `main`; bundled to dist/functions/index.js): registers each
 * function with the Functions runtime, and validates the app settings in the appStart hook, so a bad
 * setting is reported once, by name, before any event is taken. Only the Azure Functions worker loads this
 * file; the local host (devstack/functions-host) reads the same registrations without touching `app`, so
 * `@azure/functions` never switches to its "test mode" outside Azure.
 */
import { app } from '@azure/functions';
import { FUNCTIONS, TIMERS } from './catalog.js';
import { workerConfig } from './config.js';

for (const registration of FUNCTIONS) app.eventHub(registration.name, registration.options);
for (const timer of TIMERS) app.timer(timer.name, timer.options);

app.hook.appStart(() => {
  workerConfig();
});
