/**
 * Event Hubs policy tokens for tests and tools. The implementation (and verification) is the hub's one
 * SAS module, `../sas.ts`; this name stays for the callers that make Event Hubs tokens.
 */
export { createPolicySasToken as createSasToken } from '../sas.js';
