/**
 * Imported first by every devstack entry (`npm start`, `npm run <part>`): keep library notices that do not
 * apply here off the console.
 *
 * The AWS SDK prints a NodeVersionSupportWarning on Node 20 (its releases after January 2027 will need
 * Node 22). The devstack runs on the Node 20 this project supports, with the SDK version pinned in
 * package.json, and the deployed Function app and module image run Node 22, so the notice says nothing a
 * user can act on here (README, "Development"). A value set by the user wins.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
