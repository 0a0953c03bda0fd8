// Property-based fuzzing of documents, YAML and set checks (test/fuzz/; `npm run fuzz` runs the
// same properties with many more cases).
import { DOCUMENT_PROPERTIES } from '../fuzz/properties/documents.ts';
import { describeProperties } from '../fuzz/suite.ts';

describe('fuzz: documents and YAML (fast-check)', function () {
  this.timeout(60_000);
  describeProperties(DOCUMENT_PROPERTIES);
});
