/**
 * The Function app's entry (package.json `main` → dist/functions/index.js): importing each function file
 * registers it with `app.eventHub`. Nothing else belongs here.
 */
import './warmPath.js';
import './coldPath.js';
import './analyticsForwarder.js';
