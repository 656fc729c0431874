/** Enforcement on the node: informers → policy engine → datapath, the L7 proxy, and flow events. */

export { cleanDatapath, ENFORCEMENT_CLEANER, readDatapathRecord } from './cleaner.js';
export {
  type AppliedEvent,
  createEnforcementComponent,
  EnforcementComponent,
  type EnforcementContext,
  type EnforcementOptions,
} from './component.js';
export { l7PolicyFor } from './l7-source.js';
export { type EnforcementSettings, PRODUCTION_SETTINGS, settingsForHome } from './settings.js';
