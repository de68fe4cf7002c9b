/** The local Functions host: `startFunctionsHost` for `npm start` and tests, `npm run functions` in main.ts. */
export { ALL_FUNCTIONS, CHECKPOINT_CONTAINER, HostSettingError, startFunctionsHost } from './host.js';
export type { FunctionsHost, FunctionsHostOptions, HostCounters } from './host.js';
export { settingsFromConnections, LOCAL_DEFAULT_CHANNEL } from './settings.js';
export { FunctionsConfigError } from '../../functions/config.js';
