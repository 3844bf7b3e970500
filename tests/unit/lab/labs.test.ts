// Every lab in labs/ is valid: schema, files, both languages.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { listLabIds, loadLab } from '../../../runner/lab/load.ts';

describe('the labs in labs/', async () => {
  const ids = await listLabIds();
  for (const id of ids) {
    test(`${id} is valid and bilingual, with hints and a solution`, async () => {
      const lab = await loadLab(id);
      assert.ok(lab.solution, 'a solution script for lab test');
      for (const t of lab.tasks) {
        assert.ok((t.hints ?? []).length >= 1, `task ${t.id} has hints`);
        assert.ok(t.solution, `task ${t.id} has a written solution`);
        assert.ok(t.text, `task ${t.id} says what to do`);
      }
    });
  }
});
