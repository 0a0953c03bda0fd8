// Property-based fuzzing of the agent ↔ hub codecs and the NATS subjects (test/fuzz/; `npm run
// fuzz` runs the same properties with many more cases).
import { MESSAGE_PROPERTIES } from '../fuzz/properties/messages.ts';
import { describeProperties } from '../fuzz/suite.ts';

describe('fuzz: agent messages and NATS subjects (fast-check)', function () {
  this.timeout(60_000);
  describeProperties(MESSAGE_PROPERTIES);
});
